package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Data Access (aep-api.md §5), under /data/foundation/export: the files
// of a batch (GET /batches/{id}/files, paged), a file's listing (GET
// /files/{dataSetFileId}) and a file's bytes (GET
// /files/{dataSetFileId}?path=<name>, which honours Range). Everything
// here is a GET, so everything is retried; a download that breaks
// mid-body resumes from the byte it reached.

// BatchFile is one file (or directory of files) of a batch: a
// dataSetFileId. Data Access writes its times and counts as strings.
type BatchFile struct {
	DataSetFileID string `json:"dataSetFileId"`
	DataSetViewID string `json:"dataSetViewId"`
	Version       string `json:"version"`
	Created       int64  `json:"created"` // Unix ms
	Updated       int64  `json:"updated"` // Unix ms
	IsValid       bool   `json:"isValid"`
	Records       int64  `json:"records"` // 0 when not given
	Size          int64  `json:"size"`    // bytes
	// Href is _links.self.href: where its listing is.
	Href string `json:"-"`
}

// UnmarshalJSON reads the string-typed numbers and _links.self.href.
func (f *BatchFile) UnmarshalJSON(b []byte) error {
	type plain BatchFile
	w := struct {
		*plain
		Created number   `json:"created"`
		Updated number   `json:"updated"`
		IsValid flexBool `json:"isValid"`
		Records number   `json:"records"`
		Size    number   `json:"size"`
		Links   struct {
			Self Link `json:"self"`
		} `json:"_links"`
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	f.Created, f.Updated, f.IsValid = int64(w.Created), int64(w.Updated), bool(w.IsValid)
	f.Records, f.Size, f.Href = int64(w.Records), int64(w.Size), w.Links.Self.Href
	return nil
}

// dataAccessPage is a page of a Data Access list.
type dataAccessPage[T any] struct {
	Data []T `json:"data"`
	Page struct {
		Limit int `json:"limit"`
		Count int `json:"count"` // every item, all pages
	} `json:"_page"`
	Links struct {
		Next Link `json:"next"`
	} `json:"_links"`
}

// next is the start of the page after the one that began at start, and
// whether there is one: the next link's start, else (a server that sent
// no link) what the count says is left.
func (p dataAccessPage[T]) next(start int) (int, bool) {
	if len(p.Data) == 0 {
		return 0, false
	}
	after := start + len(p.Data)
	if p.Links.Next.Href != "" {
		if u, err := url.Parse(p.Links.Next.Href); err == nil {
			if n, err := strconv.Atoi(u.Query().Get("start")); err == nil && n > start {
				return n, true
			}
		}
		return after, true
	}
	return after, p.Page.Count > after
}

// dataAccessLimit is Data Access's largest page (and its default).
const dataAccessLimit = 100

// listAll walks every page of a Data Access list.
func listAll[T any](ctx context.Context, c *Client, op, path string) ([]T, error) {
	var out []T
	start := 0
	for range maxPages {
		q := url.Values{"limit": {strconv.Itoa(dataAccessLimit)}}
		if start > 0 {
			q.Set("start", strconv.Itoa(start))
		}
		var p dataAccessPage[T]
		if err := c.do(ctx, call{op: op, method: http.MethodGet, path: path, query: q, out: &p}); err != nil {
			return nil, err
		}
		out = append(out, p.Data...)
		next, ok := p.next(start)
		if !ok {
			break
		}
		start = next
	}
	return out, nil
}

// BatchFiles returns every file of the batch, walking all pages. A batch
// that has not succeeded has none.
func (c *Client) BatchFiles(ctx context.Context, batchID string) ([]BatchFile, error) {
	return listAll[BatchFile](ctx, c, "BatchFiles", exportBase+"/batches/"+escape(batchID)+"/files")
}

// FileEntry is one entry of a dataSetFileId's listing: a file, with Name
// (the path to download) and Length, or a directory's nested
// dataSetFileId (DataSetFileID set), to list in turn.
type FileEntry struct {
	Name          string `json:"name"`
	Length        int64  `json:"length"` // bytes
	DataSetFileID string `json:"dataSetFileId,omitempty"`
	// Href is _links.self.href.
	Href string `json:"-"`
}

// IsDir reports whether the entry is a nested dataSetFileId rather than
// a file.
func (e FileEntry) IsDir() bool { return e.Name == "" && e.DataSetFileID != "" }

// UnmarshalJSON reads the string-typed length and _links.self.href.
func (e *FileEntry) UnmarshalJSON(b []byte) error {
	type plain FileEntry
	w := struct {
		*plain
		Length number `json:"length"`
		Links  struct {
			Self Link `json:"self"`
		} `json:"_links"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	e.Length, e.Href = int64(w.Length), w.Links.Self.Href
	return nil
}

// FileListing lists the dataSetFileId fileID: its files (one, usually),
// or the nested dataSetFileIds of a directory.
func (c *Client) FileListing(ctx context.Context, fileID string) ([]FileEntry, error) {
	return listAll[FileEntry](ctx, c, "FileListing", exportBase+"/files/"+escape(fileID))
}

// FileRef is one downloadable file: Download(ctx, FileID, Path, w).
type FileRef struct {
	FileID string // the dataSetFileId
	Path   string // the name to ask for
	Length int64  // bytes, as listed
}

// BatchFileRefs lists every file of the batch that can be downloaded:
// each dataSetFileId's listing, directories followed (to a small depth).
func (c *Client) BatchFileRefs(ctx context.Context, batchID string) ([]FileRef, error) {
	files, err := c.BatchFiles(ctx, batchID)
	if err != nil {
		return nil, err
	}
	var out []FileRef
	for _, f := range files {
		if out, err = c.appendFileRefs(ctx, out, f.DataSetFileID, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *Client) appendFileRefs(ctx context.Context, out []FileRef, fileID string, depth int) ([]FileRef, error) {
	const maxDepth = 4
	entries, err := c.FileListing(ctx, fileID)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		switch {
		case e.IsDir() && depth < maxDepth:
			if out, err = c.appendFileRefs(ctx, out, e.DataSetFileID, depth+1); err != nil {
				return nil, err
			}
		case e.IsDir():
			return nil, fmt.Errorf("platform: BatchFileRefs: %s nests directories more than %d deep", fileID, maxDepth)
		default:
			out = append(out, FileRef{FileID: fileID, Path: e.Name, Length: e.Length})
		}
	}
	return out, nil
}

// ErrFileChanged matches the error of a Download whose file changed
// between two of its requests (another length, another validator): the
// bytes written so far cannot be completed, start over.
var ErrFileChanged = errors.New("platform: the file changed during the download")

// errStalled is a download whose body stopped coming for
// downloadStallTimeout.
var errStalled = errors.New("no data received for too long")

// downloadStallTimeout is how long a download waits for the next bytes
// of a body before it drops the connection and resumes: Data Access
// answers within 60 s.
var downloadStallTimeout = 60 * time.Second

// Download writes the file path of the dataSetFileId fileID to w and
// returns the bytes written. If the connection breaks (or stalls) mid-body
// it asks again for the rest, Range: bytes=N- from the byte N reached
// (with If-Range, so a changed file is not spliced), expects 206 and a
// Content-Range starting at N, and checks the total length against the
// first answer's; a server that ignores Range and sends the whole file
// again has its first N bytes skipped. w gets every byte once, in order
// (so a hash of w's input is the file's hash). Failures before any byte,
// 429 and 5xx, are retried as any GET; an attempt that made progress
// resets the count. A failing w ends the download at once.
func (c *Client) Download(ctx context.Context, fileID, path string, w io.Writer) (int64, error) {
	if fileID == "" || path == "" {
		return 0, errors.New("platform: Download: a file id and a path are required")
	}
	sandbox, err := c.sandbox(ctx)
	if err != nil {
		return 0, fmt.Errorf("platform: Download: %w", err)
	}
	d := &download{
		c:       c,
		sandbox: sandbox,
		target:  c.base + exportBase + "/files/" + escape(fileID) + "?" + url.Values{"path": {path}}.Encode(),
		reqID:   newRequestID(),
		w:       &countingWriter{w: w},
		total:   -1,
	}
	return d.run(ctx)
}

// download is the state of one Download.
type download struct {
	c         *Client
	target    string
	reqID     string
	sandbox   string
	w         *countingWriter // n is the offset reached
	total     int64           // the file's length; -1 until known
	validator string          // ETag (strong) or Last-Modified of the first answer
}

func (d *download) run(ctx context.Context) (int64, error) {
	err := d.c.withRetries(ctx, call{op: "Download", method: http.MethodGet}, func(ctx context.Context, tok string) (bool, bool, error) {
		before := d.w.n
		err := d.attempt(ctx, tok)
		// The writer failed: nothing to retry.
		return d.w.n > before, err != nil && d.w.err != nil, err
	})
	return d.w.n, err
}

// attempt makes one request and copies its body to w. nil means the file
// is complete; a *NetworkError or *Error may be retried.
func (d *download) attempt(ctx context.Context, token string) error {
	c := d.c
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(actx, http.MethodGet, d.target, nil)
	if err != nil {
		return fmt.Errorf("platform: Download: %w", err)
	}
	c.setHeaders(req, token, d.reqID, d.sandbox)
	req.Header.Set("Accept", "*/*")
	offset := d.w.n
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		if d.validator != "" {
			req.Header.Set("If-Range", d.validator)
		}
	}
	stall := time.AfterFunc(downloadStallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	netErr := func(err error) error {
		if context.Cause(actx) == errStalled && ctx.Err() == nil {
			err = errStalled
		}
		return &NetworkError{Operation: "Download", Err: err}
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.metrics.observe("Download", 0, time.Since(start))
		return netErr(err)
	}
	c.metrics.observe("Download", resp.StatusCode, time.Since(start))
	defer resp.Body.Close()
	body := &stallReader{r: resp.Body, t: stall}

	switch resp.StatusCode {
	case http.StatusOK:
		v := validatorOf(resp.Header)
		if offset == 0 {
			d.validator = v
			if resp.ContentLength >= 0 {
				d.total = resp.ContentLength
			}
			break
		}
		// The whole file again: the server ignored Range, or If-Range
		// said the file changed.
		if (d.validator != "" && v != d.validator) || (d.total >= 0 && resp.ContentLength >= 0 && resp.ContentLength != d.total) {
			return fmt.Errorf("platform: Download: %w (resuming at byte %d, the server sent a new whole file)", ErrFileChanged, offset)
		}
		if _, err := io.CopyN(io.Discard, body, offset); err != nil {
			return netErr(err)
		}
	case http.StatusPartialContent:
		first, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case err != nil:
			return fmt.Errorf("platform: Download: a 206 answer: %w", err)
		case first != offset:
			return fmt.Errorf("platform: Download: asked for the bytes from %d, the answer starts at %d", offset, first)
		case size >= 0 && d.total >= 0 && size != d.total:
			return fmt.Errorf("platform: Download: %w (it was %d bytes, Content-Range says %d)", ErrFileChanged, d.total, size)
		case size >= 0:
			d.total = size
		}
	default:
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return fmt.Errorf("platform: Download: unexpected status %d", resp.StatusCode)
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return parseError("Download", resp, data, d.reqID)
	}

	if _, err := io.Copy(d.w, body); err != nil {
		if d.w.err != nil {
			return fmt.Errorf("platform: Download: writing the file: %w", d.w.err)
		}
		return netErr(err)
	}
	switch {
	case d.total < 0 || d.w.n == d.total:
		return nil
	case d.w.n < d.total:
		// A clean end short of the file (a server that sends ranges in
		// pieces): ask for the rest.
		return &NetworkError{Operation: "Download", Err: fmt.Errorf("the body ended at byte %d of %d", d.w.n, d.total)}
	}
	return fmt.Errorf("platform: Download: %w (got %d bytes, it has %d)", ErrFileChanged, d.w.n, d.total)
}

// validatorOf is what If-Range may compare: a strong ETag, else
// Last-Modified.
func validatorOf(h http.Header) string {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return h.Get("Last-Modified")
}

// parseContentRange reads "bytes <first>-<last>/<size>" (size "*" when
// unknown: -1).
func parseContentRange(v string) (first, size int64, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("Content-Range %q is not a byte range", v)
	}
	rng, sz, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("Content-Range %q has no size", v)
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, fmt.Errorf("Content-Range %q has no range", v)
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, fmt.Errorf("Content-Range %q is not a valid range", v)
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil || size <= last {
			return 0, 0, fmt.Errorf("Content-Range %q has an invalid size", v)
		}
	}
	return first, size, nil
}

// countingWriter counts what it writes and keeps w's error, so that a
// failing w is told apart from a failing body.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	if err != nil {
		cw.err = err
	}
	return n, err
}

// stallReader pushes the stall timer back at every read that brings data.
type stallReader struct {
	r io.Reader
	t *time.Timer
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.t.Reset(downloadStallTimeout)
	}
	return n, err
}
