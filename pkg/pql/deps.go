package pql

import (
	"fmt"
	"slices"
	"strings"
)

// CycleError reports segments that use each other through inSegment.
type CycleError struct {
	Cycle []string // a, b, ..., a
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("pql: segments depend on each other in a cycle: %s", strings.Join(e.Cycle, " -> "))
}

// DependencyOrder orders segment ids so that each comes after every segment
// it uses (deps[id] is Info.Segments of id's query). Used ids that are not
// keys of deps are taken as evaluated already. Independent segments come in
// id order, so the result is deterministic. A cycle is a *CycleError.
func DependencyOrder(deps map[string][]string) ([]string, error) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(deps))
	var order, stack []string
	var visit func(id string) error
	visit = func(id string) error {
		switch state[id] {
		case done:
			return nil
		case visiting:
			i := slices.Index(stack, id)
			cycle := append(slices.Clone(stack[i:]), id)
			return &CycleError{Cycle: cycle}
		}
		state[id] = visiting
		stack = append(stack, id)
		used := slices.Clone(deps[id])
		slices.Sort(used)
		for _, d := range used {
			if _, ok := deps[d]; !ok {
				continue
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		order = append(order, id)
		return nil
	}
	ids := make([]string, 0, len(deps))
	for id := range deps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := visit(id); err != nil {
			return nil, err
		}
	}
	return order, nil
}
