package pql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TypeError is a record value that does not fit the schema, e.g. a string
// where a timestamp field holds dates and the string is not a date.
type TypeError struct {
	Path string // dotted path of the field
	Want string
	Got  string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s: expected %s, got %s", e.Path, e.Want, e.Got)
}

// DecodeProfile decodes one profile record (a JSON object in XDM's
// ingestion shape) into a Value laid out by s, adding fields it has not
// seen. Errors are *TypeError or JSON syntax errors.
func (s *Schema) DecodeProfile(data []byte) (Value, error) {
	return s.decode(data, &s.profile)
}

// DecodeEvent decodes one ExperienceEvent record.
func (s *Schema) DecodeEvent(data []byte) (Value, error) {
	return s.decode(data, &s.event)
}

// ProfileValue converts a decoded JSON object (numbers as json.Number or
// float64) into a profile Value.
func (s *Schema) ProfileValue(doc map[string]any) (Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return convert(doc, &s.profile)
}

// EventValue converts a decoded JSON object into an ExperienceEvent Value.
func (s *Schema) EventValue(doc map[string]any) (Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return convert(doc, &s.event)
}

func (s *Schema) decode(data []byte, root **Type) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return Value{}, fmt.Errorf("pql: decoding record: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return convert(doc, root)
}

// convert turns x into a Value of type *slot, settling *slot when it is
// still TypeAny. Callers hold the schema's write lock. A *TypeError's Path
// is built as the error unwinds (see within), so success costs no strings.
func convert(x any, slot **Type) (Value, error) {
	t := *slot
	if x == nil {
		return Value{}, nil
	}
	if t == nil || t.Kind == TypeAny {
		t = inferType(x)
		if t == nil {
			return Value{}, &TypeError{Want: "a JSON value", Got: fmt.Sprintf("%T", x)}
		}
		*slot = t
	}
	switch t.Kind {
	case TypeBool:
		if b, ok := x.(bool); ok {
			return Bool(b), nil
		}
	case TypeNumber:
		if v, ok := number(x); ok {
			return v, nil
		}
	case TypeString:
		if s, ok := x.(string); ok {
			return String(s), nil
		}
	case TypeTime:
		switch x := x.(type) {
		case string:
			if us, ok := parseTime(x); ok {
				return Micros(us), nil
			}
			return Value{}, &TypeError{Want: "an ISO 8601 date or date-time", Got: strconv.Quote(x)}
		default:
			if v, ok := number(x); ok {
				return epochMillis(v)
			}
		}
	case TypeArray:
		if xs, ok := x.([]any); ok {
			out := make([]Value, 0, len(xs))
			for i, e := range xs {
				v, err := convert(e, &t.Elem)
				if err != nil {
					return Value{}, within(err, "["+strconv.Itoa(i)+"]")
				}
				if v.kind != KindNull {
					out = append(out, v)
				}
			}
			return Array(out), nil
		}
	case TypeMap:
		if m, ok := x.(map[string]any); ok {
			keys := sortedKeys(m)
			list := make([]Value, 0, 2*len(keys))
			for _, k := range keys {
				v, err := convert(m[k], &t.Elem)
				if err != nil {
					return Value{}, within(err, k)
				}
				list = append(list, String(k), v)
			}
			return Value{kind: KindMap, list: list}, nil
		}
	case TypeObject:
		if m, ok := x.(map[string]any); ok {
			// New fields get indexes in name order, so layouts do not depend
			// on map iteration; known fields need no sorting.
			last := -1
			for k, v := range m {
				i, ok := t.index[k]
				if !ok {
					for _, k := range sortedKeys(m) {
						if _, ok := t.index[k]; !ok {
							t.add(k, &Type{Kind: TypeAny})
						}
					}
					i = t.index[k]
				}
				if v != nil && i > last {
					last = i
				}
			}
			// Size the fields to the highest present index, not the type's
			// width: event types grow wide (the union of every event's
			// fields) while each event uses a few of them.
			fields := make([]Value, last+1)
			last = -1
			for k, x := range m {
				i := t.index[k]
				v, err := convert(x, &t.types[i])
				if err != nil {
					return Value{}, within(err, k)
				}
				if v.kind != KindNull {
					fields[i] = v
					last = max(last, i)
				}
			}
			return Object(fields[: last+1 : last+1]), nil
		}
	}
	return Value{}, &TypeError{Want: t.String(), Got: jsonKind(x)}
}

// epochMillis reads a number in a timestamp field as epoch milliseconds,
// as XDM ingestion takes them, keeping microseconds of a fraction. One
// that overflows microseconds is a TypeError, not a wrapped-around instant.
func epochMillis(v Value) (Value, error) {
	const limit = math.MaxInt64 / 1000
	if v.kind == KindInt {
		if ms := int64(v.num); ms >= -limit && ms <= limit {
			return Micros(ms * 1000), nil
		}
	} else if f := v.Float(); f >= -limit && f <= limit {
		return Micros(int64(math.Round(f * 1000))), nil
	}
	return Value{}, &TypeError{Want: "epoch milliseconds within ±292,000 years", Got: "a number out of range"}
}

// within puts a field name or [index] in front of a TypeError's path.
func within(err error, step string) error {
	te, ok := err.(*TypeError)
	if !ok {
		return err
	}
	switch {
	case te.Path == "":
		te.Path = step
	case te.Path[0] == '[':
		te.Path = step + te.Path
	default:
		te.Path = step + "." + te.Path
	}
	return te
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// inferType is the type a field gets from the first non-null value seen.
// Strings stay strings: only declared fields are timestamps (a string that
// looks like a date in one record may not in the next).
func inferType(x any) *Type {
	switch x.(type) {
	case bool:
		return BoolType
	case json.Number, float64, int, int64:
		return NumberType
	case string:
		return StringType
	case []any:
		return ArrayOf(&Type{Kind: TypeAny})
	case map[string]any:
		return ObjectOf()
	}
	return nil
}

func number(x any) (Value, bool) {
	switch n := x.(type) {
	case json.Number:
		s := string(n)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return Int(i), true
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		return Double(f), err == nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return Int(int64(n)), true
		}
		return Double(n), true
	case int:
		return Int(int64(n)), true
	case int64:
		return Int(n), true
	}
	return Value{}, false
}

func jsonKind(x any) string {
	switch x.(type) {
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", x)
}

// timeLayouts are the ISO 8601 forms accepted for timestamps; a value
// without a zone is UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// parseTime parses an ISO 8601 date or date-time into microseconds.
func parseTime(s string) (int64, bool) {
	if len(s) < 10 || len(s) > 40 || s[4] != '-' {
		return 0, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMicro(), true
		}
	}
	return 0, false
}
