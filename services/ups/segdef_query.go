package ups

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Segment definition lists (D-SD "Retrieve a list of segment
// definitions"): start (an offset), limit (100 when absent, as in the
// example's page.limit), page, sort=<attr>:<asc|desc>[,...] (creationTime
// descending when absent, as in the example's page), and the filters
// evaluationInfo.{batch,continuous,synchronous}.enabled. The answer is
// {"segments": [...], "page": {"totalCount", "totalPages", "sortField",
// "sort", "pageSize", "limit"}, "link": {}} with link.next, when there is
// a next page, its href ("@/segment/definitions?start=..."; the shape is
// [UNCONF], that of the merge policies' links).
//
// page counts from 1, as AEPP pages (the first page without page, then
// page=2..totalPages); page=0 is the first page too. It moves the offset
// by whole pages: start + (page-1)*limit.

const (
	defaultDefinitionLimit = 100
	maxDefinitionLimit     = 1000
)

// definitionSortKeys are the attributes a list may be sorted by.
var definitionSortKeys = map[string]func(a, b SegmentDefinition) int{
	"id":           func(a, b SegmentDefinition) int { return cmp.Compare(a.ID, b.ID) },
	"name":         func(a, b SegmentDefinition) int { return cmp.Compare(a.Name, b.Name) },
	"description":  func(a, b SegmentDefinition) int { return cmp.Compare(a.Description, b.Description) },
	"creationTime": func(a, b SegmentDefinition) int { return cmp.Compare(a.CreationTime, b.CreationTime) },
	"updateTime":   func(a, b SegmentDefinition) int { return cmp.Compare(a.UpdateTime, b.UpdateTime) },
	"updateEpoch":  func(a, b SegmentDefinition) int { return cmp.Compare(a.UpdateEpoch, b.UpdateEpoch) },
	"ttlInDays":    func(a, b SegmentDefinition) int { return cmp.Compare(a.TTLInDays, b.TTLInDays) },
}

const definitionSortKeysText = "creationTime, updateTime, updateEpoch, name, description, ttlInDays or id"

type sortKey struct {
	attr string
	desc bool
}

// definitionQuery is a parsed list request.
type definitionQuery struct {
	start, limit int
	sort         []sortKey
	sortParam    string // as given, for the next link
	// filters on evaluationInfo.<mode>.enabled; nil for any
	batch, continuous, synchronous *bool
}

// parseDefinitionQuery reads a list's query parameters. Errors are
// *badRequestError naming the parameter.
func parseDefinitionQuery(q url.Values) (definitionQuery, error) {
	dq := definitionQuery{limit: defaultDefinitionLimit}
	var err error
	if q.Has("limit") {
		if dq.limit, err = intParam(q, "limit", 1, maxDefinitionLimit); err != nil {
			return dq, err
		}
	}
	if q.Has("start") {
		if dq.start, err = intParam(q, "start", 0, 1<<30); err != nil {
			return dq, err
		}
	}
	if q.Has("page") {
		page, err := intParam(q, "page", 0, 1<<20)
		if err != nil {
			return dq, err
		}
		dq.start += max(page-1, 0) * dq.limit
	}
	dq.sortParam = q.Get("sort")
	if dq.sort, err = parseSort(dq.sortParam); err != nil {
		return dq, err
	}
	for _, f := range []struct {
		name string
		dst  **bool
	}{
		{"evaluationInfo.batch.enabled", &dq.batch},
		{"evaluationInfo.continuous.enabled", &dq.continuous},
		{"evaluationInfo.synchronous.enabled", &dq.synchronous},
	} {
		if !q.Has(f.name) {
			continue
		}
		v := q.Get(f.name)
		b, err := strconv.ParseBool(v)
		if err != nil {
			return dq, badRequestf("%s %q is invalid: use true or false", f.name, truncate(v, 100))
		}
		*f.dst = &b
	}
	return dq, nil
}

// parseSort reads sort=<attr>:<asc|desc>[,<attr>:<asc|desc>...]. The
// direction is required, as the Platform rejects a malformed sort.
func parseSort(v string) ([]sortKey, error) {
	if strings.TrimSpace(v) == "" {
		return []sortKey{{"creationTime", true}}, nil
	}
	var keys []sortKey
	for _, part := range strings.Split(v, ",") {
		attr, dir, ok := strings.Cut(strings.TrimSpace(part), ":")
		if _, known := definitionSortKeys[attr]; !known {
			return nil, badRequestf("sort %q is invalid: sort by %s, as in sort=updateTime:desc", truncate(v, 100), definitionSortKeysText)
		}
		var desc bool
		switch {
		case ok && strings.EqualFold(dir, "asc"):
		case ok && strings.EqualFold(dir, "desc"):
			desc = true
		default:
			return nil, badRequestf("sort %q is invalid: write <attribute>:asc or <attribute>:desc, as in sort=%s:desc", truncate(v, 100), attr)
		}
		keys = append(keys, sortKey{attr, desc})
	}
	return keys, nil
}

func (dq definitionQuery) matches(d SegmentDefinition) bool {
	return (dq.batch == nil || d.EvaluationInfo.Batch.Enabled == *dq.batch) &&
		(dq.continuous == nil || d.EvaluationInfo.Continuous.Enabled == *dq.continuous) &&
		(dq.synchronous == nil || d.EvaluationInfo.Synchronous.Enabled == *dq.synchronous)
}

// definitionPage is a list answer.
type definitionPage struct {
	Segments []SegmentDefinition `json:"segments"`
	Page     struct {
		TotalCount int    `json:"totalCount"`
		TotalPages int    `json:"totalPages"`
		SortField  string `json:"sortField"`
		Sort       string `json:"sort"`
		PageSize   int    `json:"pageSize"`
		Limit      int    `json:"limit"`
	} `json:"page"`
	Link struct {
		Next string `json:"next,omitempty"`
	} `json:"link"`
}

// page filters, orders and pages all (in creation order, which breaks
// ties).
func (dq definitionQuery) page(all []SegmentDefinition) definitionPage {
	matched := slices.DeleteFunc(all, func(d SegmentDefinition) bool { return !dq.matches(d) })
	slices.SortStableFunc(matched, func(a, b SegmentDefinition) int {
		for _, k := range dq.sort {
			c := definitionSortKeys[k.attr](a, b)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	var out definitionPage
	out.Segments = []SegmentDefinition{}
	if dq.start < len(matched) {
		out.Segments = append(out.Segments, matched[dq.start:min(len(matched), dq.start+dq.limit)]...)
	}
	out.Page.TotalCount = len(matched)
	out.Page.TotalPages = (len(matched) + dq.limit - 1) / dq.limit
	out.Page.SortField = dq.sort[0].attr
	out.Page.Sort = "asc"
	if dq.sort[0].desc {
		out.Page.Sort = "desc"
	}
	out.Page.PageSize = len(out.Segments)
	out.Page.Limit = dq.limit
	if end := dq.start + len(out.Segments); end < len(matched) {
		out.Link.Next = "@/segment/definitions?" + dq.next(end)
	}
	return out
}

// next is the query of the page that starts at start: the same filters,
// order and limit.
func (dq definitionQuery) next(start int) string {
	q := url.Values{}
	q.Set("start", strconv.Itoa(start))
	q.Set("limit", strconv.Itoa(dq.limit))
	if dq.sortParam != "" {
		q.Set("sort", dq.sortParam)
	}
	for name, b := range map[string]*bool{
		"evaluationInfo.batch.enabled":       dq.batch,
		"evaluationInfo.continuous.enabled":  dq.continuous,
		"evaluationInfo.synchronous.enabled": dq.synchronous,
	} {
		if b != nil {
			q.Set(name, strconv.FormatBool(*b))
		}
	}
	return q.Encode()
}
