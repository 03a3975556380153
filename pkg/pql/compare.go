package pql

import (
	"cmp"
	"math"
	"strings"
)

// Comparison and arithmetic on Values. The rules (see doc.go):
//   - null compares false with everything, with every operator, != included;
//   - integers and doubles compare by value;
//   - a timestamp compares with a timestamp, an ISO 8601 string or a number
//     of epoch milliseconds;
//   - other mixed kinds are not comparable: false;
//   - an array on one side is existential (some element satisfies the
//     comparison); arrays on both sides compare as sets for = and !=.

// order compares two scalars. ok is false when they are not comparable.
func order(a, b Value) (int, bool) {
	switch {
	case a.kind == KindInt && b.kind == KindInt:
		return cmp.Compare(int64(a.num), int64(b.num)), true
	case a.kind == KindInt && b.kind == KindDouble:
		return cmpIntFloat(int64(a.num), b.Float())
	case a.kind == KindDouble && b.kind == KindInt:
		c, ok := cmpIntFloat(int64(b.num), a.Float())
		return -c, ok
	case a.kind == KindDouble && b.kind == KindDouble:
		x, y := a.Float(), b.Float()
		if math.IsNaN(x) || math.IsNaN(y) {
			return 0, false
		}
		return cmp.Compare(x, y), true
	case a.kind == KindString && b.kind == KindString:
		return strings.Compare(a.str, b.str), true
	case a.kind == KindTime || b.kind == KindTime:
		x, okx := asMicros(a)
		y, oky := asMicros(b)
		if !okx || !oky {
			return 0, false
		}
		return cmp.Compare(x, y), true
	case a.kind == KindBool && b.kind == KindBool:
		return cmp.Compare(a.num, b.num), true
	case a.kind == b.kind && (a.kind == KindObject || a.kind == KindMap):
		if Equal(a, b) {
			return 0, true
		}
		return 1, true // only = and != are meaningful
	}
	return 0, false
}

// cmpIntFloat compares an integer with a double exactly (converting the
// integer to float64 would make 2^53+1 equal 2^53).
func cmpIntFloat(i int64, d float64) (int, bool) {
	switch {
	case math.IsNaN(d):
		return 0, false
	case d >= 1<<63:
		return -1, true
	case d < -(1 << 63):
		return 1, true
	}
	t := math.Trunc(d)
	if c := cmp.Compare(i, int64(t)); c != 0 {
		return c, true
	}
	return cmp.Compare(0, d-t), true // same integer part: the fraction decides
}

// asMicros reads a value as a timestamp: a timestamp, an ISO 8601 string, or
// epoch milliseconds.
func asMicros(v Value) (int64, bool) {
	switch v.kind {
	case KindTime:
		return int64(v.num), true
	case KindString:
		return parseTime(v.str)
	case KindInt:
		return satMul(int64(v.num), 1000), true
	case KindDouble:
		f := v.Float() * 1000
		if math.IsNaN(f) || math.Abs(f) > 9e18 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOpByName = map[string]cmpOp{"=": opEq, "!=": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

func (op cmpOp) holds(c int) bool {
	switch op {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	default:
		return c >= 0
	}
}

// compareScalar applies op to two non-array values.
func compareScalar(op cmpOp, a, b Value) bool {
	c, ok := order(a, b)
	return ok && op.holds(c)
}

// compare applies op with the array rules.
func compare(f *frame, op cmpOp, a, b Value) bool {
	switch {
	case a.kind == KindArray && b.kind == KindArray:
		if op == opEq || op == opNe {
			return sameSet(f, a.list, b.list) == (op == opEq)
		}
		for _, x := range a.list {
			if !f.spend(len(b.list)) {
				return false
			}
			for _, y := range b.list {
				if compareScalar(op, x, y) {
					return true
				}
			}
		}
		return false
	case a.kind == KindArray:
		if !f.spend(len(a.list)) {
			return false
		}
		for _, x := range a.list {
			if compareScalar(op, x, b) {
				return true
			}
		}
		return false
	case b.kind == KindArray:
		if !f.spend(len(b.list)) {
			return false
		}
		for _, y := range b.list {
			if compareScalar(op, a, y) {
				return true
			}
		}
		return false
	}
	return compareScalar(op, a, b)
}

// listHas reports whether list holds a value equal to v.
func listHas(f *frame, list []Value, v Value) bool {
	if !f.spend(len(list)) {
		return false
	}
	for _, x := range list {
		if equalScalar(x, v) {
			return true
		}
	}
	return false
}

// equalScalar is = on two values without the array rules.
func equalScalar(a, b Value) bool {
	c, ok := order(a, b)
	return ok && c == 0
}

// sameSet reports whether a and b hold the same distinct values.
func sameSet(f *frame, a, b []Value) bool {
	for _, x := range a {
		if !listHas(f, b, x) {
			return false
		}
	}
	for _, y := range b {
		if !listHas(f, a, y) {
			return false
		}
	}
	return true
}

// arith applies + - * / % to two values; null (or any non-number, except
// string + string) gives null. Integer overflow and / give doubles; division
// by zero gives null.
func arith(op string, a, b Value) Value {
	if op == "+" && a.kind == KindString && b.kind == KindString {
		return String(a.str + b.str)
	}
	if !a.isNumber() || !b.isNumber() {
		return Value{}
	}
	if a.kind == KindInt && b.kind == KindInt {
		x, y := int64(a.num), int64(b.num)
		switch op {
		case "+":
			if s, ok := addInt(x, y); ok {
				return Int(s)
			}
		case "-":
			if s := x - y; (s < x) == (y > 0) {
				return Int(s)
			}
		case "*":
			if p, ok := mulInt(x, y); ok {
				return Int(p)
			}
		case "%":
			if y == 0 {
				return Value{}
			}
			if y == -1 {
				return Int(0)
			}
			return Int(x % y)
		}
	}
	x, y := a.Float(), b.Float()
	var r float64
	switch op {
	case "+":
		r = x + y
	case "-":
		r = x - y
	case "*":
		r = x * y
	case "/":
		if y == 0 {
			return Value{}
		}
		r = x / y
	case "%":
		if y == 0 {
			return Value{}
		}
		r = math.Mod(x, y)
	}
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return Value{}
	}
	return Double(r)
}

// mulInt multiplies, reporting overflow.
func mulInt(x, y int64) (int64, bool) {
	if x == 0 || y == 0 {
		return 0, true
	}
	p := x * y
	if p/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) {
		return 0, false
	}
	return p, true
}

// addInt adds, reporting overflow.
func addInt(x, y int64) (int64, bool) {
	s := x + y
	return s, (s > x) == (y > 0)
}

// satMul multiplies, saturating at the int64 range.
func satMul(a, b int64) int64 {
	if p, ok := mulInt(a, b); ok {
		return p
	}
	if (a < 0) != (b < 0) {
		return math.MinInt64
	}
	return math.MaxInt64
}
