package ups

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Catalog list queries (Catalog's "filter data" guide): limit and start
// page, orderBy sorts, property filters, properties projects. Filters work
// on the served form of each object, so any property, nested ones with dots
// (schemaRef.id, tags.unifiedProfile, relatedObjects.id), can be used;
// arrays match when any element does.

const (
	defaultListLimit = 20 // Catalog's documented default
	maxListLimit     = 100
	// Query bounds, so that one request cannot cost much: Go regexps run in
	// linear time, but compiling and running one still grows with its size.
	maxRegexLen    = 256
	maxPathLen     = 256
	maxFilters     = 20
	maxOrderKeys   = 5
	maxProperties  = 64
	defaultOrderBy = "asc:created"
)

// listQuery is a parsed list request.
type listQuery struct {
	limit, start int
	order        []orderKey
	filters      []propertyFilter
	properties   []string // nil: every property
}

type orderKey struct {
	path []string
	desc bool
}

// filterOp is a property filter's operator.
type filterOp int

const (
	opExists filterOp = iota
	opNotExists
	opEq
	opNe
	opLt
	opLe
	opGt
	opGe
	opRegex
)

type propertyFilter struct {
	path  []string
	op    filterOp
	value string
	re    *regexp.Regexp
}

// parseListQuery reads the query parameters every Catalog list takes.
// Errors are *badRequestError.
func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{limit: defaultListLimit}
	if v := q.Get("limit"); q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return lq, badRequestf("limit %q is invalid: it must be an integer from 1 to %d", v, maxListLimit)
		}
		lq.limit = n
	}
	if v := q.Get("start"); q.Has("start") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return lq, badRequestf("start %q is invalid: it must be an integer from 0", v)
		}
		lq.start = n
	}
	order := q.Get("orderBy")
	if order == "" {
		order = q.Get("sort") // orderBy's former name
	}
	if order == "" {
		order = defaultOrderBy
	}
	var err error
	if lq.order, err = parseOrderBy(order); err != nil {
		return lq, err
	}
	if len(q["property"]) > maxFilters {
		return lq, badRequestf("at most %d property filters are allowed", maxFilters)
	}
	for _, p := range q["property"] {
		f, err := parsePropertyFilter(p)
		if err != nil {
			return lq, err
		}
		lq.filters = append(lq.filters, f)
	}
	if q.Has("properties") {
		if lq.properties, err = parseProperties(q.Get("properties")); err != nil {
			return lq, err
		}
	}
	if q.Has("tags") {
		fs, err := parseTagsFilter(q.Get("tags"))
		if err != nil {
			return lq, err
		}
		lq.filters = append(lq.filters, fs...)
	}
	return lq, nil
}

// parseOrderBy reads "asc:created,desc:name" (a key without a direction
// is ascending; "+key" and "-key" are accepted too).
func parseOrderBy(s string) ([]orderKey, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxOrderKeys {
		return nil, badRequestf("orderBy %q has more than %d keys", s, maxOrderKeys)
	}
	var keys []orderKey
	for _, p := range parts {
		p = strings.TrimSpace(p)
		var k orderKey
		switch {
		case strings.HasPrefix(p, "asc:"):
			p = p[len("asc:"):]
		case strings.HasPrefix(p, "desc:"):
			p, k.desc = p[len("desc:"):], true
		case strings.HasPrefix(p, "+"):
			p = p[1:]
		case strings.HasPrefix(p, "-"):
			p, k.desc = p[1:], true
		case strings.Contains(p, ":"):
			return nil, badRequestf("orderBy %q is invalid: the direction must be asc or desc, as in desc:created", s)
		}
		path, err := parsePath(p)
		if err != nil {
			return nil, badRequestf("orderBy %q is invalid: %s", s, err)
		}
		k.path = path
		keys = append(keys, k)
	}
	return keys, nil
}

// parsePropertyFilter reads one property parameter: "name" (exists),
// "!name" (does not exist), or name followed by ==, !=, <, <=, >, >= or ~
// (regular expression) and a value.
func parsePropertyFilter(s string) (propertyFilter, error) {
	if rest, ok := strings.CutPrefix(s, "!"); ok && !strings.ContainsAny(rest, "=!<>~") {
		path, err := parsePath(rest)
		if err != nil {
			return propertyFilter{}, badRequestf("property %q is invalid: %s", s, err)
		}
		return propertyFilter{path: path, op: opNotExists}, nil
	}
	i := strings.IndexAny(s, "=!<>~")
	name, rest := s, ""
	if i >= 0 {
		name, rest = s[:i], s[i:]
	}
	path, err := parsePath(name)
	if err != nil {
		return propertyFilter{}, badRequestf("property %q is invalid: %s", s, err)
	}
	f := propertyFilter{path: path, op: opExists}
	if rest == "" {
		return f, nil
	}
	ops := []struct {
		text string
		op   filterOp
	}{{"==", opEq}, {"!=", opNe}, {"<=", opLe}, {">=", opGe}, {"<", opLt}, {">", opGt}, {"~", opRegex}}
	found := false
	for _, o := range ops {
		if v, ok := strings.CutPrefix(rest, o.text); ok {
			f.op, f.value, found = o.op, v, true
			break
		}
	}
	if !found {
		return f, badRequestf("property %q is invalid: the operator must be ==, !=, <, <=, >, >= or ~ (as in name==foo or name~^test)", s)
	}
	if f.op == opRegex {
		if len(f.value) > maxRegexLen {
			return f, badRequestf("property %q is invalid: the regular expression is longer than %d characters", truncate(s, 64), maxRegexLen)
		}
		re, err := regexp.Compile(f.value)
		if err != nil {
			return f, badRequestf("property %q is invalid: %s", truncate(s, 64), err)
		}
		f.re = re
	}
	return f, nil
}

// parseTagsFilter reads "ns:value,ns2:value2" (all must hold). The value
// may itself hold colons ("unifiedProfile:enabled:true"); "ns:*" or "ns"
// asks only that the namespace exist.
func parseTagsFilter(s string) ([]propertyFilter, error) {
	var out []propertyFilter
	parts := strings.Split(s, ",")
	if len(parts) > maxFilters {
		return nil, badRequestf("at most %d tags filters are allowed", maxFilters)
	}
	for _, p := range parts {
		ns, value, hasValue := strings.Cut(strings.TrimSpace(p), ":")
		if ns == "" || len(ns) > maxPathLen {
			return nil, badRequestf("tags %q is invalid: want namespace:value[,namespace:value]", truncate(s, 64))
		}
		f := propertyFilter{path: []string{"tags", ns}, op: opEq, value: value}
		if !hasValue || value == "*" {
			f.op = opExists
		}
		out = append(out, f)
	}
	return out, nil
}

// parseProperties reads the projection list "a,b,c".
func parseProperties(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, badRequestf("properties is empty: list the properties to return, as in properties=name,created")
	}
	if len(out) > maxProperties {
		return nil, badRequestf("properties lists more than %d properties", maxProperties)
	}
	return out, nil
}

func parsePath(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("the property name is empty")
	}
	if len(s) > maxPathLen {
		return nil, fmt.Errorf("the property name is longer than %d characters", maxPathLen)
	}
	path := strings.Split(s, ".")
	if slices.Contains(path, "") {
		return nil, fmt.Errorf("%q is not a property name", s)
	}
	return path, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// apply filters, sorts, pages and projects objs (which it may reorder).
func (lq listQuery) apply(objs []catalogObject) []catalogObject {
	kept := objs[:0]
	for _, o := range objs {
		if lq.matches(o.view) {
			kept = append(kept, o)
		}
	}
	slices.SortFunc(kept, func(a, b catalogObject) int {
		for _, k := range lq.order {
			c := compareValues(first(lookup(a.view, k.path)), first(lookup(b.view, k.path)))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.id, b.id) // a stable order across pages
	})
	if lq.start >= len(kept) {
		return nil
	}
	kept = kept[lq.start:]
	if len(kept) > lq.limit {
		kept = kept[:lq.limit]
	}
	if lq.properties != nil {
		for i := range kept {
			kept[i].view = project(kept[i].view, lq.properties)
		}
	}
	return kept
}

// project returns a new map with only the listed top-level properties;
// view itself is shared with the index and is never modified.
func project(view map[string]any, props []string) map[string]any {
	out := make(map[string]any, len(props))
	for _, p := range props {
		if v, ok := view[p]; ok {
			out[p] = v
		}
	}
	return out
}

func (lq listQuery) matches(view map[string]any) bool {
	for _, f := range lq.filters {
		if !f.matches(lookup(view, f.path)) {
			return false
		}
	}
	return true
}

func (f propertyFilter) matches(values []any) bool {
	switch f.op {
	case opExists:
		return len(values) > 0
	case opNotExists:
		return len(values) == 0
	case opNe:
		// No value equal, which includes a missing property.
		return !slices.ContainsFunc(values, func(v any) bool { return compareTo(v, f.value) == 0 })
	}
	for _, v := range values {
		if f.op == opRegex {
			if s, ok := scalarText(v); ok && f.re.MatchString(s) {
				return true
			}
			continue
		}
		c := compareTo(v, f.value)
		switch {
		case c == incomparable:
		case f.op == opEq && c == 0,
			f.op == opLt && c < 0, f.op == opLe && c <= 0,
			f.op == opGt && c > 0, f.op == opGe && c >= 0:
			return true
		}
	}
	return false
}

// incomparable is compareTo's answer for an object or array, or a number
// compared with a value that is not one.
const incomparable = 2

// compareTo compares a property value with a query value (text): numbers
// numerically, everything else as text.
func compareTo(v any, text string) int {
	switch x := v.(type) {
	case json.Number:
		a, err1 := x.Float64()
		b, err2 := strconv.ParseFloat(text, 64)
		if err1 != nil || err2 != nil {
			return incomparable
		}
		return cmp.Compare(a, b)
	case string:
		return strings.Compare(x, text)
	case bool:
		return strings.Compare(strconv.FormatBool(x), text)
	}
	return incomparable
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// compareValues orders two property values for sorting: missing first,
// then numbers, then text; objects and arrays compare equal.
func compareValues(a, b any) int {
	rank := func(v any) int {
		switch v.(type) {
		case nil:
			return 0
		case json.Number:
			return 1
		case string, bool:
			return 2
		}
		return 3
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch x := a.(type) {
	case json.Number:
		fa, _ := x.Float64()
		fb, _ := b.(json.Number).Float64()
		return cmp.Compare(fa, fb)
	case string, bool:
		sa, _ := scalarText(a)
		sb, _ := scalarText(b)
		return strings.Compare(sa, sb)
	}
	return 0
}

// lookup returns the values at path in a generic JSON value, descending
// into arrays of objects and flattening a final array; nulls are absent.
func lookup(v any, path []string) []any {
	cur := []any{v}
	for _, p := range path {
		var next []any
		for _, c := range cur {
			switch x := c.(type) {
			case map[string]any:
				if y, ok := x[p]; ok {
					next = append(next, y)
				}
			case []any:
				for _, el := range x {
					if m, ok := el.(map[string]any); ok {
						if y, ok := m[p]; ok {
							next = append(next, y)
						}
					}
				}
			}
		}
		cur = next
	}
	var out []any
	for _, c := range cur {
		switch x := c.(type) {
		case nil:
		case []any:
			for _, el := range x {
				if el != nil {
					out = append(out, el)
				}
			}
		default:
			out = append(out, x)
		}
	}
	return out
}

func first(vs []any) any {
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}

// equalsFilter is a name=value query parameter: equality on one property.
func equalsFilter(path []string, value string) propertyFilter {
	return propertyFilter{path: path, op: opEq, value: value}
}

// intFilter is a query parameter compared with an integer property, such
// as createdAfter=<ms>; value must be an integer.
func intFilter(param string, path []string, op filterOp, value string) (propertyFilter, error) {
	if _, err := strconv.ParseInt(value, 10, 64); err != nil {
		return propertyFilter{}, badRequestf("%s %q is invalid: it must be an integer (Unix milliseconds)", param, value)
	}
	return propertyFilter{path: path, op: op, value: value}, nil
}
