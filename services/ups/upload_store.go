package ups

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/s2"
)

// Uploaded JSON files are kept s2-compressed, with an index of where each
// compressed block starts. Batch JSON compresses about eightfold and s2
// takes a second a core per 1.5 GB of it, much less than the kernel spends
// writing and reading ten times the bytes once its dirty pages fill; Data
// Access still serves the file as uploaded (the index answers its size and
// Range requests). A stored file tells its form by its first bytes: s2's
// stream identifier starts with 0xff, which JSON cannot, so files stored
// before this (and Parquet, stored as is) read as they are.

// s2Magic is the s2 stream identifier every compressed upload starts with.
var s2Magic = []byte("\xff\x06\x00\x00S2sTwO")

// copyUpload writes src to dst, compressed when compress is set.
func copyUpload(dst io.Writer, src io.Reader, compress bool) error {
	if !compress {
		// Megabyte writes, whatever size the body's reads come in: small
		// ones make the kernel take a hundred-MB file in thousands of calls.
		bw := bufio.NewWriterSize(struct{ io.Writer }{dst}, 1<<20)
		if _, err := io.Copy(bw, src); err != nil {
			return err
		}
		return bw.Flush()
	}
	// One goroutine: uploads come in parallel already.
	zw := s2.NewWriter(dst, s2.WriterAddIndex(), s2.WriterConcurrency(1), s2.WriterBlockSize(1<<20))
	if _, err := io.Copy(zw, src); err != nil {
		zw.Reset(nil) // drop what is buffered
		return err
	}
	return zw.Close()
}

// storedUpload is an uploaded file opened for reading as it was uploaded.
type storedUpload struct {
	f *os.File
	r interface {
		io.ReadSeeker
		io.ReaderAt
	}
	size    int64
	modTime time.Time
}

// openUpload opens an uploaded file.
func openUpload(path string) (*storedUpload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	u, err := readUpload(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

func readUpload(f *os.File) (*storedUpload, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(s2Magic))
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if !bytes.Equal(head[:n], s2Magic) {
		return &storedUpload{f: f, r: f, size: st.Size(), modTime: st.ModTime()}, nil
	}
	rs, err := s2.NewReader(f).ReadSeeker(true, nil)
	if err != nil {
		return nil, err
	}
	size, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return &storedUpload{f: f, r: rs, size: size, modTime: st.ModTime()}, nil
}

func (u *storedUpload) Read(p []byte) (int, error)                { return u.r.Read(p) }
func (u *storedUpload) ReadAt(p []byte, off int64) (int, error)   { return u.r.ReadAt(p, off) }
func (u *storedUpload) Seek(off int64, whence int) (int64, error) { return u.r.Seek(off, whence) }
func (u *storedUpload) Close() error                              { return u.f.Close() }

// Size is the file's size as uploaded.
func (u *storedUpload) Size() int64 { return u.size }

// ModTime is when the file was stored.
func (u *storedUpload) ModTime() time.Time { return u.modTime }
