package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
)

// MaxLineBytes is the longest line ReadJSONLines reads, not counting its
// line ending, and the longest element ReadJSONArray reads. A longer one
// is a RowError (CodeTooLong), skipped without being held in memory.
const MaxLineBytes = 16 << 20

// readBufferSize is the read buffer of the JSON readers.
const readBufferSize = 256 << 10

var bom = []byte("\xef\xbb\xbf")

// ReadJSONLines reads single-line JSON: one object a line, lines ended by
// "\n" or "\r\n". Blank lines are skipped (they still count as rows), as is
// a UTF-8 byte order mark opening the file. A line that is not a JSON
// object is a RowError and reading goes on. An error reading r, or
// returned by fn, stops reading and is returned.
func ReadJSONLines(r io.Reader, fn func(Record) error) ([]RowError, error) {
	return readJSONLines(r, MaxLineBytes, fn)
}

func readJSONLines(r io.Reader, maxLine int, fn func(Record) error) ([]RowError, error) {
	newConvert := func() func(int, []byte) any {
		var d decoder
		return func(row int, line []byte) any {
			v, err := d.decode(line)
			if err != nil {
				return RowError{Row: row, Code: CodeInvalidJSON, Message: syntaxMessage(err)}
			}
			m, ok := v.(map[string]any)
			if !ok {
				return RowError{Row: row, Code: CodeNotObject, Message: "the line is " + kindOf(v) + ", not a JSON object"}
			}
			return Record{Row: row, Data: m}
		}
	}
	var bad []RowError
	tooLong, err := ConvertJSONLines(r, newConvert, func(row int, v any) error {
		if re, ok := v.(RowError); ok {
			bad = append(bad, re)
			return nil
		}
		return fn(v.(Record))
	}, maxLine)
	return mergeRowErrors(bad, tooLong), err
}

// mergeRowErrors merges two lists of row errors, each in row order.
func mergeRowErrors(a, b []RowError) []RowError {
	if len(b) == 0 {
		return a
	}
	out := make([]RowError, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Row < b[0].Row {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// ConvertJSONLines reads single-line JSON like ReadJSONLines, but leaves
// each line to convert, which runs in parallel workers (newConvert makes
// one per worker, so it may keep per-worker state; the line is valid only
// during the call). fn gets what convert returned, in row order. Blank
// lines are skipped; lines over maxLine bytes (MaxLineBytes if 0) are the
// returned row errors. An error reading r, or returned by fn, stops
// reading and is returned.
func ConvertJSONLines(r io.Reader, newConvert func() func(row int, line []byte) any, fn func(row int, v any) error, maxLine int) ([]RowError, error) {
	if maxLine <= 0 {
		maxLine = MaxLineBytes
	}
	// A pipeline: this goroutine's reader cuts the input into chunks of
	// lines, workers convert chunks in parallel (decoding is most of the
	// cost), and the caller's goroutine hands the results to fn in order.
	workers := max(1, runtime.GOMAXPROCS(0))
	todo := make(chan *lineChunk, workers)
	order := make(chan *lineChunk, 2*workers)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			convert := newConvert()
			for c := range todo {
				c.convert(convert)
				close(c.ready)
			}
		}()
	}
	var readErr error
	go func() {
		defer close(order)
		defer close(todo)
		readErr = cutLines(r, maxLine, func(c *lineChunk) bool {
			select {
			case order <- c:
			case <-done:
				return false
			}
			select {
			case todo <- c:
				return true
			case <-done:
				return false
			}
		})
	}()
	var bad []RowError
	var fnErr error
	for c := range order {
		if fnErr != nil {
			continue // drain; a chunk cut after the stop is never converted
		}
		<-c.ready
		for _, it := range c.items {
			if it.bad.Row != 0 {
				bad = append(bad, it.bad)
				continue
			}
			if err := fn(it.row, it.v); err != nil {
				fnErr = err
				close(done)
				break
			}
		}
		c.release()
	}
	wg.Wait()
	if fnErr != nil {
		return bad, fnErr
	}
	return bad, readErr
}

// chunkPool recycles chunks: converting copies what it keeps of a line,
// so a chunk's buffers are free once its results are handed over.
var chunkPool = sync.Pool{New: func() any { return new(lineChunk) }}

func newChunk(maxLine int) *lineChunk {
	c := chunkPool.Get().(*lineChunk)
	c.maxLine, c.ready = maxLine, make(chan struct{})
	return c
}

func (c *lineChunk) release() {
	c.buf, c.ends, c.rows = c.buf[:0], c.ends[:0], c.rows[:0]
	clear(c.items)
	c.items = c.items[:0]
	chunkPool.Put(c)
}

// lineChunk is a run of lines decoded together.
type lineChunk struct {
	buf     []byte // the lines' bytes
	ends    []int  // end offset in buf of each line
	rows    []int  // row of each line
	items   []chunkItem
	maxLine int
	ready   chan struct{} // closed once items are decoded
}

type chunkItem struct {
	row int
	v   any      // what convert returned
	bad RowError // set (Row != 0) for a line too long
}

const chunkLines = 256

// cutLines reads lines and passes them on in chunks, with rows, skipping
// blank lines and noting lines too long. emit returns false to stop.
func cutLines(r io.Reader, maxLine int, emit func(*lineChunk) bool) error {
	lr := lineReader{br: bufio.NewReaderSize(r, readBufferSize), max: maxLine}
	c := newChunk(maxLine)
	flush := func() bool {
		if len(c.rows) == 0 {
			return true
		}
		ok := emit(c)
		c = newChunk(maxLine)
		return ok
	}
	for row := 1; ; row++ {
		line, tooLong, err := lr.next()
		if err == io.EOF {
			flush()
			return nil
		}
		if err != nil {
			flush()
			return fmt.Errorf("records: reading line %d: %w", row, err)
		}
		switch {
		case tooLong:
			// Kept in row order with the lines around it.
			c.rows = append(c.rows, -row)
			c.ends = append(c.ends, len(c.buf))
		default:
			if row == 1 {
				line = bytes.TrimPrefix(line, bom)
			}
			if blank(line) {
				continue
			}
			c.buf = append(c.buf, line...)
			c.ends = append(c.ends, len(c.buf))
			c.rows = append(c.rows, row)
		}
		if len(c.rows) >= chunkLines && !flush() {
			return nil
		}
	}
}

// convert converts a chunk's lines and notes those too long.
func (c *lineChunk) convert(convert func(int, []byte) any) {
	c.items = slices.Grow(c.items[:0], len(c.rows))[:len(c.rows)]
	start := 0
	for i, row := range c.rows {
		line := c.buf[start:c.ends[i]]
		start = c.ends[i]
		it := &c.items[i]
		if row < 0 {
			it.bad = RowError{Row: -row, Code: CodeTooLong, Message: fmt.Sprintf("the line is longer than %d bytes", c.maxLine)}
			continue
		}
		it.row = row
		it.v = convert(row, line)
	}
}

// lineReader reads lines of at most max bytes.
type lineReader struct {
	br   *bufio.Reader
	max  int
	long []byte // a line longer than br's buffer, put together
}

// next returns the next line without its "\n", valid until the next call,
// or tooLong (and no line) if it is longer than max. err is io.EOF only
// when there is no line left.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	line, err = l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = l.br.ReadSlice('\n')
			if tooLong {
				continue
			}
			if len(l.long)+len(line) > l.max+1 { // +1: the "\n"
				tooLong = true
				if cap(l.long) > readBufferSize {
					l.long = nil
				}
				continue
			}
			l.long = append(l.long, line...)
		}
		if !tooLong {
			line = l.long
		}
	}
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	if err == io.EOF && len(line) == 0 && !tooLong {
		return nil, false, io.EOF
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if tooLong || len(line) > l.max {
		return nil, true, nil
	}
	return line, false, nil
}

// blank reports whether line holds only JSON whitespace.
func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// syntaxMessage describes a JSON syntax error.
func syntaxMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se)
	}
	return "invalid JSON: " + err.Error()
}

// ReadJSONArray reads multi-line JSON: one JSON array of objects, read an
// element at a time, or a single JSON object, which is one record. Records
// are numbered by their element index from 1. An element that is not an
// object, or longer than MaxLineBytes, is a RowError and reading goes on;
// a malformed document (bad syntax, an array not closed, anything but
// whitespace after the top-level value) stops reading with an error naming
// the byte (1-based) where it goes wrong. A UTF-8 byte order mark opening
// the file is skipped. An empty file has no records.
//
// Elements are split off the stream by a scanner that only balances
// brackets and strings, then decoded as lines are; json.Decoder would do
// the same but cannot say where in the stream a syntax error is.
func ReadJSONArray(r io.Reader, fn func(Record) error) ([]RowError, error) {
	return readJSONArray(r, MaxLineBytes, fn)
}

func readJSONArray(r io.Reader, maxElem int, fn func(Record) error) ([]RowError, error) {
	sc := elemScanner{br: bufio.NewReaderSize(r, readBufferSize), max: maxElem}
	if p, _ := sc.br.Peek(len(bom)); bytes.Equal(p, bom) {
		sc.br.Discard(len(bom))
		sc.off += int64(len(bom))
	}
	var (
		d   decoder
		bad []RowError
	)
	// element reads the value starting with c, element row, and hands it
	// to fn.
	element := func(c byte, row int) error {
		start := sc.off - 1 // c's offset
		if err := sc.value(c); err != nil {
			return sc.malformed(err, row)
		}
		if sc.over {
			bad = append(bad, RowError{Row: row, Code: CodeTooLong,
				Message: fmt.Sprintf("element %d is longer than %d bytes", row, maxElem)})
			return nil
		}
		v, err := d.decode(sc.buf)
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return fmt.Errorf("records: malformed JSON at byte %d (element %d): %s", start+se.Offset, row, se)
			}
			return fmt.Errorf("records: malformed JSON in element %d: %w", row, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			bad = append(bad, RowError{Row: row, Code: CodeNotObject,
				Message: fmt.Sprintf("element %d is %s, not a JSON object", row, kindOf(v))})
			return nil
		}
		return fn(Record{Row: row, Data: m})
	}

	c, err := sc.next()
	switch {
	case err == io.EOF:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("records: reading: %w", err)
	case c == '{':
		if err := element(c, 1); err != nil {
			return bad, err
		}
	case c == '[':
		notClosed := func(err error) error {
			if err == io.EOF {
				return fmt.Errorf("records: malformed JSON at byte %d: unexpected end of input, the array is not closed", sc.off)
			}
			return fmt.Errorf("records: reading: %w", err)
		}
		c, err = sc.next()
		for row := 1; c != ']'; row++ {
			if err != nil {
				return bad, notClosed(err)
			}
			if err := element(c, row); err != nil {
				return bad, err
			}
			if c, err = sc.next(); err != nil {
				return bad, notClosed(err)
			}
			if c == ']' {
				break
			}
			if c != ',' {
				return bad, fmt.Errorf("records: malformed JSON at byte %d: %q after element %d, where , or ] should be", sc.off, c, row)
			}
			if c, err = sc.next(); err == nil && c == ']' {
				return bad, fmt.Errorf("records: malformed JSON at byte %d: ] after a comma, where element %d should be", sc.off, row+1)
			}
		}
	default:
		return nil, fmt.Errorf("records: malformed JSON at byte %d: multi-line JSON must be an array of objects or one object, not a document starting with %q", sc.off, c)
	}

	// Nothing but whitespace may follow the top-level value.
	c, err = sc.next()
	if err == io.EOF {
		return bad, nil
	}
	if err != nil {
		return bad, fmt.Errorf("records: reading: %w", err)
	}
	return bad, fmt.Errorf("records: malformed JSON at byte %d: %q after the top-level value", sc.off, c)
}

// elemScanner splits JSON values off a stream, keeping count of the bytes
// read for messages. It checks only that brackets balance and strings
// close: the syntax inside a value is the decoder's to check.
type elemScanner struct {
	br   *bufio.Reader
	off  int64  // bytes read
	buf  []byte // the value read by value
	max  int    // longest value kept in buf
	over bool   // the value was longer than max: buf holds a prefix
}

// errEOF is the end of input inside a value.
var errEOF = errors.New("unexpected end of input")

// next reads past whitespace and returns the next byte.
func (s *elemScanner) next() (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return 0, err
		}
		s.off++
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return c, nil
		}
	}
}

func (s *elemScanner) add(c byte) {
	if len(s.buf) < s.max {
		s.buf = append(s.buf, c)
	} else {
		s.over = true
	}
}

// value reads the rest of the value that starts with c into buf.
func (s *elemScanner) value(c byte) error {
	if cap(s.buf) > 4*readBufferSize {
		s.buf = nil // do not keep the buffer of a huge value
	}
	s.buf, s.over = s.buf[:0], false
	s.add(c)
	switch c {
	case '"':
		return s.str()
	case '{', '[':
		for depth := 1; depth > 0; {
			c, err := s.br.ReadByte()
			if err != nil {
				return s.eof(err)
			}
			s.off++
			s.add(c)
			switch c {
			case '"':
				if err := s.str(); err != nil {
					return err
				}
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		return nil
	}
	// A number or a literal: up to the next delimiter.
	for {
		c, err := s.br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch c {
		case ',', ']', '}', ' ', '\t', '\r', '\n':
			s.br.UnreadByte()
			return nil
		}
		s.off++
		s.add(c)
	}
}

// str reads the rest of a string, its opening quote read.
func (s *elemScanner) str() error {
	backslashes := 0 // ending what was read of the string so far
	for {
		p, err := s.br.ReadSlice('"')
		s.off += int64(len(p))
		if len(s.buf)+len(p) <= s.max {
			s.buf = append(s.buf, p...)
		} else {
			for _, c := range p {
				s.add(c)
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return s.eof(err)
		}
		text := p
		if err == nil {
			text = p[:len(p)-1] // the quote
		}
		n := 0
		for n < len(text) && text[len(text)-1-n] == '\\' {
			n++
		}
		if n == len(text) {
			backslashes += n
		} else {
			backslashes = n
		}
		if err == nil {
			if backslashes%2 == 0 {
				return nil // a closing quote, not an escaped one
			}
			backslashes = 0
		}
	}
}

func (s *elemScanner) eof(err error) error {
	if err == io.EOF {
		return errEOF
	}
	return err
}

// malformed describes err, met in element row.
func (s *elemScanner) malformed(err error, row int) error {
	if err == io.EOF {
		err = errEOF
	}
	if err != errEOF {
		return fmt.Errorf("records: reading element %d: %w", row, err)
	}
	// Where a value does not close, encoding/json knows better where it
	// went wrong (a bracket that does not match, say).
	if !s.over && len(s.buf) > 0 {
		var v any
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(s.buf, &v), &se) && se.Offset < int64(len(s.buf)) {
			start := s.off - int64(len(s.buf))
			return fmt.Errorf("records: malformed JSON at byte %d (element %d): %s", start+se.Offset, row, se)
		}
	}
	return fmt.Errorf("records: malformed JSON at byte %d (element %d): unexpected end of input", s.off, row)
}
