package deploytest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// freeAddr is a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a program a test started (startProcess).
type process struct {
	cmd *exec.Cmd
	// exited is closed once the program has exited.
	exited chan struct{}
}

// startProcess starts cmd in a process group of its own, its output in
// logFile, and stops it when the test ends: SIGTERM, then SIGKILL after
// 15 s. The end of its output is logged if the test failed.
func startProcess(t testing.TB, what string, cmd *exec.Cmd, logFile string) *process {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("starting %s: %v", what, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			t.Logf("%s did not stop in 15s after SIGTERM: killing it", what)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(logFile)
			if len(out) > 8000 {
				out = out[len(out)-8000:]
			}
			t.Logf("%s output (end of %s):\n%s", what, logFile, out)
		}
	})
	return p
}

// probe GETs u and wants a 2xx, within timeout.
func probe(ctx context.Context, u string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s %s", u, resp.Status, body)
	}
	return nil
}

// waitFor polls check until it passes or the timeout ends.
func waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
