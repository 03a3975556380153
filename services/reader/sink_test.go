package reader

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob"
)

func TestBaseURI(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"file:///var/lib/segflow/audiences?create_dir=true&metadata=skip", "file:///var/lib/segflow/audiences/"},
		{"file:///var/lib/segflow/audiences/", "file:///var/lib/segflow/audiences/"},
		{"file://localhost/srv/a", "file:///srv/a/"},
		{"file://./rel/dir", "file://" + filepath.ToSlash(filepath.Join(wd, "rel/dir")) + "/"},
		{"file:///srv/a?prefix=team/x/", "file:///srv/a/team/x/"},
		{"file:///srv/with space", "file:///srv/with%20space/"},
		{"s3://my-bucket?region=eu-west-1&awssdk=v2", "s3://my-bucket/"},
		{"s3://my-bucket?prefix=audiences/", "s3://my-bucket/audiences/"},
		{"gs://bucket", "gs://bucket/"},
		{"azblob://container?prefix=a", "azblob://container/a/"},
	} {
		got, err := baseURI(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("baseURI(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	s := &sink{base: "s3://b/audiences/"}
	if u := s.uri("r-1/part 0.parquet"); u != "s3://b/audiences/r-1/part%200.parquet" {
		t.Errorf("uri %q", u)
	}
}

func TestObjectKeys(t *testing.T) {
	for _, tc := range []struct {
		id           string
		names, files []string
		want         []string
	}{
		{"r-1", []string{"part-0.parquet", "part-1.parquet"}, []string{"f", "f"}, []string{"r-1/part-0.parquet", "r-1/part-1.parquet"}},
		{"r-1", []string{"../../etc/passwd", `dir\x.parquet`, "/abs", ""}, []string{"f", "f", "f", "f"}, []string{"r-1/etc/passwd", "r-1/dir/x.parquet", "r-1/abs", "r-1/_"}},
		{"team/r=1", []string{"a", "a"}, []string{"f1", "f2"}, []string{"team/r=1/f1/a", "team/r=1/f2/a"}},
	} {
		if got := objectKeys(tc.id, tc.names, tc.files); !slices.Equal(got, tc.want) {
			t.Errorf("objectKeys(%q, %q) = %q, want %q", tc.id, tc.names, got, tc.want)
		}
	}
}

func TestDefaultSinkURL(t *testing.T) {
	dir := t.TempDir()
	u := DefaultSinkURL(dir)
	want := "file://" + filepath.ToSlash(filepath.Join(dir, "audiences")) + "?create_dir=true&metadata=skip&no_tmp_dir=true"
	if u != want {
		t.Fatalf("DefaultSinkURL = %q, want %q", u, want)
	}
	// It opens, creating the directory, and its objects land where their
	// URIs say.
	s, err := openSink(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.bucket.WriteAll(ctx, "r-1/a.parquet", []byte("data"), nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "audiences", "r-1", "a.parquet"))
	if err != nil || string(got) != "data" {
		t.Fatalf("stored %q, %v", got, err)
	}
	if uri := s.uri("r-1/a.parquet"); uri != "file://"+filepath.ToSlash(filepath.Join(dir, "audiences", "r-1", "a.parquet")) {
		t.Errorf("uri %q", uri)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "audiences", "r-1")); len(entries) != 1 {
		t.Errorf("sidecar or temporary files: %v", entries)
	}
	// A relative data directory gives an absolute URL.
	if rel := DefaultSinkURL("segflow-data"); !strings.HasPrefix(rel, "file:///") || !strings.Contains(rel, "/segflow-data/audiences?") {
		t.Errorf("DefaultSinkURL(relative) = %q", rel)
	}
}

func TestDriversRegistered(t *testing.T) {
	for _, scheme := range []string{"file", "s3", "gs", "azblob"} {
		if !blob.DefaultURLMux().ValidBucketScheme(scheme) {
			t.Errorf("no driver for %s://", scheme)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig(t.TempDir()).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{ParallelFiles: 1}, "SEGFLOW_SINK_URL is empty"},
		{Config{SinkURL: "ftp://host/x?token=secret", ParallelFiles: 1}, `SEGFLOW_SINK_URL "ftp://host/x": the scheme "ftp" is not one of`},
		{Config{SinkURL: "/just/a/path", ParallelFiles: 1}, "SEGFLOW_SINK_URL"},
		{Config{SinkURL: "%zz", ParallelFiles: 1}, "SEGFLOW_SINK_URL is not a URL"},
		{Config{SinkURL: "file:///x", ParallelFiles: 0}, "SEGFLOW_DOWNLOAD_CONCURRENCY"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}

// readerAt reads ranges of an object and tells the sink's errors apart.
func TestReaderAt(t *testing.T) {
	s, err := openSink(context.Background(), DefaultSinkURL(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.bucket.WriteAll(ctx, "k", []byte("0123456789"), nil); err != nil {
		t.Fatal(err)
	}
	r := &readerAt{ctx: ctx, bucket: s.bucket, key: "k"}
	p := make([]byte, 4)
	if n, err := r.ReadAt(p, 3); n != 4 || err != nil || string(p) != "3456" {
		t.Errorf("ReadAt(3) = %d %v %q", n, err, p)
	}
	if n, err := r.ReadAt(p, 8); n != 2 || err != io.EOF || string(p[:n]) != "89" {
		t.Errorf("ReadAt(8) = %d %v", n, err)
	}
	if r.failed() != nil {
		t.Errorf("failed: %v", r.failed())
	}
	missing := &readerAt{ctx: ctx, bucket: s.bucket, key: "nope"}
	if _, err := missing.ReadAt(p, 0); err == nil || missing.failed() == nil || !isNotFound(err) {
		t.Errorf("a missing object: %v, %v", err, missing.failed())
	}
}

func TestRemoveTemps(t *testing.T) {
	ctx := context.Background()
	s, err := openSink(ctx, DefaultSinkURL(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// What a delivery killed mid-write leaves, beside what must stay.
	dir := filepath.Join(strings.TrimPrefix(s.base, "file://"))
	for _, name := range []string{"r-1/part-00000.parquet", "r-1/part-00001.parquet.18a2b3c4d5e6f708.tmp", "r-1/x/part-2.parquet.1f.tmp", "r-2/part-00000.parquet.18a2b3c4d5e6f708.tmp", "r-1/notes.tmp"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.removeTemps(ctx, requestDir("r-1")+"/")
	if err != nil || n != 2 {
		t.Fatalf("removed %d: %v", n, err)
	}
	var left []string
	it := s.bucket.List(&blob.ListOptions{})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, obj.Key)
	}
	slices.Sort(left)
	want := []string{"r-1/notes.tmp", "r-1/part-00000.parquet", "r-2/part-00000.parquet.18a2b3c4d5e6f708.tmp"}
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
