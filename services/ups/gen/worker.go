package gen

// worker is the scratch state of one goroutine generating records: the
// random stream, the current profile and its events. Reusing it keeps
// generation free of allocations once the buffers have grown.
type worker struct {
	g      *Generator
	r      rng
	p      profile
	events []event
	items  []line // cart snapshots of checkout, purchase and abandon events
	cart   []line
	sess   []session
	starts []int64
}

func (g *Generator) newWorker() *worker { return &worker{g: g} }
