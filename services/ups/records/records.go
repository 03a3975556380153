package records

import (
	"fmt"
	"io"
	"strings"
)

// Record is one record of a file.
type Record struct {
	// Row is the record's 1-based position: its line for single-line JSON
	// (blank lines count), its element index for a JSON array, its row for
	// Parquet.
	Row int
	// Data is the record as encoding/json decodes it with UseNumber:
	// map[string]any, []any, string, bool, json.Number and nil.
	Data map[string]any
}

// RowError is a row that cannot be read as a record. Reading goes on after
// it.
type RowError struct {
	Row     int    // as Record.Row
	Code    string // one of the Code constants
	Message string // what is wrong, for people
}

func (e RowError) Error() string {
	return fmt.Sprintf("row %d: %s: %s", e.Row, e.Code, e.Message)
}

// RowError codes.
const (
	CodeInvalidJSON  = "invalid_json"  // the line or element is not JSON
	CodeNotObject    = "not_object"    // valid JSON, but not an object
	CodeTooLong      = "too_long"      // a line, or an array element, over MaxLineBytes
	CodeInvalidValue = "invalid_value" // a Parquet value JSON cannot hold (NaN, ±Inf)
)

// ErrUnsupportedFormat is returned by Read for a format it cannot read.
type ErrUnsupportedFormat struct {
	Format string
}

func (e ErrUnsupportedFormat) Error() string {
	return fmt.Sprintf("records: unsupported input format %q (want json or parquet)", e.Format)
}

// Input is a file's content, read through (JSON) or at offsets (Parquet).
type Input interface {
	io.Reader
	io.ReaderAt
}

// Read reads the size bytes of a file's content in the batch input
// format format: "json" (one object a line, or a JSON array of objects if
// multiLine) or "parquet" (multiLine is ignored). The format is matched
// without regard to case; any other is an ErrUnsupportedFormat.
func Read(in Input, size int64, format string, multiLine bool, fn func(Record) error) ([]RowError, error) {
	switch strings.ToLower(format) {
	case "json":
		if multiLine {
			return ReadJSONArray(in, fn)
		}
		return ReadJSONLines(in, fn)
	case "parquet":
		return ReadParquet(in, size, fn)
	default:
		return nil, ErrUnsupportedFormat{Format: format}
	}
}
