package reader_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/reader"
	"github.com/segflow/segflow/services/stage/stagetest"
)

func TestConfigFromEnv(t *testing.T) {
	c := stagetest.FromEnv[reader.Config](t, nil)
	// The command fills an unset sink from the data directory.
	dir := t.TempDir()
	if c.SinkURL == "" {
		c.SinkURL = reader.DefaultSinkURL(dir)
	}
	if c != reader.DefaultConfig(dir) {
		t.Fatalf("defaults from the environment %+v, DefaultConfig %+v", c, reader.DefaultConfig(dir))
	}
	env := map[string]string{"SEGFLOW_SINK_URL": "s3://bucket?region=eu-west-1", "SEGFLOW_DOWNLOAD_CONCURRENCY": "8"}
	c = stagetest.FromEnv[reader.Config](t, env)
	if c.SinkURL != env["SEGFLOW_SINK_URL"] || c.ParallelFiles != 8 || c.Validate() != nil {
		t.Fatalf("%+v: %v", c, c.Validate())
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := reader.New(nil, reader.DefaultConfig(t.TempDir())); err == nil {
		t.Error("New without a client")
	}
}

func TestNewOpensTheSink(t *testing.T) {
	c, err := platform.New(platform.Config{BaseURL: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s", OrgID: "O@AdobeOrg", Sandbox: "prod"}, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := reader.Config{SinkURL: "file://" + filepath.ToSlash(t.TempDir()) + "/missing/dir", ParallelFiles: 1}
	if _, err := reader.New(c, cfg); err == nil || !strings.Contains(err.Error(), "SEGFLOW_SINK_URL") {
		t.Errorf("a sink directory that does not exist: %v", err)
	}
	cfg.SinkURL += "?create_dir=1"
	h, err := reader.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}
