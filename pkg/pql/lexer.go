package pql

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokInt
	tokDouble
	tokString
	tokParam // $1
	tokPunct // operators and punctuation
)

type token struct {
	kind tokKind
	text string // identifier, punctuation, raw number, or the decoded string
	// quoted marks a `backquoted` identifier, which is never a keyword.
	quoted bool
	pos    Pos
	end    int // offset just past the token
}

// describe names the token for "found ..." in errors.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of query"
	case tokString:
		return fmt.Sprintf("string %q", t.text)
	case tokIdent:
		return fmt.Sprintf("%q", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// lexer turns pql/text into tokens. It never fails: a bad character becomes
// an error token the parser reports.
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func (l *lexer) pos() Pos { return Pos{Offset: l.off, Line: l.line, Col: l.col} }

func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); {
		r, size := utf8.DecodeRuneInString(l.src[l.off:])
		l.off += size
		i += size
		if r == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
	}
}

// puncts are tried longest first.
var puncts = []string{"=>", "!=", "<=", ">=", "<>", "==", "(", ")", "[", "]", "{", "}", ",", ".", ":", "^", "=", "<", ">", "+", "-", "*", "/", "%", "!"}

// next returns the next token or a syntax error for an unreadable one.
func (l *lexer) next() (token, *SyntaxError) {
	for l.off < len(l.src) {
		r, size := utf8.DecodeRuneInString(l.src[l.off:])
		if !unicode.IsSpace(r) {
			break
		}
		l.advance(size)
	}
	start := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: start, end: l.off}, nil
	}
	c := l.src[l.off]
	switch {
	case c == '"' || c == '\'':
		return l.lexString(start, c)
	case c >= '0' && c <= '9':
		return l.lexNumber(start), nil
	case c == '$':
		j := l.off + 1
		for j < len(l.src) && l.src[j] >= '0' && l.src[j] <= '9' {
			j++
		}
		if j == l.off+1 {
			return token{}, &SyntaxError{Pos: start, Msg: "invalid parameter reference", Expected: "a parameter number such as $1", Found: `"$"`}
		}
		text := l.src[l.off:j]
		l.advance(j - l.off)
		return token{kind: tokParam, text: text, pos: start, end: l.off}, nil
	case isIdentStart(c):
		j := l.off
		for j < len(l.src) {
			r, size := utf8.DecodeRuneInString(l.src[j:])
			if !isIdentRune(r) {
				break
			}
			j += size
		}
		if j == l.off {
			r, _ := utf8.DecodeRuneInString(l.src[l.off:])
			return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
		text := l.src[l.off:j]
		l.advance(j - l.off)
		return token{kind: tokIdent, text: text, pos: start, end: l.off}, nil
	case c == '`':
		// `quoted field name` for names that are not identifiers.
		j := strings.IndexByte(l.src[l.off+1:], '`')
		if j < 0 {
			return token{}, &SyntaxError{Pos: start, Msg: "unterminated quoted name", Expected: "a closing `", Found: "end of query"}
		}
		text := l.src[l.off+1 : l.off+1+j]
		l.advance(j + 2)
		return token{kind: tokIdent, text: text, quoted: true, pos: start, end: l.off}, nil
	}
	for _, p := range puncts {
		if strings.HasPrefix(l.src[l.off:], p) {
			l.advance(len(p))
			switch p { // aliases
			case "<>":
				p = "!="
			case "==":
				p = "="
			}
			return token{kind: tokPunct, text: p, pos: start, end: l.off}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("unexpected character %q", r)}
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func (l *lexer) lexNumber(start Pos) token {
	j := l.off
	digits := func() {
		for j < len(l.src) && l.src[j] >= '0' && l.src[j] <= '9' {
			j++
		}
	}
	digits()
	kind := tokInt
	if j+1 < len(l.src) && l.src[j] == '.' && l.src[j+1] >= '0' && l.src[j+1] <= '9' {
		kind = tokDouble
		j++
		digits()
	}
	if j < len(l.src) && (l.src[j] == 'e' || l.src[j] == 'E') {
		k := j + 1
		if k < len(l.src) && (l.src[k] == '+' || l.src[k] == '-') {
			k++
		}
		if k < len(l.src) && l.src[k] >= '0' && l.src[k] <= '9' {
			kind = tokDouble
			j = k
			digits()
		}
	}
	text := l.src[l.off:j]
	l.advance(j - l.off)
	return token{kind: kind, text: text, pos: start, end: l.off}
}

// lexString reads a quoted string. Escapes: \" \' \\ \n \t \r \uXXXX; any
// other backslash is kept as is, so regexes like "@(\w+)" need no doubling.
func (l *lexer) lexString(start Pos, quote byte) (token, *SyntaxError) {
	var b strings.Builder
	j := l.off + 1
	for {
		if j >= len(l.src) {
			return token{}, &SyntaxError{Pos: start, Msg: "unterminated string", Expected: "a closing " + string(quote), Found: "end of query"}
		}
		c := l.src[j]
		switch {
		case c == quote:
			l.advance(j + 1 - l.off)
			return token{kind: tokString, text: b.String(), pos: start, end: l.off}, nil
		case c == '\\' && j+1 < len(l.src):
			e := l.src[j+1]
			switch e {
			case '"', '\'', '\\':
				b.WriteByte(e)
				j += 2
			case 'n':
				b.WriteByte('\n')
				j += 2
			case 't':
				b.WriteByte('\t')
				j += 2
			case 'r':
				b.WriteByte('\r')
				j += 2
			case 'u':
				if j+6 <= len(l.src) {
					var r rune
					if _, err := fmt.Sscanf(l.src[j+2:j+6], "%04x", &r); err == nil && isHex(l.src[j+2:j+6]) {
						b.WriteRune(r)
						j += 6
						continue
					}
				}
				b.WriteByte('\\')
				j++
			default:
				b.WriteByte('\\')
				j++
			}
		default:
			b.WriteByte(c)
			j++
		}
	}
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
