package gen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// MaxFileBytes keeps every data file under batch ingestion's 256 MB limit
// for a single-request upload.
const MaxFileBytes = 250_000_000

// XDM classes of the two kinds of file, as the manifest names them.
const (
	ProfileClass = "_xdm.context.profile"
	EventClass   = "_xdm.context.experienceevent"
)

// A worker generates a block of profiles at a time: big enough to
// amortise the hand-off, small enough to bound memory. Blocks hold about
// blockEvents events (some 4 MB), and at most maxBlockProfiles profiles.
const (
	blockEvents      = 8192
	maxBlockProfiles = 256
)

// Summary describes a written data set; WriteDataset also writes it to
// manifest.json.
type Summary struct {
	Generator        string    `json:"generator"`
	Version          int       `json:"version"`
	Seed             int64     `json:"seed"`
	Now              time.Time `json:"now"`
	EventsPerProfile float64   `json:"eventsPerProfile"`
	Profiles         int64     `json:"profiles"`
	Events           int64     `json:"events"`
	Files            []File    `json:"files"`
}

// File is one data file of a data set: one batch-ingestion upload.
type File struct {
	Name    string `json:"name"`  // relative to the data set's directory
	Class   string `json:"class"` // ProfileClass or EventClass
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
}

// WriteDataset writes the data set of cfg to dir: profiles.json and
// events.json, or profiles-00001.json, … when one file would exceed
// Config.RecordsPerFile records or MaxFileBytes, and manifest.json last,
// so a manifest means a complete data set. A previous data set in dir is
// replaced.
//
// Blocks of profiles are generated on all CPUs and written in order; the
// files are the same bytes as Profiles and Events write.
func WriteDataset(ctx context.Context, cfg Config, dir string) (Summary, error) {
	g, err := New(cfg)
	if err != nil {
		return Summary{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, err
	}
	if err := removeDataset(dir); err != nil {
		return Summary{}, err
	}
	profiles := newSplitter(dir, "profiles", ProfileClass, g.cfg.RecordsPerFile)
	events := newSplitter(dir, "events", EventClass, g.cfg.RecordsPerFile)
	err = g.generate(ctx, func(b *block) error {
		if err := profiles.write(b.profiles, b.nprofiles); err != nil {
			return err
		}
		if err := events.write(b.events, b.nevents); err != nil {
			return err
		}
		if g.cfg.Progress != nil {
			g.cfg.Progress(Progress{Profiles: profiles.records, Events: events.records, TotalProfiles: int64(g.cfg.Profiles)})
		}
		return nil
	})
	err = errors.Join(err, profiles.close(), events.close())
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{
		Generator:        "segflow gen",
		Version:          Version,
		Seed:             g.cfg.Seed,
		Now:              g.now,
		EventsPerProfile: g.cfg.EventsPerProfile,
		Profiles:         profiles.records,
		Events:           events.records,
		Files:            append(profiles.files, events.files...),
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return Summary{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// removeDataset deletes the files a previous WriteDataset left in dir, so
// a smaller data set does not leave stale chunks behind. It touches only
// names WriteDataset writes.
func removeDataset(dir string) error {
	var names []string
	for _, pattern := range []string{"manifest.json", "profiles.json", "events.json", "profiles-[0-9]*.json", "events-[0-9]*.json"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		names = append(names, m...)
	}
	for _, n := range names {
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// block is the output of profiles [lo, hi).
type block struct {
	lo, hi             int
	profiles, events   []byte
	nprofiles, nevents int
	done               chan struct{}
}

// generate makes blocks on GOMAXPROCS workers and hands them to write in
// profile order. At most a few blocks per worker are in flight, so memory
// does not grow with the data set.
func (g *Generator) generate(ctx context.Context, write func(*block) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *block)
	ordered := make(chan *block, 2*workers)
	pool := sync.Pool{New: func() any { return new(block) }}
	size := int(min(maxBlockProfiles, max(1, blockEvents/g.cfg.EventsPerProfile)))

	var wg sync.WaitGroup
	wg.Go(func() { // dispatcher
		defer close(jobs)
		defer close(ordered)
		for lo := 0; lo < g.cfg.Profiles; lo += size {
			b := pool.Get().(*block)
			b.lo, b.hi, b.done = lo, min(lo+size, g.cfg.Profiles), make(chan struct{})
			select {
			case ordered <- b:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- b:
			case <-ctx.Done():
				return
			}
		}
	})
	for range workers {
		wg.Go(func() {
			w := g.newWorker()
			for b := range jobs {
				b.profiles, b.events = b.profiles[:0], b.events[:0]
				b.nprofiles, b.nevents = 0, 0
				for i := b.lo; i < b.hi; i++ {
					w.makeProfile(i)
					b.profiles = w.appendProfile(b.profiles)
					var n int
					b.events, n = w.appendEvents(b.events)
					b.nprofiles++
					b.nevents += n
				}
				close(b.done)
			}
		})
	}

	var err error
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
		}
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = write(b)
		}
		if err != nil {
			cancel() // stop the dispatcher; keep draining so it can exit
			continue
		}
		pool.Put(b)
	}
	wg.Wait()
	return err
}

// splitter writes lines of one kind into numbered files of at most
// maxRecords lines and maxBytes bytes.
type splitter struct {
	dir, base, class string
	maxRecords       int64
	maxBytes         int64
	files            []File
	f                *os.File
	bw               *bufio.Writer
	records          int64 // total written
	err              error
}

func newSplitter(dir, base, class string, maxRecords int) *splitter {
	return &splitter{dir: dir, base: base, class: class, maxRecords: int64(maxRecords), maxBytes: MaxFileBytes}
}

// write writes p, which holds n complete lines.
func (s *splitter) write(p []byte, n int) error {
	for s.err == nil && n > 0 {
		if s.f == nil {
			s.open()
			continue
		}
		cur := &s.files[len(s.files)-1]
		if int64(n) <= s.maxRecords-cur.Records && cur.Bytes+int64(len(p)) <= s.maxBytes {
			s.put(p, n)
			return s.err
		}
		// Take the lines that fit, then start the next file. A file
		// always takes one line, however long.
		cut, k := 0, 0
		for int64(k) < s.maxRecords-cur.Records && k < n {
			end := cut + bytes.IndexByte(p[cut:], '\n') + 1
			if cur.Bytes+int64(end) > s.maxBytes && cur.Records+int64(k) > 0 {
				break
			}
			cut, k = end, k+1
		}
		s.put(p[:cut], k)
		p, n = p[cut:], n-k
		s.closeFile()
	}
	return s.err
}

func (s *splitter) put(p []byte, n int) {
	if _, err := s.bw.Write(p); err != nil {
		s.err = err
		return
	}
	cur := &s.files[len(s.files)-1]
	cur.Records += int64(n)
	cur.Bytes += int64(len(p))
	s.records += int64(n)
}

func (s *splitter) open() {
	name := fmt.Sprintf("%s-%05d.json", s.base, len(s.files)+1)
	f, err := os.Create(filepath.Join(s.dir, name))
	if err != nil {
		s.err = err
		return
	}
	s.f, s.bw = f, bufio.NewWriterSize(f, 1<<20)
	s.files = append(s.files, File{Name: name, Class: s.class})
}

func (s *splitter) closeFile() {
	if s.f == nil {
		return
	}
	err := s.bw.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if s.err == nil {
		s.err = err
	}
	s.f, s.bw = nil, nil
}

// close finishes the last file. A kind that fits one file gets the plain
// name (profiles.json); a kind with no records gets an empty file, so a
// data set always has both.
func (s *splitter) close() error {
	s.closeFile()
	if s.err != nil {
		return s.err
	}
	switch len(s.files) {
	case 0:
		s.open()
		s.closeFile()
		fallthrough
	case 1:
		if s.err != nil {
			return s.err
		}
		name := s.base + ".json"
		if err := os.Rename(filepath.Join(s.dir, s.files[0].Name), filepath.Join(s.dir, name)); err != nil {
			return err
		}
		s.files[0].Name = name
	}
	return nil
}
