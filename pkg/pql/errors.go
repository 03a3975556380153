package pql

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits that keep hostile input from running away.
const (
	MaxQueryLength = 64 << 10 // bytes of pql/text or pql/json
	MaxDepth       = 1000     // nesting of expressions: a generated "a or b or ..." of 900 terms fits
	MaxRegexLength = 1024     // bytes of a regular expression or like pattern
)

// ErrLimit is wrapped by every error caused by a limit (query length,
// nesting, regex size, evaluation work).
var ErrLimit = errors.New("pql: limit exceeded")

// SyntaxError is a parse error of pql/text or pql/json, located in the query.
type SyntaxError struct {
	Pos      Pos
	Msg      string // what is wrong, e.g. `unknown function "startswith"`
	Expected string // what the parser expected, if known
	Found    string // what it found instead, if known
	Hint     string // e.g. `did you mean "startsWith"?`
	Snippet  string // the query line and a caret under the position
	limit    bool
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString(e.Msg)
	if e.Expected != "" {
		fmt.Fprintf(&b, ": expected %s", e.Expected)
		if e.Found != "" {
			fmt.Fprintf(&b, ", found %s", e.Found)
		}
	}
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, " at %d:%d", e.Pos.Line, e.Pos.Col)
	}
	if e.Hint != "" {
		b.WriteString(", ")
		b.WriteString(e.Hint)
	}
	if e.Snippet != "" {
		b.WriteString("\n")
		b.WriteString(e.Snippet)
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrLimit) find limit errors.
func (e *SyntaxError) Unwrap() error {
	if e.limit {
		return ErrLimit
	}
	return nil
}

// CheckError is one problem found by Check or Compile: an unknown field, a
// type mismatch, a wrong argument. It points at the node.
type CheckError struct {
	Pos     Pos
	Msg     string
	Snippet string
}

func (e *CheckError) Error() string {
	s := e.Msg
	if e.Pos.Line > 0 {
		s += fmt.Sprintf(" at %d:%d", e.Pos.Line, e.Pos.Col)
	}
	if e.Snippet != "" {
		s += "\n" + e.Snippet
	}
	return s
}

// CheckErrors is every problem Check found, in query order.
type CheckErrors []*CheckError

func (es CheckErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// snippet renders the line of src holding pos with a caret under it. Long
// lines are cut to a window around the caret.
func snippet(src string, pos Pos) string {
	if src == "" || pos.Line == 0 {
		return ""
	}
	start := strings.LastIndexByte(src[:min(pos.Offset, len(src))], '\n') + 1
	end := strings.IndexByte(src[start:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += start
	}
	line := src[start:end]
	col := utf8.RuneCountInString(src[start:min(pos.Offset, len(src))])
	const window = 60
	prefix := ""
	if col > window {
		cut := 0
		for i := 0; i < col-window/2; i++ {
			_, size := utf8.DecodeRuneInString(line[cut:])
			cut += size
		}
		line = line[cut:]
		col -= col - window/2
		prefix = "..."
	}
	if utf8.RuneCountInString(line) > 2*window {
		cut, n := 0, 0
		for cut < len(line) && n < 2*window {
			_, size := utf8.DecodeRuneInString(line[cut:])
			cut += size
			n++
		}
		line = line[:cut] + "..."
	}
	line = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' {
			return ' '
		}
		return r
	}, line)
	return "  " + prefix + line + "\n  " + strings.Repeat(" ", len(prefix)+col) + "^"
}
