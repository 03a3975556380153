package gen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Version identifies the generator's output: it changes whenever the same
// Config would produce different bytes. It is written to manifest.json.
const Version = 1

// Defaults applied by New to zero fields of Config.
const (
	DefaultEventsPerProfile = 20
	DefaultRecordsPerFile   = 250_000
)

// MaxEventsPerProfile bounds Config.EventsPerProfile: a profile's events
// are built in memory before they are written.
const MaxEventsPerProfile = 10_000

// Config describes a data set.
type Config struct {
	// Profiles is the number of profiles.
	Profiles int
	// EventsPerProfile is the mean number of ExperienceEvents a profile;
	// 0 means DefaultEventsPerProfile. Counts vary around it a lot: some
	// profiles have none, heavy users several times the mean.
	EventsPerProfile float64
	// Seed picks the data set.
	Seed int64
	// Now is the end of the data: events fall in the year before it and
	// ages are counted at it. It is required, not defaulted to the clock,
	// so that a Config alone determines the output.
	Now time.Time
	// RecordsPerFile caps the records of one file written by WriteDataset;
	// 0 means DefaultRecordsPerFile. Files are also kept under
	// MaxFileBytes, the batch-ingestion upload limit.
	RecordsPerFile int
	// Progress, if set, is called by WriteDataset after each block of
	// profiles is written, from one goroutine. It does not affect output.
	Progress func(Progress)
}

// Progress is how far WriteDataset has come.
type Progress struct {
	Profiles, Events int64 // written so far
	TotalProfiles    int64
}

// Generator produces the records of one Config. It is immutable and safe
// for concurrent use.
type Generator struct {
	cfg  Config
	now  time.Time // cfg.Now in UTC
	keys runKeys
}

// New validates cfg, applies the defaults and returns its Generator.
func New(cfg Config) (*Generator, error) {
	switch {
	case cfg.Profiles < 0:
		return nil, fmt.Errorf("gen: Profiles is %d, want >= 0", cfg.Profiles)
	case math.IsNaN(cfg.EventsPerProfile) || cfg.EventsPerProfile < 0 || cfg.EventsPerProfile > MaxEventsPerProfile:
		return nil, fmt.Errorf("gen: EventsPerProfile is %v, want 0 to %d", cfg.EventsPerProfile, MaxEventsPerProfile)
	case cfg.Now.IsZero():
		return nil, errors.New("gen: Now is required (the output depends on it)")
	case cfg.RecordsPerFile < 0:
		return nil, fmt.Errorf("gen: RecordsPerFile is %d, want >= 0", cfg.RecordsPerFile)
	}
	if cfg.EventsPerProfile == 0 {
		cfg.EventsPerProfile = DefaultEventsPerProfile
	}
	if cfg.RecordsPerFile == 0 {
		cfg.RecordsPerFile = DefaultRecordsPerFile
	}
	// Millisecond precision: that is what the timestamps carry, and a
	// sub-millisecond Now must not make two "equal" configs differ.
	cfg.Now = cfg.Now.UTC().Truncate(time.Millisecond)
	return &Generator{cfg: cfg, now: cfg.Now, keys: newRunKeys(cfg.Seed)}, nil
}

// Config returns the configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// AppendProfile appends profile i's record and a newline to dst.
func (g *Generator) AppendProfile(dst []byte, i int) []byte {
	w := g.newWorker()
	w.makeProfile(i)
	return w.appendProfile(dst)
}

// AppendEvents appends profile i's events, one a line in timestamp order,
// to dst and returns how many there were.
func (g *Generator) AppendEvents(dst []byte, i int) ([]byte, int) {
	w := g.newWorker()
	w.makeProfile(i)
	return w.appendEvents(dst)
}

// Profiles writes the profiles of cfg to out, one a line.
func Profiles(cfg Config, out io.Writer) error {
	return stream(cfg, out, func(w *worker, dst []byte) []byte { return w.appendProfile(dst) })
}

// Events writes the ExperienceEvents of cfg to out, one a line, profile by
// profile, each profile's in timestamp order.
func Events(cfg Config, out io.Writer) error {
	return stream(cfg, out, func(w *worker, dst []byte) []byte {
		dst, _ = w.appendEvents(dst)
		return dst
	})
}

// stream writes each profile's records through one reused buffer, so
// memory stays flat whatever the size of the data set.
func stream(cfg Config, out io.Writer, appendRecords func(*worker, []byte) []byte) error {
	g, err := New(cfg)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	w := g.newWorker()
	var buf []byte
	for i := range g.cfg.Profiles {
		w.makeProfile(i)
		buf = appendRecords(w, buf[:0])
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
