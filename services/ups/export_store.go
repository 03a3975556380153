package ups

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Export job persistence, the Catalog's way (catalog_store.go): every job
// is one JSON file,
//
//	<dir>/<org key>/<sandbox>/<id>.json
//
// written with writeFileAtomic at every change, and everything is loaded
// into memory at start. Ids are numbers, increasing across the server
// (every org and sandbox): the next one is one more than the largest on
// disk.

// exportRecord is a job file: the job as served plus what only the
// server needs.
type exportRecord struct {
	Job      ExportJob `json:"job"`
	Org      string    `json:"org"`
	Sandbox  string    `json:"sandboxName"`
	ClientID string    `json:"clientId"` // who created it: batches are updated in its name
	// Cancel: DELETE asked for the job to stop; a restart fails it rather
	// than running it again.
	Cancel bool `json:"cancel,omitempty"`
	// Attempts counts the runs started: a job interrupted by restarts
	// again and again fails rather than running forever.
	Attempts int `json:"attempts,omitempty"`
}

func (r *exportRecord) caller() Caller {
	return Caller{ClientID: r.ClientID, Org: r.Org, Sandbox: r.Sandbox}
}

// exportStore holds the export jobs of every org and sandbox.
type exportStore struct {
	objectFiles
	lastID int64 // under writeMu

	mu   sync.RWMutex
	jobs map[int64]*exportRecord // immutable once indexed: changes replace them
}

func validExportID(s string) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n > 0 && strconv.FormatInt(n, 10) == s
}

// openExportStore loads the jobs in dir, creating dir if needed.
func openExportStore(dir string, now func() time.Time) (*exportStore, error) {
	s := &exportStore{objectFiles: objectFiles{dir: dir, now: now, dirs: dirTree{root: dir}}, jobs: map[int64]*exportRecord{}}
	err := s.open("export job", "export jobs", func(k policyScope, path string) error {
		return loadObjects(path, validExportID, func(path, id string, data []byte) error {
			var r exportRecord
			if err := json.Unmarshal(data, &r); err != nil {
				return err
			}
			if err := checkPlacement(strconv.FormatInt(r.Job.ID, 10), r.Org, r.Sandbox, id, k.orgKey, k.sandbox); err != nil {
				return err
			}
			s.jobs[r.Job.ID] = &r
			s.lastID = max(s.lastID, r.Job.ID)
			s.lastStamp = max(s.lastStamp, r.Job.CreationTime, r.Job.UpdateTime)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// create stores a new job: prepare fills it in given its id and creation
// time (it may fail, and then nothing is stored).
func (s *exportStore) create(r exportRecord, prepare func(r *exportRecord) error) (exportRecord, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.stamp()
	r.Job.ID = s.lastID + 1
	r.Job.CreationTime, r.Job.UpdateTime = now, now
	if err := prepare(&r); err != nil {
		return exportRecord{}, err
	}
	if err := s.write(&r); err != nil {
		return exportRecord{}, err
	}
	s.lastID = r.Job.ID
	s.index(r)
	return cloneExportRecord(r), nil
}

// update changes job id (of any scope) with change, which returns false
// to leave it as it is; the change is on disk when update returns.
func (s *exportStore) update(id int64, change func(r *exportRecord) bool) (exportRecord, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	old := s.jobs[id]
	s.mu.RUnlock()
	if old == nil {
		return exportRecord{}, errExportJobNotFound
	}
	r := cloneExportRecord(*old)
	if !change(&r) {
		return r, nil
	}
	r.Job.UpdateTime = s.stamp()
	if err := s.write(&r); err != nil {
		return exportRecord{}, err
	}
	s.index(r)
	return cloneExportRecord(r), nil
}

func (s *exportStore) index(r exportRecord) {
	c := cloneExportRecord(r)
	s.mu.Lock()
	s.jobs[r.Job.ID] = &c
	s.mu.Unlock()
}

// write persists one job. Callers hold writeMu.
func (s *exportStore) write(r *exportRecord) error {
	return s.writeObject("export job", strconv.FormatInt(r.Job.ID, 10), r.Org, r.Sandbox, r)
}

// get returns the caller's job id, or errExportJobNotFound.
func (s *exportStore) get(c Caller, id int64) (exportRecord, error) {
	s.mu.RLock()
	r := s.jobs[id]
	s.mu.RUnlock()
	if r == nil || !inScope(r.Org, r.Sandbox, c) {
		return exportRecord{}, errExportJobNotFound
	}
	return cloneExportRecord(*r), nil
}

// list returns the caller's jobs, newest first (creation time, then id).
func (s *exportStore) list(c Caller) []ExportJob {
	s.mu.RLock()
	var out []ExportJob
	for _, r := range s.jobs {
		if inScope(r.Org, r.Sandbox, c) {
			out = append(out, cloneExportRecord(*r).Job)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b ExportJob) int {
		return cmp.Or(cmp.Compare(b.CreationTime, a.CreationTime), cmp.Compare(b.ID, a.ID))
	})
	return out
}

// unfinished returns the jobs of every scope that are NEW or PROCESSING,
// in id (creation) order.
func (s *exportStore) unfinished() []exportRecord {
	s.mu.RLock()
	var out []exportRecord
	for _, r := range s.jobs {
		if !exportFinal(r.Job.Status) {
			out = append(out, cloneExportRecord(*r))
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b exportRecord) int { return cmp.Compare(a.Job.ID, b.Job.ID) })
	return out
}

// cloneExportRecord deep-copies the parts of a record that are changed
// in place (metrics, errors, destination batches).
func cloneExportRecord(r exportRecord) exportRecord {
	j := &r.Job
	j.Destination.Batches = slices.Clone(j.Destination.Batches)
	j.Errors = slices.Clone(j.Errors)
	if j.Filter != nil {
		f := *j.Filter
		f.Segments = slices.Clone(f.Segments)
		j.Filter = &f
	}
	if j.AdditionalFields != nil {
		a := *j.AdditionalFields
		if a.EventList != nil {
			el := *a.EventList
			a.EventList = &el
		}
		j.AdditionalFields = &a
	}
	m := &j.Metrics
	for _, t := range []**exportTiming{&m.TotalTime, &m.ProfileExportTime, &m.ACPDatasetWriteTime} {
		if *t != nil {
			c := **t
			*t = &c
		}
	}
	if m.ExportedProfileByNamespaceCounter != nil {
		c := make(map[string]int64, len(m.ExportedProfileByNamespaceCounter))
		for k, v := range m.ExportedProfileByNamespaceCounter {
			c[k] = v
		}
		m.ExportedProfileByNamespaceCounter = c
	}
	return r
}
