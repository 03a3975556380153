package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/segflow/segflow/services/stage/stagetest"
)

func TestNATSConfigValidate(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(creds, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     natsConfig
		wantErr string
	}{
		{name: "default", cfg: natsConfig{URL: "nats://127.0.0.1:4222"}},
		{name: "cluster", cfg: natsConfig{URL: "nats://a:4222, tls://b:4222,wss://c"}},
		{name: "creds", cfg: natsConfig{URL: "nats://a:4222", Creds: creds}},
		{name: "empty", cfg: natsConfig{URL: " "}, wantErr: "SEGFLOW_NATS_URL is empty"},
		{name: "scheme", cfg: natsConfig{URL: "http://a:4222"}, wantErr: `SEGFLOW_NATS_URL: "http://a:4222" has scheme "http"`},
		{name: "no host", cfg: natsConfig{URL: "127.0.0.1:4222"}, wantErr: "SEGFLOW_NATS_URL"},
		{name: "password hidden", cfg: natsConfig{URL: "http://u:secret@a:4222"}, wantErr: "u:xxxxx@a"},
		{name: "missing creds", cfg: natsConfig{URL: "nats://a:4222", Creds: creds + ".gone"}, wantErr: "SEGFLOW_NATS_CREDS"},
		{name: "creds directory", cfg: natsConfig{URL: "nats://a:4222", Creds: t.TempDir()}, wantErr: "SEGFLOW_NATS_CREDS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("err = %v shows the password", err)
			}
		})
	}
}

func TestNATSConfigFromEnv(t *testing.T) {
	ctx := context.Background()
	cfg, err := loadEnvConfig[natsConfig](ctx, nil)
	if err != nil || cfg.URL != "nats://127.0.0.1:4222" || cfg.Creds != "" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = loadEnvConfig[natsConfig](ctx, []string{"SEGFLOW_NATS_URL=tls://nats.example:4222"})
	if err != nil || cfg.URL != "tls://nats.example:4222" {
		t.Fatalf("%+v, %v", cfg, err)
	}
	_, err = loadEnvConfig[natsConfig](ctx, []string{"SEGFLOW_NATS_CREDS=/nonexistent.creds"})
	if err == nil || !strings.Contains(err.Error(), "invalid configuration: SEGFLOW_NATS_CREDS") {
		t.Fatalf("err = %v, want the variable named", err)
	}
}

func TestConnectPipeline(t *testing.T) {
	env := stagetest.Start(t, nil)
	ctx := context.Background()
	c, err := connectPipeline(ctx, pipelineEnviron(env), "test")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Another prefix names a stream nobody created.
	_, err = connectPipeline(ctx, append(pipelineEnviron(env), "SEGFLOW_SUBJECT_PREFIX=acme"), "test")
	if err == nil || !strings.Contains(err.Error(), "SEGFLOW_acme does not exist") {
		t.Fatalf("err = %v, want the missing stream named", err)
	}
	_, err = connectPipeline(ctx, []string{"SEGFLOW_NATS_URL=ftp://x"}, "test")
	if err == nil || !strings.Contains(err.Error(), "SEGFLOW_NATS_URL") {
		t.Fatalf("err = %v, want the variable named", err)
	}
}

// pipelineEnviron is the environment of commands run against env.
func pipelineEnviron(env *stagetest.Env) []string {
	return []string{"SEGFLOW_NATS_URL=" + env.URL, "TERM=dumb"}
}

// lockedBuffer is a bytes.Buffer a command writes to while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// started is a command running in the background.
type started struct {
	out, errOut lockedBuffer
	done        chan error
	cancel      context.CancelFunc
}

// start runs the command args against env until it returns or the test
// cancels it.
func start(t *testing.T, env *stagetest.Env, stdin io.Reader, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s := &started{done: make(chan error, 1), cancel: cancel}
	t.Cleanup(cancel)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	go func() { s.done <- run(ctx, args, pipelineEnviron(env), stdin, &s.out, &s.errOut) }()
	return s
}

// wait waits for the command's end.
func (s *started) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not end within 30s; stdout %q, stderr %q", s.out.String(), s.errOut.String())
		return nil
	}
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscribeMsgs returns the messages published on subject from now on.
func subscribeMsgs(t *testing.T, env *stagetest.Env, subject string) <-chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 64)
	sub, err := env.NC.ChanSubscribe(subject, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

func nextMsg(t *testing.T, ch <-chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// storedMessages is how many messages the pipeline stream holds.
func storedMessages(t *testing.T, env *stagetest.Env) uint64 {
	t.Helper()
	info, err := env.Pipeline.Stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
