package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decoder turns one JSON document (a line, an array element) into the
// values encoding/json with UseNumber would give: map[string]any, []any,
// string, json.Number, bool and nil.
//
// It is a fast path: a single pass over the document converted once to a
// string, whose unescaped strings and numbers are substrings of it (no
// copy), objects and arrays built at their final size. It accepts exactly
// the documents encoding/json accepts and decodes them to the same values
// (FuzzDecoderMatchesStdlib checks this). When it gives up, decode runs
// encoding/json on the document, for its error message, or for the value
// should the fast path ever refuse a valid document.
//
// The values share the memory of the document string: a record's strings
// keep its line alive, which costs about what copying each would.
type decoder struct {
	s     string
	i     int
	depth int
	keys  []string // pending keys of the objects being built
	vals  []any    // pending values of the objects and arrays being built
	buf   []byte   // scratch for strings with escapes
}

// maxDepth is encoding/json's limit on nesting.
const maxDepth = 10000

// decode decodes doc. A syntax error is returned as from encoding/json.
func (d *decoder) decode(doc []byte) (any, error) {
	if v, ok := d.parse(string(doc)); ok {
		return v, nil
	}
	return decodeStdlib(doc)
}

// decodeStdlib decodes doc with encoding/json.
func decodeStdlib(doc []byte) (any, error) {
	if !json.Valid(doc) {
		var v any
		err := json.Unmarshal(doc, &v) // for the error: Unmarshal reports its offset
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// kindOf names the JSON kind of a decoded value, for messages.
func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", v)
}

// parse decodes s, which must hold one JSON value and whitespace. ok is
// false if it does not (or if the fast path gives up).
func (d *decoder) parse(s string) (v any, ok bool) {
	d.s, d.i, d.depth = s, 0, 0
	d.ws()
	v, ok = d.value()
	if ok {
		d.ws()
		ok = d.i == len(d.s)
	}
	if !ok {
		clear(d.vals[:cap(d.vals)])
		d.keys, d.vals = d.keys[:0], d.vals[:0]
		v = nil
	}
	d.s = ""
	return v, ok
}

func (d *decoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, bool) {
	if d.i >= len(d.s) {
		return nil, false
	}
	switch c := d.s[d.i]; c {
	case '{':
		return d.object()
	case '[':
		return d.array()
	case '"':
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		return s, true
	case 't':
		if len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "true" {
			d.i += 4
			return true, true
		}
	case 'f':
		if len(d.s)-d.i >= 5 && d.s[d.i:d.i+5] == "false" {
			d.i += 5
			return false, true
		}
	case 'n':
		if len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "null" {
			d.i += 4
			return nil, true
		}
	default:
		if c == '-' || c >= '0' && c <= '9' {
			n, ok := d.number()
			if !ok {
				return nil, false
			}
			return n, true
		}
	}
	return nil, false
}

func (d *decoder) object() (any, bool) {
	d.depth++
	if d.depth > maxDepth {
		return nil, false
	}
	d.i++ // {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		d.depth--
		return map[string]any{}, true
	}
	kbase, vbase := len(d.keys), len(d.vals)
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.ws()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.ws()
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, v)
		d.ws()
		if d.i >= len(d.s) {
			return nil, false
		}
		if c := d.s[d.i]; c == ',' {
			d.i++
			d.ws()
			continue
		} else if c != '}' {
			return nil, false
		}
		d.i++
		break
	}
	keys, vals := d.keys[kbase:], d.vals[vbase:]
	m := make(map[string]any, len(keys))
	for j, k := range keys {
		m[k] = vals[j] // a repeated key: the last wins, as in encoding/json
	}
	clear(vals)
	d.keys, d.vals = d.keys[:kbase], d.vals[:vbase]
	d.depth--
	return m, true
}

func (d *decoder) array() (any, bool) {
	d.depth++
	if d.depth > maxDepth {
		return nil, false
	}
	d.i++ // [
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		d.depth--
		return []any{}, true
	}
	vbase := len(d.vals)
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		d.vals = append(d.vals, v)
		d.ws()
		if d.i >= len(d.s) {
			return nil, false
		}
		if c := d.s[d.i]; c == ',' {
			d.i++
			d.ws()
			continue
		} else if c != ']' {
			return nil, false
		}
		d.i++
		break
	}
	vals := d.vals[vbase:]
	a := make([]any, len(vals))
	copy(a, vals)
	clear(vals)
	d.vals = d.vals[:vbase]
	d.depth--
	return a, true
}

// number reads a number as the JSON grammar has it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() (json.Number, bool) {
	s, i := d.s, d.i
	start := i
	if s[i] == '-' {
		i++
		if i == len(s) {
			return "", false
		}
	}
	switch {
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return "", false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return "", false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	d.i = i
	return json.Number(s[start:i]), true
}

// plain is the bytes that stand for themselves in a JSON string: ASCII
// but for the quote, the backslash and control characters.
var plain = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string at d.i (on its opening quote).
func (d *decoder) str() (string, bool) {
	s := d.s
	start := d.i + 1
	i := start
	for i < len(s) {
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c == '"' {
			d.i = i + 1
			return s[start:i], true
		}
		if c < utf8.RuneSelf { // \ or a control character
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return d.strSlow(start, i)
}

// strSlow finishes a string with escapes or invalid UTF-8 the way
// encoding/json unquotes it: each invalid byte becomes U+FFFD, and so does
// a \u escape of a lone surrogate.
func (d *decoder) strSlow(start, i int) (string, bool) {
	s := d.s
	b := append(d.buf[:0], s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			if cap(b) <= 1<<20 {
				d.buf = b // keep the scratch, unless a huge string grew it
			}
			return string(b), true
		case c < ' ':
			return "", false
		case c == '\\':
			if i+1 >= len(s) {
				return "", false
			}
			switch s[i+1] {
			case '"', '\\', '/':
				b = append(b, s[i+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := getu4(s[i:])
				if rr < 0 {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(rr) {
					rr1 := getu4(s[i:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						i += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return "", false
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			b = utf8.AppendRune(b, r)
		}
	}
	return "", false
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for i := 2; i < 6; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
