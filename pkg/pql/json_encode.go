package pql

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

type jsonEncoder struct {
	b     []byte
	scope int // element scopes entered; 0 is the top level
}

func (e *jsonEncoder) raw(s string) { e.b = append(e.b, s...) }

// open starts a node object: {"nodeType":"t".
func (e *jsonEncoder) open(nodeType string) {
	e.raw(`{"nodeType":"`)
	e.raw(nodeType)
	e.raw(`"`)
}

// key writes ,"k": (every member follows nodeType or another member).
func (e *jsonEncoder) key(k string) {
	e.raw(`,"`)
	e.raw(k)
	e.raw(`":`)
}

func (e *jsonEncoder) str(s string) { e.b = jAppendString(e.b, s) }

func (e *jsonEncoder) int(n int64) { e.b = strconv.AppendInt(e.b, n, 10) }

// child encodes a child node, in an element scope when elem is set.
func (e *jsonEncoder) child(k string, n Node, depth int, elem bool) error {
	if k != "" {
		e.key(k)
	}
	if elem {
		e.scope++
		defer func() { e.scope-- }()
	}
	return e.node(n, depth+1)
}

func (e *jsonEncoder) list(k string, ns []Node, depth int, elem func(i int) bool) error {
	e.key(k)
	e.raw("[")
	for i, n := range ns {
		if i > 0 {
			e.raw(",")
		}
		if err := e.child("", n, depth, elem != nil && elem(i)); err != nil {
			return err
		}
	}
	e.raw("]")
	return nil
}

func jIsNil(n Node) bool {
	if n == nil {
		return true
	}
	v := reflect.ValueOf(n)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func (e *jsonEncoder) node(n Node, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("pql/json: tree nests deeper than %d levels: %w", MaxDepth, ErrLimit)
	}
	if jIsNil(n) {
		return errors.New("pql/json: nil node")
	}
	switch n := n.(type) {
	case *Literal:
		return e.literal(n)
	case *ArrayLit:
		e.open(jntArray)
		if err := e.list("items", n.Elems, depth, nil); err != nil {
			return err
		}
	case *ObjectLit:
		if len(n.Keys) != len(n.Values) {
			return errors.New("pql/json: object literal with unequal keys and values")
		}
		e.open(jntObject)
		e.key("fields")
		e.raw("[")
		for i, k := range n.Keys {
			if i > 0 {
				e.raw(",")
			}
			e.raw(`{"name":`)
			e.str(k)
			if err := e.child("value", n.Values[i], depth, false); err != nil {
				return err
			}
			e.raw("}")
		}
		e.raw("]")
	case *Implicit:
		if e.scope > 0 {
			// The element itself has no pql/json (or pql/text) form.
			return errors.New("pql/json: implicit parameter outside a field inside an element scope")
		}
		e.raw(`{"nodeType":"parameterReference","position":1`)
	case *Param:
		if n.Index < 1 || n.Index > jMaxParam {
			return fmt.Errorf("pql/json: parameter $%d out of range", n.Index)
		}
		e.open(jntParam)
		e.key("position")
		e.int(int64(n.Index))
	case *Var:
		e.open(jntVar)
		e.key("name")
		e.str(n.Name)
	case *Up:
		if n.Levels < 1 {
			return fmt.Errorf("pql/json: up reference of %d levels", n.Levels)
		}
		e.open(jntUp)
		e.key("levels")
		e.int(int64(n.Levels))
	case *Field:
		e.open(jntField)
		e.key("fieldName")
		e.str(n.Name)
		if _, ok := n.X.(*Implicit); !ok || e.scope == 0 {
			if err := e.child("object", n.X, depth, false); err != nil {
				return err
			}
		}
	case *Call:
		if spec, ok := functions[n.Name]; !ok || spec.method {
			return fmt.Errorf("pql/json: %q is not a free function", n.Name)
		}
		e.fnApply(n.Name)
		if err := e.list("params", n.Args, depth, nil); err != nil {
			return err
		}
	case *Method:
		if spec, ok := functions[n.Name]; !ok || !spec.method {
			return fmt.Errorf("pql/json: %q is not a method", n.Name)
		}
		e.fnApply(n.Name)
		params := append([]Node{n.X}, n.Args...)
		if err := e.list("params", params, depth, func(i int) bool { return i > 0 && isElemArg(n.Name, i-1) }); err != nil {
			return err
		}
	case *Filter:
		e.open(jntFilter)
		if err := e.child("object", n.X, depth, false); err != nil {
			return err
		}
		if err := e.child("condition", n.Cond, depth, true); err != nil {
			return err
		}
	case *Unary:
		switch n.Op {
		case "not":
			e.fnApply("not")
		case "-":
			e.fnApply("neg")
		default:
			return fmt.Errorf("pql/json: unknown unary operator %q", n.Op)
		}
		if err := e.list("params", []Node{n.X}, depth, nil); err != nil {
			return err
		}
	case *Binary:
		if !jBinaryOps[n.Op] {
			return fmt.Errorf("pql/json: unknown operator %q", n.Op)
		}
		e.fnApply(n.Op)
		if err := e.list("params", []Node{n.X, n.Y}, depth, nil); err != nil {
			return err
		}
	case *Lambda:
		if len(n.Params) == 0 {
			return errors.New("pql/json: lambda without parameters")
		}
		e.open(jntLambda)
		e.key("params")
		e.raw("[")
		for i, p := range n.Params {
			if i > 0 {
				e.raw(",")
			}
			e.str(p)
		}
		e.raw("]")
		if err := e.child("body", n.Body, depth, false); err != nil {
			return err
		}
	case *Let:
		e.open(jntLet)
		e.key("name")
		e.str(n.Name)
		if err := e.child("value", n.Value, depth, false); err != nil {
			return err
		}
		if err := e.child("body", n.Body, depth, false); err != nil {
			return err
		}
	case *Quantifier:
		if len(n.Bindings) == 0 {
			return errors.New("pql/json: quantifier without bindings")
		}
		e.open(jntQuant)
		e.key("quantifier")
		if n.All {
			e.str("forall")
		} else {
			e.str("exists")
		}
		e.key("bindings")
		e.raw("[")
		for i, b := range n.Bindings {
			if i > 0 {
				e.raw(",")
			}
			e.raw("{")
			if err := e.binding(b.Var, b.Source, b.Cond, depth); err != nil {
				return err
			}
			e.raw("}")
		}
		e.raw("]")
	case *Select:
		e.open(jntSelect)
		e.raw(",")
		if err := e.binding(n.Var, n.Source, n.Cond, depth); err != nil {
			return err
		}
	case *Aggregate:
		if !jAggregateFns[n.Fn] {
			return fmt.Errorf("pql/json: unknown aggregate %q", n.Fn)
		}
		e.open(jntAggregate)
		e.key("fnName")
		e.str(n.Fn)
		if err := e.child("expression", n.Expr, depth, false); err != nil {
			return err
		}
		e.raw(",")
		if err := e.binding(n.Var, n.Source, n.Cond, depth); err != nil {
			return err
		}
	case *Occurs:
		e.open(jntOccurs)
		if err := e.child("object", n.X, depth, false); err != nil {
			return err
		}
		e.key("spec")
		if err := e.spec(&n.Spec, depth); err != nil {
			return err
		}
	case *Chain:
		if len(n.Steps) == 0 {
			return errors.New("pql/json: chain without steps")
		}
		e.open(jntChain)
		if err := e.child("source", n.Source, depth, false); err != nil {
			return err
		}
		e.key("timeField")
		e.str(n.TimeField)
		e.key("steps")
		e.raw("[")
		for i, st := range n.Steps {
			if i > 0 {
				e.raw(",")
			}
			e.raw(`{"label":`)
			e.str(st.Label)
			if err := e.child("what", st.What, depth, true); err != nil {
				return err
			}
			if st.Where != nil {
				if err := e.child("where", st.Where, depth, true); err != nil {
					return err
				}
			}
			if st.When != nil {
				e.key("when")
				if err := e.spec(st.When, depth); err != nil {
					return err
				}
			}
			if st.Count != 0 {
				e.key("count")
				e.int(st.Count)
			}
			e.raw("}")
		}
		e.raw("]")
	default:
		return fmt.Errorf("pql/json: unknown node type %T", n)
	}
	e.raw("}")
	return nil
}

func (e *jsonEncoder) fnApply(name string) {
	e.open(jntFnApply)
	e.key("fnName")
	e.str(name)
}

// binding writes "name":..,"source":..[,"condition":..] without braces.
func (e *jsonEncoder) binding(v string, src, cond Node, depth int) error {
	e.raw(`"name":`)
	e.str(v)
	if err := e.child("source", src, depth, false); err != nil {
		return err
	}
	if cond != nil {
		return e.child("condition", cond, depth, false)
	}
	return nil
}

func (e *jsonEncoder) literal(n *Literal) error {
	if n.Kind < LitString || n.Kind > LitNull {
		return fmt.Errorf("pql/json: unknown literal kind %d", n.Kind)
	}
	e.open(jntLiteral)
	e.key("literalType")
	e.str(jLiteralTypeNames[n.Kind])
	e.key("value")
	switch n.Kind {
	case LitString:
		e.str(n.Str)
	case LitBool:
		e.raw(strconv.FormatBool(n.Bool))
	case LitInt:
		e.int(n.Int)
	case LitDouble:
		if math.IsNaN(n.Float) || math.IsInf(n.Float, 0) {
			return fmt.Errorf("pql/json: %v has no JSON form", n.Float)
		}
		e.b = jAppendFloat(e.b, n.Float)
	case LitNull:
		e.raw("null")
	}
	e.raw("}")
	return nil
}

func (e *jsonEncoder) spec(s *OccursSpec, depth int) error {
	if s.Form < OccursOffset || s.Form > OccursBetween {
		return fmt.Errorf("pql/json: unknown occurs form %d", s.Form)
	}
	e.raw(`{"form":`)
	e.str(jSpecFormNames[s.Form])
	if s.Form == OccursOffset {
		if !cmpOps[s.Op] {
			return fmt.Errorf("pql/json: unknown occurs op %q", s.Op)
		}
		e.key("op")
		e.str(s.Op)
		e.key("amount")
		e.int(s.N)
		if err := e.unit(s.Unit); err != nil {
			return err
		}
	}
	if s.Form == OccursOffset || s.Form == OccursDir {
		e.key("direction")
		e.str(s.Dir)
	}
	e.key("time")
	if err := e.time(&s.T, depth); err != nil {
		return err
	}
	if s.Form == OccursBetween {
		e.key("time2")
		if err := e.time(&s.T2, depth); err != nil {
			return err
		}
	}
	e.raw("}")
	return nil
}

func (e *jsonEncoder) unit(u Unit) error {
	if u < UnitMillisecond || u > UnitMillennium {
		return fmt.Errorf("pql/json: unknown unit %d", u)
	}
	e.key("unit")
	e.str(unitSingular[u])
	return nil
}

func (e *jsonEncoder) time(t *TimeRef, depth int) error {
	if t.Kind < TimeNow || t.Kind > TimeExpr {
		return fmt.Errorf("pql/json: unknown time kind %d", t.Kind)
	}
	e.raw(`{"kind":`)
	e.str(jTimeKindNames[t.Kind])
	switch t.Kind {
	case TimeThis, TimeLast, TimeNext:
		if err := e.unit(t.Unit); err != nil {
			return err
		}
	case TimeExpr:
		if err := e.child("expression", t.X, depth, false); err != nil {
			return err
		}
	}
	e.raw("}")
	return nil
}

// jAppendFloat formats f as encoding/json does (ES6 number style).
func jAppendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jAppendString quotes s as JSON without HTML escaping (pql/json carries
// queries, not markup); invalid UTF-8 becomes U+FFFD.
func jAppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, `\n`...)
			case c == '\r':
				b = append(b, `\r`...)
			case c == '\t':
				b = append(b, `\t`...)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, "\uFFFD"...) // as a decoded U+FFFD re-encodes
		case r == '\u2028' || r == '\u2029': // JavaScript line terminators
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
