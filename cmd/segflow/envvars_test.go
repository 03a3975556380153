package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/segflow/segflow/services/ups"
)

func TestEnvListsARolesVariables(t *testing.T) {
	vars := func(role string) map[string]envVar {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"env", "-json", role}, nil, nil, &out, &errOut); err != nil {
			t.Fatalf("env %s: %v\n%s", role, err, errOut.String())
		}
		var list []envVar
		if err := json.Unmarshal(out.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		m := map[string]envVar{}
		for _, v := range list {
			m[v.Name] = v
		}
		return m
	}
	reader := vars("reader")
	for _, name := range []string{"SEGFLOW_NATS_URL", "SEGFLOW_PLATFORM_URL", "SEGFLOW_CLIENT_SECRET", "SEGFLOW_SINK_URL", "SEGFLOW_DATA_DIR", "SEGFLOW_METRICS_ADDR", "SEGFLOW_BACKOFF"} {
		if _, ok := reader[name]; !ok {
			t.Errorf("the reader does not list %s", name)
		}
	}
	for _, name := range []string{"SEGFLOW_UPS_CLIENTS", "SEGFLOW_JOB_TIMEOUT", "SEGFLOW_NATS_ADDR"} {
		if _, ok := reader[name]; ok {
			t.Errorf("the reader lists %s, which it does not read", name)
		}
	}
	// A default with commas is whole, as go-envconfig reads it.
	if got := reader["SEGFLOW_BACKOFF"].Default; got != "30s,1m,2m,5m,10m" {
		t.Errorf("SEGFLOW_BACKOFF default %q", got)
	}
	up := vars("up")
	if up["SEGFLOW_UPS_SAMPLE_PROFILES"].Default != "10000" || up["SEGFLOW_NATS_ADDR"].Name == "" || up["SEGFLOW_JOB_TIMEOUT"].Name == "" {
		t.Errorf("up: %+v", up)
	}
	if _, ok := vars("ups")["SEGFLOW_NATS_URL"]; ok {
		t.Error("ups lists SEGFLOW_NATS_URL")
	}
	request := vars("request")
	if _, ok := request["SEGFLOW_SUBJECT_PREFIX"]; !ok || request["SEGFLOW_NATS_URL"].Name == "" {
		t.Errorf("request: %+v", request)
	}
	if _, ok := request["SEGFLOW_PLATFORM_URL"]; ok {
		t.Error("request lists SEGFLOW_PLATFORM_URL, which it does not read")
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"env", "definer"}, nil, nil, &out, &out); err != nil || !strings.Contains(out.String(), "SEGFLOW_ESTIMATE_TIMEOUT") {
		t.Errorf("env definer: %v\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"env", "nosuch"}, nil, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Errorf("env nosuch: %v", err)
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.Write([]byte("ready\n"))
			return
		}
		http.Error(w, "stages not consuming yet: reader", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"probe", srv.URL + "/readyz"}, nil, nil, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "ready" {
		t.Errorf("ready: %v %q", err, out.String())
	}
	err := run(context.Background(), []string{"probe", srv.URL + "/other"}, nil, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "not consuming") {
		t.Errorf("not ready: %v", err)
	}
	if err := run(context.Background(), []string{"probe", "ftp://x"}, nil, nil, &out, &errOut); err == nil {
		t.Error("probe accepted an ftp URL")
	}
	if err := run(context.Background(), []string{"probe"}, nil, nil, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("probe without a URL: %v", err)
	}
}

// A stage reads SEGFLOW_DATA_DIR with ups's own default, and nothing else
// of ups's configuration.
func TestDataDirConfigIsUPSs(t *testing.T) {
	d := envVarsOf(dataDirConfig{})
	var u []envVar
	for _, v := range envVarsOf(ups.Config{}) {
		if v.Name == "SEGFLOW_DATA_DIR" {
			u = append(u, v)
		}
	}
	if len(d) != 1 || len(u) != 1 || d[0] != u[0] {
		t.Errorf("dataDirConfig %+v, ups.Config %+v", d, u)
	}
	// A bad ups setting does not stop a stage.
	if _, err := loadPipelineConfigs(context.Background(), []string{"SEGFLOW_UPS_TOKEN_TTL=1s"}); err != nil {
		t.Errorf("a stage refused a ups setting: %v", err)
	}
}

// -h prints a command's flags and succeeds, for every command.
func TestHelpFlagSucceeds(t *testing.T) {
	for _, args := range [][]string{{"env", "-h"}, {"probe", "-h"}, {"request", "-h"}, {"status", "-h"}, {"dlq", "list", "-h"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, nil, nil, &out, &out); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}
