package ups

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// segmentJobStore keeps segment jobs the way the Catalog keeps its
// objects: one JSON file per job,
//
//	<dir>/<org key>/<sandbox>/<id>.json
//
// written atomically at every change of status, all loaded at start.
type segmentJobStore struct {
	objectFiles

	mu      sync.RWMutex
	jobs    map[policyScope]map[string]*SegmentJob
	compute int64 // the last computeJobId given
}

func openSegmentJobStore(dir string, now func() time.Time) (*segmentJobStore, error) {
	s := &segmentJobStore{objectFiles: objectFiles{dir: dir, now: now, dirs: dirTree{root: dir}}, jobs: map[policyScope]map[string]*SegmentJob{}}
	err := s.open("segment job", "segment jobs", func(k policyScope, path string) error {
		return loadObjects(path, validPolicyID, func(path, id string, data []byte) error {
			var j SegmentJob
			if err := json.Unmarshal(data, &j); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if j.ID != id || scopeOf(j.caller()) != k {
				return fmt.Errorf("%s: the job does not belong here (id %q, org/sandbox of another directory)", path, j.ID)
			}
			s.index(&j)
			s.compute = max(s.compute, j.ComputeJobID)
			s.lastStamp = max(s.lastStamp, j.UpdateTime)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (j *SegmentJob) caller() Caller {
	return Caller{Org: j.ImsOrgID, Sandbox: j.Sandbox.SandboxName}
}

func (s *segmentJobStore) index(j *SegmentJob) {
	k := scopeOf(j.caller())
	m := s.jobs[k]
	if m == nil {
		m = map[string]*SegmentJob{}
		s.jobs[k] = m
	}
	m[j.ID] = j
}

// create stamps a new job (id, times, compute id) and stores it.
func (s *segmentJobStore) create(j SegmentJob) (SegmentJob, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	s.compute++
	j.ComputeJobID = s.compute
	s.mu.Unlock()
	j.ID = newPolicyID()
	j.ComputeGatewayJobID = newPolicyID()
	j.BatchID = newPolicyID()
	j.CreationTime = s.stamp()
	j.UpdateTime, j.UpdateEpoch = j.CreationTime, j.CreationTime/1000
	j.Links = segmentJobLinks{
		Cancel:      linkView{Href: "/segment/jobs/" + j.ID, Method: "DELETE"},
		CheckStatus: linkView{Href: "/segment/jobs/" + j.ID, Method: "GET"},
	}
	if err := s.write(&j); err != nil {
		return SegmentJob{}, err
	}
	return j, nil
}

// update changes a job with change and stores it, unless change reports
// false (no change). It returns the job as it is after.
func (s *segmentJobStore) update(c Caller, id string, change func(*SegmentJob) bool) (SegmentJob, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur, err := s.get(c, id)
	if err != nil {
		return SegmentJob{}, err
	}
	j := cloneJob(cur)
	if !change(&j) {
		return cur, nil
	}
	j.UpdateTime = s.stamp()
	j.UpdateEpoch = j.UpdateTime / 1000
	if err := s.write(&j); err != nil {
		return SegmentJob{}, err
	}
	return j, nil
}

// write persists j and indexes it. Callers hold writeMu.
func (s *segmentJobStore) write(j *SegmentJob) error {
	if err := s.writeObject("segment job", j.ID, j.ImsOrgID, j.Sandbox.SandboxName, j); err != nil {
		return err
	}
	s.mu.Lock()
	s.index(j)
	s.mu.Unlock()
	return nil
}

// get returns a copy of the caller's job id.
func (s *segmentJobStore) get(c Caller, id string) (SegmentJob, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, ok := s.jobs[scopeOf(c)][id]
	if !ok {
		return SegmentJob{}, errSegmentJobNotFound
	}
	return cloneJob(*j), nil
}

// list returns the caller's jobs, newest first.
func (s *segmentJobStore) list(c Caller) []SegmentJob {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.jobs[scopeOf(c)]
	out := make([]SegmentJob, 0, len(m))
	for _, j := range m {
		out = append(out, cloneJob(*j))
	}
	slices.SortFunc(out, func(a, b SegmentJob) int {
		return cmp.Or(cmp.Compare(b.CreationTime, a.CreationTime), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// unfinished returns every job that is not done, oldest first: at start,
// they are run again.
func (s *segmentJobStore) unfinished() []SegmentJob {
	s.mu.RLock()
	var out []SegmentJob
	for _, m := range s.jobs {
		for _, j := range m {
			if !finished(j.Status) {
				out = append(out, cloneJob(*j))
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b SegmentJob) int {
		return cmp.Or(cmp.Compare(a.CreationTime, b.CreationTime), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// cloneJob deep-copies the parts of a job that updates change.
func cloneJob(j SegmentJob) SegmentJob {
	j.Segments = slices.Clone(j.Segments)
	j.Errors = slices.Clone(j.Errors)
	m := &j.Metrics
	if m.TotalTime != nil {
		t := *m.TotalTime
		m.TotalTime = &t
	}
	if m.ProfileSegmentationTime != nil {
		t := *m.ProfileSegmentationTime
		m.ProfileSegmentationTime = &t
	}
	// The maps are replaced whole, never changed in place.
	return j
}
