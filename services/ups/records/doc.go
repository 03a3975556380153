// Package records reads the files of a batch-ingestion batch into records:
// single-line JSON (one object a line, the recommended format), multi-line
// JSON (a JSON array of objects, "isMultiLineJson": true) and Parquet.
//
// Every reader streams: it hands each record to a callback as soon as it is
// read and keeps no more than one record (JSON) or one batch of rows
// (Parquet) in memory. A record's Data is what encoding/json would decode
// the record to with UseNumber: map[string]any, []any, string, bool,
// json.Number and nil, whatever the file format, so the schema layer
// downstream sees one shape of value. Parquet timestamps and dates become
// RFC 3339 and YYYY-MM-DD strings, as dates are written in JSON.
//
// A row that cannot be read as a record (bad JSON on a line, a value that is
// not an object, a line over MaxLineBytes, a Parquet float that is NaN) is a
// RowError, and reading goes on with the next row. A file that cannot be
// read at all (a malformed JSON array, a corrupt Parquet file, an I/O error)
// is an error, and so is an error returned by the callback, which stops
// reading and is returned as it is.
//
//	bad, err := records.Read(f, size, "json", false, func(r records.Record) error {
//		return load(r.Row, r.Data)
//	})
package records
