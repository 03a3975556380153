package reader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	// The sink's drivers: file:// (fileblob), s3://, gs://, azblob://.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

// sink is where the files go: a bucket, and how to name its objects.
type sink struct {
	bucket *blob.Bucket
	// base is the URI of the bucket's root (prefix included), ending in
	// "/": an object's URI is base + its key.
	base string
}

// openSink opens the bucket at rawURL.
func openSink(ctx context.Context, rawURL string) (*sink, error) {
	base, err := baseURI(rawURL)
	if err != nil {
		return nil, err
	}
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return &sink{bucket: b, base: base}, nil
}

// baseURI is the URI of a bucket URL's root: without the drivers' query
// parameters, with the prefix parameter as a path, and for file:// an
// absolute path.
func baseURI(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	prefix := u.Query().Get("prefix")
	out := url.URL{Scheme: u.Scheme, Host: u.Host}
	if u.Scheme == "file" {
		// fileblob: the host is ignored unless it is ".", a relative path.
		dir := u.Path
		if u.Host == "." {
			dir = strings.TrimPrefix(dir, "/")
		}
		abs, err := filepath.Abs(filepath.FromSlash(dir))
		if err != nil {
			return "", err
		}
		out.Host = ""
		out.Path = filepath.ToSlash(abs)
		if !strings.HasPrefix(out.Path, "/") {
			out.Path = "/" + out.Path
		}
	} else {
		out.Path = u.Path
	}
	out.Path = strings.TrimSuffix(out.Path, "/") + "/" + strings.TrimPrefix(prefix, "/")
	if !strings.HasSuffix(out.Path, "/") {
		out.Path += "/"
	}
	return out.String(), nil
}

// uri is the URI of the object key.
func (s *sink) uri(key string) string {
	u, err := url.Parse(s.base)
	if err != nil { // the base was made by url.URL.String
		return s.base + key
	}
	u.Path += key
	return u.String()
}

func (s *sink) Close() error { return s.bucket.Close() }

// fileblobTemp is the name of a temporary file fileblob writes beside an
// object before renaming it into place: "<key>.<hex nanoseconds>.tmp".
var fileblobTemp = regexp.MustCompile(`\.[0-9a-f]+\.tmp$`)

// removeTemps deletes the temporary files a delivery killed while
// writing left under prefix (a file sink's only leftovers: the other
// drivers write an object whole or not at all), and returns how many.
func (s *sink) removeTemps(ctx context.Context, prefix string) (int, error) {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	n := 0
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if obj.IsDir || !fileblobTemp.MatchString(obj.Key) {
			continue
		}
		if err := s.bucket.Delete(ctx, obj.Key); err != nil && !isNotFound(err) {
			return n, err
		}
		n++
	}
}

// objectKeys are the keys of the files of a batch: "<requestId>/<name>",
// the name cleaned of any way out of the request's directory; when two
// files of the batch share a name (in two dataSetFileIds) every key gets
// its dataSetFileId as a directory.
func objectKeys(requestID string, names, fileIDs []string) []string {
	keys := make([]string, len(names))
	seen := make(map[string]bool, len(names))
	dup := false
	for i, n := range names {
		keys[i] = clean(n)
		dup = dup || seen[keys[i]]
		seen[keys[i]] = true
	}
	dir := requestDir(requestID)
	for i := range keys {
		if dup {
			keys[i] = clean(fileIDs[i]) + "/" + keys[i]
		}
		keys[i] = dir + "/" + keys[i]
	}
	return keys
}

// clean makes s a key with no way out of its directory.
func clean(s string) string {
	s = strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(s, `\`, "/")), "/")
	if s == "" {
		s = "_"
	}
	return s
}

// requestDir is the directory of a request's objects.
func requestDir(requestID string) string { return clean(requestID) }

// readerAt reads an object with ranged reads, remembering the first
// error the bucket gave (as opposed to what the reading code made of the
// bytes).
type readerAt struct {
	ctx    context.Context
	bucket *blob.Bucket
	key    string

	mu  sync.Mutex
	err error
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	rr, err := r.bucket.NewRangeReader(r.ctx, r.key, off, int64(len(p)), nil)
	if err != nil {
		r.fail(err)
		return 0, err
	}
	defer rr.Close()
	n, err := io.ReadFull(rr, p)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = io.EOF
	case err != nil && !errors.Is(err, io.EOF):
		r.fail(err)
	}
	return n, err
}

func (r *readerAt) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = fmt.Errorf("reading %s back from the sink: %w", r.key, err)
	}
	r.mu.Unlock()
}

func (r *readerAt) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// isNotFound reports whether a bucket's error says the object is missing.
func isNotFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }
