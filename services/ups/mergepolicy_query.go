package ups

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Merge policy lists (D-MP "List multiple merge policies by criteria"):
// filters default, schema.name, identityGraph.type, attributeMerge.type
// and version; orderBy name, +name or -name (name ascending when absent);
// limit (20 when absent) and start, an offset into the ordered list. The
// answer is {"_page": {"totalCount", "pageSize"}, "children": [...],
// "_links": {"next": {"href"}}}, the href "" on the last page.

const (
	defaultPolicyLimit = 20 // D-MP
	maxPolicyLimit     = 1000
)

// policyQuery is a parsed list request.
type policyQuery struct {
	limit, start int
	orderBy      string // as given, for the next link
	desc         bool
	isDefault    *bool
	schema       string // a class name, or "" for any
	noMatch      bool   // schema.name names a class no policy can have
	graph, merge string // "" for any
	version      int    // 0 for any
}

// parsePolicyQuery reads a list's query parameters. Errors are
// *badRequestError naming the parameter.
func parsePolicyQuery(q url.Values) (policyQuery, error) {
	pq := policyQuery{limit: defaultPolicyLimit}
	var err error
	if q.Has("limit") {
		if pq.limit, err = intParam(q, "limit", 1, maxPolicyLimit); err != nil {
			return pq, err
		}
	}
	if q.Has("start") {
		if pq.start, err = intParam(q, "start", 0, 1<<30); err != nil {
			return pq, err
		}
	}
	pq.orderBy = q.Get("orderBy")
	if !q.Has("orderBy") {
		pq.orderBy = q.Get("orderby") // SW-PROF's spelling
	}
	// A literal "+" in a query string decodes to a space.
	switch strings.TrimSpace(pq.orderBy) {
	case "", "name", "+name":
	case "-name":
		pq.desc = true
	default:
		return pq, badRequestf("orderBy %q is not supported: use name, +name or -name", truncate(pq.orderBy, 100))
	}
	if v := q.Get("default"); q.Has("default") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return pq, badRequestf("default %q is invalid: use true or false", truncate(v, 100))
		}
		pq.isDefault = &b
	}
	if v := q.Get("schema.name"); v != "" {
		// Other classes are valid names; they just have no merge policy here.
		s, err := policySchema(v)
		pq.schema, pq.noMatch = s, err != nil
	}
	if v := q.Get("identityGraph.type"); q.Has("identityGraph.type") {
		if err := checkGraph(v); err != nil {
			return pq, err
		}
		pq.graph = v
	}
	if v := q.Get("attributeMerge.type"); q.Has("attributeMerge.type") {
		if err := checkAttributeMerge(v); err != nil {
			return pq, err
		}
		pq.merge = v
	}
	if q.Has("version") {
		if pq.version, err = intParam(q, "version", 1, 1<<30); err != nil {
			return pq, err
		}
	}
	return pq, nil
}

func intParam(q url.Values, name string, lo, hi int) (int, error) {
	v := q.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequestf("%s %q is invalid: it must be an integer from %d to %d", name, truncate(v, 100), lo, hi)
	}
	return n, nil
}

func (pq policyQuery) matches(p MergePolicy) bool {
	return !pq.noMatch &&
		(pq.isDefault == nil || p.Default == *pq.isDefault) &&
		(pq.schema == "" || p.Schema == pq.schema) &&
		(pq.graph == "" || p.IdentityGraph == pq.graph) &&
		(pq.merge == "" || p.AttributeMerge == pq.merge) &&
		(pq.version == 0 || p.Version == pq.version)
}

// policyPage is a list answer.
type policyPage struct {
	Page struct {
		TotalCount int `json:"totalCount"`
		PageSize   int `json:"pageSize"`
	} `json:"_page"`
	Children []policyView `json:"children"`
	Links    struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

// page filters, orders and pages all (in creation order, which breaks
// ties between equal names).
func (pq policyQuery) page(all []MergePolicy) policyPage {
	var matched []MergePolicy
	for _, p := range all {
		if pq.matches(p) {
			matched = append(matched, p)
		}
	}
	slices.SortStableFunc(matched, func(a, b MergePolicy) int {
		if pq.desc {
			return cmp.Compare(b.Name, a.Name)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	var out policyPage
	out.Page.TotalCount = len(matched)
	out.Children = []policyView{}
	if pq.start < len(matched) {
		for _, p := range matched[pq.start:min(len(matched), pq.start+pq.limit)] {
			out.Children = append(out.Children, p.view())
		}
	}
	out.Page.PageSize = len(out.Children)
	if end := pq.start + len(out.Children); end < len(matched) {
		out.Links.Next.Href = "@/mergePolicies?" + pq.next(end)
	}
	return out
}

// next is the query of the page that starts at start: the same filters,
// order and limit.
func (pq policyQuery) next(start int) string {
	q := url.Values{}
	q.Set("start", strconv.Itoa(start))
	q.Set("orderBy", pq.orderBy)
	q.Set("limit", strconv.Itoa(pq.limit))
	if pq.isDefault != nil {
		q.Set("default", strconv.FormatBool(*pq.isDefault))
	}
	if pq.schema != "" {
		q.Set("schema.name", pq.schema)
	}
	if pq.graph != "" {
		q.Set("identityGraph.type", pq.graph)
	}
	if pq.merge != "" {
		q.Set("attributeMerge.type", pq.merge)
	}
	if pq.version != 0 {
		q.Set("version", strconv.Itoa(pq.version))
	}
	return q.Encode()
}
