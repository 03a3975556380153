// Package reader is stage 4 of the pipeline: it takes export.succeeded,
// lists every file of the export's batch through Data Access, downloads
// each one (resuming a broken download with Range) into the sink while
// hashing and counting its bytes, checks it against the listing and as
// Parquet, checks that the files' rows add up to the export's profile
// count, and publishes batch.ready with the manifest of stored files
// (batch.failed when a check fails: a wrong size, a file that is not
// Parquet, rows that do not add up, a file the Platform refuses).
//
// The sink is a gocloud.dev/blob bucket opened from a URL
// (SEGFLOW_SINK_URL): file:// (the default, under the data directory, see
// DefaultSinkURL), s3://, gs:// or azblob://, with the drivers' own query
// parameters. A file is stored under "<requestId>/<file name>", so that a
// redelivered message overwrites the same objects: the sink holds each
// request's files once, whatever the deliveries. Downloads stream to the
// bucket's writer (never a whole file in memory), and a file that fails a
// check before its writer is closed is never stored; files stored before
// a later check failed are deleted. The Parquet check reads the stored
// object back (its footer), so it checks what consumers will read.
//
// Files whose names start with "_" or "." are bookkeeping of the writer
// that made the batch (_SUCCESS, .crc) and are skipped.
package reader
