package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// benchOwnEnv are the variables "segflow bench pipeline" sets itself for
// the pipeline it runs: where things listen and live, and who talks to
// whom. Any other SEGFLOW_* variable of the environment (stage
// concurrency, poll intervals, ...) reaches the pipeline under test.
var benchOwnEnv = []string{
	"SEGFLOW_DATA_DIR", "SEGFLOW_NATS_ADDR", "SEGFLOW_UPS_ADDR", "SEGFLOW_METRICS_ADDR",
	"SEGFLOW_UPS_SAMPLE_PROFILES", "SEGFLOW_NATS_URL", "SEGFLOW_NATS_CREDS", "SEGFLOW_PLATFORM_URL",
	"SEGFLOW_IMS_URL", "SEGFLOW_CLIENT_ID", "SEGFLOW_CLIENT_SECRET", "SEGFLOW_ORG_ID", "SEGFLOW_IMS_SCOPE",
	"SEGFLOW_UPS_CLIENTS", "SEGFLOW_SANDBOX", "SEGFLOW_SINK_URL", "SEGFLOW_LOG_FORMAT",
}

// benchUpEnv is the environment of the bench's "segflow up": the tuning
// variables of environ (returned apart, for the report) and the bench's
// own loopback addresses (random ports), data directory and settings.
func benchUpEnv(environ []string, dataDir string) (env, tuning []string) {
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || slices.Contains(benchOwnEnv, k) {
			continue
		}
		env = append(env, kv)
		if strings.HasPrefix(k, "SEGFLOW_") && k != "SEGFLOW_LOG_LEVEL" {
			tuning = append(tuning, kv)
		}
	}
	if _, set := lookupEnv(env, "SEGFLOW_LOG_LEVEL"); !set {
		env = append(env, "SEGFLOW_LOG_LEVEL=warn")
	}
	env = append(env,
		"SEGFLOW_DATA_DIR="+dataDir,
		"SEGFLOW_NATS_ADDR=127.0.0.1:0",
		"SEGFLOW_UPS_ADDR=127.0.0.1:0",
		"SEGFLOW_METRICS_ADDR=127.0.0.1:0",
		"SEGFLOW_UPS_SAMPLE_PROFILES=0",
		"SEGFLOW_LOG_FORMAT=json",
	)
	slices.Sort(tuning)
	return env, tuning
}

// inProcessUp is a "segflow up" running in this process.
type inProcessUp struct {
	// Where it listens.
	natsURL, platformURL, metricsURL string

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startInProcessUp runs "segflow up" with environ until stop, its logs
// going to logs, and returns once it says where it listens.
func startInProcessUp(ctx context.Context, environ []string, logs io.Writer) (*inProcessUp, error) {
	ctx, cancel := context.WithCancel(ctx)
	u := &inProcessUp{cancel: cancel, done: make(chan error, 1)}
	started := make(chan upStarted, 1)
	go func() { u.done <- serveUp(ctx, environ, logs, func(s upStarted) { started <- s }) }()
	select {
	case s := <-started:
		u.natsURL, u.platformURL, u.metricsURL = s.natsURL, s.platformURL, s.metricsURL
		return u, nil
	case err := <-u.done:
		cancel()
		if err == nil {
			err = errors.New("it stopped")
		}
		u.once.Do(func() { u.err = err })
		return nil, fmt.Errorf("segflow up did not start: %w", err)
	}
}

// stop stops it and returns its error.
func (u *inProcessUp) stop() error {
	u.once.Do(func() {
		u.cancel()
		u.err = <-u.done
	})
	return u.err
}

// logTail is the end of a log file (at most n bytes), for error
// messages.
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-n)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	s := string(b)
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimSpace(s)
}

// benchLogPath is where a bench run keeps the pipeline's log.
func benchLogPath(tmp string) string { return filepath.Join(tmp, "up.log") }
