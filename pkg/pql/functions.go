package pql

import "strings"

// funcSpec describes one function of the catalogue.
type funcSpec struct {
	method  bool // called as X.name(args) rather than name(args)
	minArgs int
	maxArgs int
	// elemArgs marks, by bit, the arguments evaluated once per element of
	// the receiver with the element as the implicit parameter.
	elemArgs uint8
}

// functions is the whole catalogue of PQL functions (operators live in the
// grammar). Names are case-sensitive, as in Adobe's documentation.
var functions = map[string]funcSpec{
	// Free functions.
	"if":                {minArgs: 3, maxArgs: 3},
	"date":              {minArgs: 3, maxArgs: 3},
	"inSegment":         {minArgs: 1, maxArgs: 1},
	"currentMonth":      {},
	"currentYear":       {},
	"currentDayOfMonth": {},
	"mapEntry":          {minArgs: 2, maxArgs: 2},

	// Strings. The optional second argument is caseSensitive (default true).
	"startsWith":       {method: true, minArgs: 1, maxArgs: 2},
	"doesNotStartWith": {method: true, minArgs: 1, maxArgs: 2},
	"endsWith":         {method: true, minArgs: 1, maxArgs: 2},
	"doesNotEndWith":   {method: true, minArgs: 1, maxArgs: 2},
	"contains":         {method: true, minArgs: 1, maxArgs: 2},
	"doesNotContain":   {method: true, minArgs: 1, maxArgs: 2},
	"equals":           {method: true, minArgs: 1, maxArgs: 2},
	"notEqualTo":       {method: true, minArgs: 1, maxArgs: 2},
	"matches":          {method: true, minArgs: 1, maxArgs: 1},
	"regexGroup":       {method: true, minArgs: 2, maxArgs: 2},

	// Arrays and sets.
	"intersects":   {method: true, minArgs: 1, maxArgs: 1},
	"intersection": {method: true, minArgs: 1, maxArgs: 1},
	"subsetOf":     {method: true, minArgs: 1, maxArgs: 1},
	"supersetOf":   {method: true, minArgs: 1, maxArgs: 1},
	"includes":     {method: true, minArgs: 1, maxArgs: 1},
	"distinct":     {method: true},
	"head":         {method: true},
	"groupBy":      {method: true, minArgs: 1, maxArgs: 1, elemArgs: 1},
	"filter":       {method: true, minArgs: 1, maxArgs: 1, elemArgs: 1},
	"map":          {method: true, minArgs: 1, maxArgs: 1, elemArgs: 1},
	"exists":       {method: true, minArgs: 0, maxArgs: 1, elemArgs: 1},
	"topN":         {method: true, minArgs: 2, maxArgs: 2, elemArgs: 1},
	"bottomN":      {method: true, minArgs: 2, maxArgs: 2, elemArgs: 1},

	// Aggregates; the optional argument is evaluated per element.
	"count":   {method: true},
	"sum":     {method: true, minArgs: 0, maxArgs: 1, elemArgs: 1},
	"average": {method: true, minArgs: 0, maxArgs: 1, elemArgs: 1},
	"min":     {method: true, minArgs: 0, maxArgs: 1, elemArgs: 1},
	"max":     {method: true, minArgs: 0, maxArgs: 1, elemArgs: 1},

	// Maps.
	"get":    {method: true, minArgs: 1, maxArgs: 1},
	"keys":   {method: true},
	"values": {method: true},

	// Objects.
	"isNull":    {method: true},
	"isNotNull": {method: true},

	// Dates.
	"getMonth":      {method: true},
	"getYear":       {method: true},
	"getDayOfMonth": {method: true},
}

// isElemArg reports whether argument i of the named function is evaluated per
// element of the receiver.
func isElemArg(name string, i int) bool {
	spec, ok := functions[name]
	return ok && i < 8 && spec.elemArgs&(1<<i) != 0
}

// suggest returns the known name closest to name (case-insensitive match
// first, then edit distance of at most 2), or "" when nothing is close.
func suggest(name string, method bool) string {
	best, bestDist := "", 3
	for cand, spec := range functions {
		if spec.method != method {
			continue
		}
		if strings.EqualFold(cand, name) {
			return cand
		}
		if d := editDistance(strings.ToLower(cand), strings.ToLower(name)); d < bestDist || (d == bestDist && cand < best) {
			best, bestDist = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // long names are never suggestions; bound the work
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
