package ups

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// TestCrashChild is the process the crash test kills: a ups on the data
// directory it is given, printing its address.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("UPS_CRASH_DATA_DIR")
	if dir == "" {
		t.Skip("run by TestCrashIngest")
	}
	cfg := Config{Addr: "127.0.0.1:0", DataDir: dir, Clients: catClients, TokenTTL: time.Hour, MaxBodyBytes: 1 << 20, SnapshotRecords: 50, ColumnCacheMB: 1024}
	srv, err := New(cfg, Options{Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ready := make(chan string, 1)
	go func() {
		fmt.Println("addr", <-ready)
	}()
	_ = srv.Run(context.Background(), ready) // until killed
}

// TestCrashIngest kills a ups with SIGKILL at random moments while batches
// are being ingested, restarts it, and checks that the store holds exactly
// the batches Catalog calls successful, and that every batch whose
// COMPLETE was acknowledged is one of them.
func TestCrashIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var datasetID string
	acknowledged := map[string]bool{}
	tags := map[string]string{} // batch id -> the prefix of its event ids
	const rounds = 6
	for round := range rounds {
		addr, kill := startCrashChild(t, dir)
		c := &crashClient{t: t, base: "http://" + addr}
		c.login()
		if datasetID == "" {
			datasetID = c.createEventDataset()
		}
		// Send batches from a goroutine and kill the process under it.
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				tag := fmt.Sprintf("r%d-b%d", round, b)
				id, ok := c.ingest(datasetID, tag, 20, func(id string) {
					mu.Lock()
					tags[id] = tag
					mu.Unlock()
				})
				if ok {
					mu.Lock()
					acknowledged[id] = true
					mu.Unlock()
				}
			}
		}()
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		kill()
		close(stop)
		<-done
	}
	// Restart in process and let resumed batches finish.
	cfg := Config{Addr: "127.0.0.1:0", DataDir: dir, Clients: catClients, TokenTTL: time.Hour, MaxBodyBytes: 1 << 20, SnapshotRecords: 50, ColumnCacheMB: 1024}
	srv, err := New(cfg, Options{Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("restart after the crashes: %v", err)
	}
	defer srv.Close()
	caller := Caller{Org: catDevOrg, Sandbox: "prod"}
	deadline := time.Now().Add(20 * time.Second)
	var success map[string]bool
	for {
		success = map[string]bool{}
		pending := 0
		for _, b := range srv.catalog.batchObjects(caller) {
			switch b.view["status"] {
			case batchSuccess:
				success[b.id] = true
			case batchProcessing:
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d batches still processing", pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for id := range acknowledged {
		if !success[id] {
			t.Errorf("batch %s was acknowledged but is not a success", id)
		}
	}
	// The store holds the events of the successful batches, no others.
	want := 0
	prefixes := map[string]bool{}
	for id := range success {
		b, _ := srv.catalog.batch(caller, id)
		want += int(b.Metrics.RecordsWritten)
		prefixes[tags[id]] = true
	}
	ids := srv.store.eventIDs(caller)
	got := len(ids)
	for _, eid := range ids {
		prefix, _, _ := strings.Cut(eid, "/")
		if !prefixes[prefix] {
			t.Errorf("event %s is from a batch that did not succeed", eid)
		}
	}
	if got != want || got != 20*len(success) {
		t.Errorf("store holds %d events; the %d successful batches wrote %d", got, len(success), want)
	}
	t.Logf("%d rounds, %d batches acknowledged, %d successful, %d events", rounds, len(acknowledged), len(success), got)
	if len(success) == 0 {
		t.Fatal("no batch succeeded: the test proves nothing")
	}
}

func startCrashChild(t *testing.T, dir string) (addr string, kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "UPS_CRASH_DATA_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
			addr = a
			break
		}
		if strings.HasPrefix(sc.Text(), "error ") {
			t.Fatalf("child: %s", sc.Text())
		}
	}
	if addr == "" {
		t.Fatal("child exited without an address")
	}
	go func() { _, _ = bufio.NewReader(out).WriteTo(nopWriter{}) }()
	return addr, func() {
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
	}
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// crashClient talks to a child ups over loopback HTTP.
type crashClient struct {
	t     *testing.T
	base  string
	token string
}

func (c *crashClient) login() {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {catDev}, "client_secret": {"segflow-dev-secret"}}
	resp, err := http.PostForm(c.base+"/ims/token/v3", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"access_token"`
	}
	if err := jsonDecode(resp, &body); err != nil || body.Token == "" {
		c.t.Fatalf("token: %v", err)
	}
	c.token = body.Token
}

func (c *crashClient) do(method, path, contentType, body string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("x-api-key", catDev)
	req.Header.Set("x-gw-ims-org-id", catDevOrg)
	req.Header.Set("Content-Type", contentType)
	return http.DefaultClient.Do(req)
}

func (c *crashClient) createEventDataset() string {
	resp, err := c.do(http.MethodPost, catalogBase+"/dataSets", "application/json", fmt.Sprintf(eventClassBody, "crash"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var refs []string
	if err := jsonDecode(resp, &refs); err != nil || len(refs) != 1 {
		c.t.Fatalf("create dataset: %v", err)
	}
	return strings.TrimPrefix(refs[0], "@/dataSets/")
}

// ingest sends one batch of n events whose ids start with tag, calling
// created with the batch id first; ok is true when COMPLETE was
// acknowledged. Any failure (the process died) is false.
func (c *crashClient) ingest(dataset, tag string, n int, created func(id string)) (string, bool) {
	resp, err := c.do(http.MethodPost, importBase+"/batches", "application/json",
		fmt.Sprintf(`{"datasetId":%q,"inputFormat":{"format":"json"}}`, dataset))
	if err != nil {
		return "", false
	}
	var b struct {
		ID string `json:"id"`
	}
	err = jsonDecode(resp, &b)
	resp.Body.Close()
	if err != nil || b.ID == "" {
		return "", false
	}
	created(b.ID)
	var file strings.Builder
	for i := range n {
		fmt.Fprintf(&file, `{"_id":"%s/%d","timestamp":"2025-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"p%d"}]}}`+"\n", tag, i, i)
	}
	resp, err = c.do(http.MethodPut, importBase+"/batches/"+b.ID+"/datasets/"+dataset+"/files/events.json", "application/octet-stream", file.String())
	if err != nil {
		return "", false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false
	}
	resp, err = c.do(http.MethodPost, importBase+"/batches/"+b.ID+"?action=COMPLETE", "application/json", "{}")
	if err != nil {
		return "", false
	}
	resp.Body.Close()
	return b.ID, resp.StatusCode == http.StatusOK
}
