package ups

import (
	"slices"
	"sort"
	"sync"
)

// memberStatus is a segment membership's status, as XDM's
// segmentmembership datatype has it.
type memberStatus uint8

const (
	statusNone memberStatus = iota
	statusRealized
	statusExisting
	statusExited
)

func (s memberStatus) String() string {
	switch s {
	case statusRealized:
		return "realized"
	case statusExisting:
		return "existing"
	case statusExited:
		return "exited"
	}
	return ""
}

// parseMemberStatus reads a status name; ok is false for anything else.
func parseMemberStatus(s string) (memberStatus, bool) {
	switch s {
	case "realized":
		return statusRealized, true
	case "existing":
		return statusExisting, true
	case "exited":
		return statusExited, true
	}
	return statusNone, false
}

// qualified reports whether the status counts as in the segment.
func (s memberStatus) qualified() bool { return s == statusRealized || s == statusExisting }

// segmentMembers is one segment's memberships in a scope, as its last
// successful segment job left them: the identities (the numbers of the
// profiles' shown identities, see scanPerson.Identity) that qualify or
// have exited, ascending. Immutable once published.
type segmentMembers struct {
	ids []uint32
	// status and at are each entry's status and lastQualificationTime
	// (unix microseconds), or both nil when every entry is realized at
	// realizedAt: the usual outcome of a job (no one exits, no exit kept),
	// then held without two more arrays as long as ids.
	status     []memberStatus
	at         []int64
	realizedAt int64
}

// entry is the status and time of the i-th membership.
func (m *segmentMembers) entry(i int) (memberStatus, int64) {
	if m.status == nil {
		return statusRealized, m.realizedAt
	}
	return m.status[i], m.at[i]
}

// get returns the membership of identity id.
func (m *segmentMembers) get(id uint32) (memberStatus, int64) {
	if m == nil {
		return statusNone, 0
	}
	i, ok := slices.BinarySearch(m.ids, id)
	if !ok {
		return statusNone, 0
	}
	return m.entry(i)
}

// memberCursor looks up the memberships of identities asked about in
// ascending order, as a scan of persons mostly does, in one forward pass
// instead of a binary search each: an export asks about every segment
// for every profile.
type memberCursor struct {
	m *segmentMembers
	i int // the first membership not below the last identity asked about
}

// get is segmentMembers.get.
func (c *memberCursor) get(id uint32) (memberStatus, int64) {
	if c.m == nil {
		return statusNone, 0
	}
	ids, i := c.m.ids, c.i
	switch {
	case i > 0 && ids[i-1] >= id: // behind: search what is before
		i, _ = slices.BinarySearch(ids[:i], id)
	default:
		for step := 0; i < len(ids) && ids[i] < id; step++ {
			if step == 4 { // far ahead: search what is after
				j, _ := slices.BinarySearch(ids[i:], id)
				i += j
				break
			}
			i++
		}
	}
	c.i = i
	if i < len(ids) && ids[i] == id {
		return c.m.entry(i)
	}
	return statusNone, 0
}

// len is how many memberships (of any status) there are.
func (m *segmentMembers) len() int {
	if m == nil {
		return 0
	}
	return len(m.ids)
}

// exitedRetention is how long an exited membership is kept (the
// Platform drops those older than 30 days).
const exitedRetention = 30 * 24 * 3600 * 1_000_000 // microseconds

// next computes the memberships after a job that found qualifying (the
// identity numbers of the qualifying profiles, in any order) at now:
// they are realized at now; earlier members that no longer qualify exit
// at now; exits older than the retention are dropped. exits counts the
// new exits.
func (m *segmentMembers) next(qualifying []uint32, now int64) (out *segmentMembers, exits int) {
	q := qualifying
	if !strictlyAscending(q) {
		q = slices.Clone(qualifying)
		slices.Sort(q)
		q = slices.Compact(q)
	}
	kept := m.kept(q, now)
	if kept == 0 {
		// No one exits and no earlier exit is kept: all are realized
		// now, and q (never changed after) is the identities.
		return &segmentMembers{ids: q, realizedAt: now}, 0
	}
	n := len(q) + kept
	out = &segmentMembers{
		ids:    make([]uint32, 0, n),
		status: make([]memberStatus, 0, n),
		at:     make([]int64, 0, n),
	}
	add := func(id uint32, st memberStatus, at int64) {
		out.ids = append(out.ids, id)
		out.status = append(out.status, st)
		out.at = append(out.at, at)
	}
	var old segmentMembers
	if m != nil {
		old = *m
	}
	i, j := 0, 0
	for i < len(old.ids) || j < len(q) {
		switch {
		case j < len(q) && (i == len(old.ids) || q[j] < old.ids[i]):
			add(q[j], statusRealized, now)
			j++
		case j < len(q) && q[j] == old.ids[i]:
			add(q[j], statusRealized, now)
			i++
			j++
		default: // an old membership that does not qualify now
			st, at := old.entry(i)
			if st.qualified() {
				add(old.ids[i], statusExited, now)
				exits++
			} else if now-at < exitedRetention {
				add(old.ids[i], st, at)
			}
			i++
		}
	}
	return out, exits
}

// kept counts the memberships of m that are not in q (ascending) and
// stay at now: members who exit, and exits still within the retention.
func (m *segmentMembers) kept(q []uint32, now int64) int {
	n, j := 0, 0
	for i, id := range m.idList() {
		for j < len(q) && q[j] < id {
			j++
		}
		if j < len(q) && q[j] == id {
			continue
		}
		if st, at := m.entry(i); st.qualified() || now-at < exitedRetention {
			n++
		}
	}
	return n
}

// idList is m's identities (none for nil).
func (m *segmentMembers) idList() []uint32 {
	if m == nil {
		return nil
	}
	return m.ids
}

// memberships is the segment memberships of every scope. Readers take a
// view: a map that is replaced, never changed, when a job publishes.
type memberships struct {
	mu     sync.RWMutex
	scopes map[scopeKey]membershipView
}

// membershipView is one scope's memberships by segment id.
type membershipView map[string]*segmentMembers

func newMemberships() *memberships {
	return &memberships{scopes: map[scopeKey]membershipView{}}
}

// view returns the caller's scope's memberships as they are now.
func (ms *memberships) view(c Caller) membershipView {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	return ms.scopes[scopeKey{c.Org, c.Sandbox}]
}

// publish replaces the memberships of the given segments.
func (ms *memberships) publish(c Caller, segs map[string]*segmentMembers) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	k := scopeKey{c.Org, c.Sandbox}
	old := ms.scopes[k]
	v := make(membershipView, len(old)+len(segs))
	for id, m := range old {
		v[id] = m
	}
	for id, m := range segs {
		v[id] = m
	}
	ms.scopes[k] = v
}

// segmentIDs returns the ids of the segments with memberships, sorted.
func (v membershipView) segmentIDs() []string {
	ids := make([]string, 0, len(v))
	for id := range v {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func strictlyAscending(ids []uint32) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return false
		}
	}
	return true
}
