package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The dashboard's panels that must show data once requests have run.
var mainPanels = []string{
	"Requests received", "Audiences ready", "Failures", "Waiting now",
	"Requests per minute", "End-to-end latency",
	"Messages by stage and outcome", "Stage duration p95",
	"Queue depth per consumer", "Platform calls by operation and status", "Polls per job",
	"Resident memory",
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr       string `json:"expr"`
			RefID      string `json:"refId"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "grafana", "segflow-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return d
}

// TestDashboardShape checks what Grafana and the provisioning rely on:
// the fixed uid, unique panel ids, every query on the ${datasource}
// variable, and the main panels present.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "segflow-pipeline" {
		t.Errorf("uid %q: links and provisioning expect segflow-pipeline", d.UID)
	}
	ids := map[int]string{}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		titles[p.Title] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: empty or not on ${datasource}", p.Title, tg.RefID)
			}
		}
	}
	for _, want := range mainPanels {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestPrometheusScrapesSegflowUp runs segflow up and a real Prometheus
// scraping it while requests run, loads the alert rules, and checks that
// every dashboard and alert query is valid PromQL, that the main panels
// return data, and that every segflow_* metric they name exists.
func TestPrometheusScrapesSegflowUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs segflow up and Prometheus")
	}
	prom, promtool := lookTool(t, "prometheus"), lookTool(t, "promtool")
	grafana := filepath.Join(repoRoot(t), "deploy", "grafana")
	for _, args := range [][]string{{"check", "rules", "segflow-alerts.yml"}, {"test", "rules", "segflow-alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = grafana
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	bin := segflowBinary(t)
	dir := t.TempDir()
	metricsAddr, natsAddr, upsAddr, promAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	env := append(os.Environ(),
		"SEGFLOW_DATA_DIR="+filepath.Join(dir, "data"),
		"SEGFLOW_METRICS_ADDR="+metricsAddr,
		"SEGFLOW_NATS_ADDR="+natsAddr,
		"SEGFLOW_UPS_ADDR="+upsAddr,
		"SEGFLOW_UPS_SAMPLE_PROFILES=2000",
		"SEGFLOW_LOG_LEVEL=warn",
	)
	up := exec.Command(bin, "up")
	up.Env = env
	startProcess(t, "segflow up", up, filepath.Join(dir, "up.log"))
	waitFor(t, "segflow up to be ready", 3*time.Minute, func() error {
		return probe(context.Background(), "http://"+metricsAddr+"/readyz", 2*time.Second)
	})

	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: segflow
    static_configs:
      - targets: ['%s']
`, filepath.Join(grafana, "segflow-alerts.yml"), metricsAddr)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "prometheus", exec.Command(prom,
		"--config.file="+configFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr), filepath.Join(dir, "prometheus.log"))
	api := promAPI{base: "http://" + promAddr}
	waitFor(t, "Prometheus to scrape segflow up", time.Minute, func() error {
		r, err := api.query(`up{job="segflow"} == 1`)
		if err == nil && len(r) == 0 {
			err = fmt.Errorf("not scraped yet")
		}
		return err
	})

	// Requests while Prometheus scrapes: three that succeed and one the
	// definer rejects.
	natsEnv := append(os.Environ(), "SEGFLOW_NATS_URL=nats://"+natsAddr)
	for i, pql := range []string{`homeAddress.countryCode = "US"`, `xEvent[type = "commerce.purchases"].count() > 0`, `homeAddress.countryCode = "DE"`} {
		cmd := exec.Command(bin, "request", "-json", "-timeout", "3m", "-name", fmt.Sprintf("prometheus test %d", i), "-pql", pql)
		cmd.Env = natsEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("segflow request %q: %v\n%s", pql, err, out)
		}
	}
	cmd := exec.Command(bin, "request", "-timeout", "1m", "-name", "prometheus test bad", "-pql", `homeAddress.countryCode = `)
	cmd.Env = natsEnv
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("a request with bad PQL succeeded:\n%s", out)
	}
	waitFor(t, "Prometheus to see the requests end", time.Minute, func() error {
		r, err := api.query(`sum(segflow_pipeline_requests_finished_total{result="ready"}) >= 3 and on () sum(segflow_pipeline_requests_finished_total{result="rejected"}) >= 1`)
		if err == nil && len(r) == 0 {
			err = fmt.Errorf("not yet")
		}
		return err
	})

	// What the process exposes: every segflow_* name the dashboard and the
	// rules use must be one of them.
	exposed := scrapedNames(t, "http://"+metricsAddr+"/metrics")
	d := loadDashboard(t)
	rules := alertExprs(t, filepath.Join(grafana, "segflow-alerts.yml"))
	var all []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			all = append(all, tg.Expr)
		}
	}
	for _, r := range rules {
		all = append(all, r)
	}
	for _, expr := range all {
		for _, name := range metricNames.FindAllString(expr, -1) {
			if !exposed[name] {
				t.Errorf("%s (in %q) is not a metric segflow exposes", name, expr)
			}
		}
	}

	// Every dashboard query is valid PromQL; the main panels have data.
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			expr := grafanaVars.Replace(tg.Expr)
			res, err := api.query(expr)
			if err != nil {
				t.Errorf("panel %q %s: %v", p.Title, tg.RefID, err)
				continue
			}
			if slices.Contains(mainPanels, p.Title) && tg.RefID == "A" && !hasNumber(res) {
				t.Errorf("main panel %q returns no data: %s", p.Title, expr)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		res, err := api.query(fmt.Sprintf("group by (%s) (%s)", m[2], m[1]))
		if err != nil || len(res) == 0 {
			t.Errorf("variable %s: %q has no values (%v)", v.Name, v.Definition, err)
		}
	}

	// Every alert expression is valid PromQL, and Prometheus evaluates
	// every rule of the file without error.
	for name, expr := range rules {
		if _, err := api.query(expr); err != nil {
			t.Errorf("alert %s: %v", name, err)
		}
	}
	waitFor(t, "Prometheus to evaluate every rule", time.Minute, func() error {
		var out struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name           string    `json:"name"`
						Health         string    `json:"health"`
						LastError      string    `json:"lastError"`
						LastEvaluation time.Time `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := api.get("/api/v1/rules", nil, &out); err != nil {
			return err
		}
		seen := 0
		for _, g := range out.Data.Groups {
			for _, r := range g.Rules {
				if r.LastEvaluation.Year() < 2000 {
					return fmt.Errorf("rule %s not evaluated yet", r.Name)
				}
				if r.Health != "ok" {
					t.Fatalf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
				}
				seen++
			}
		}
		if seen != len(rules) {
			return fmt.Errorf("Prometheus has %d rules, the file %d", seen, len(rules))
		}
		return nil
	})
}

var (
	metricNames = regexp.MustCompile(`\bsegflow_[a-z_]+`)
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	// grafanaVars stand in for what Grafana puts in the queries: a range
	// long enough to hold the whole test, every stage and job.
	grafanaVars = strings.NewReplacer("$__rate_interval", "10m", "$__range", "10m", "$stage", ".*", "$job", ".*")
)

// alertExprs reads the rule file's alert expressions by alert name.
func alertExprs(t *testing.T, file string) map[string]string {
	t.Helper()
	var rf struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, file, &rf)
	out := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	if len(out) == 0 {
		t.Fatal("no alert rules")
	}
	return out
}

// scrapedNames are the metric families a /metrics page has, histogram
// series names included.
func scrapedNames(t *testing.T, u string) map[string]bool {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(buf.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		names[name] = true
	}
	return names
}

// promAPI is Prometheus's HTTP API.
type promAPI struct{ base string }

func (a promAPI) get(path string, q url.Values, out any) error {
	resp, err := http.Get(a.base + path + "?" + q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	raw := new(bytes.Buffer)
	if _, err := raw.ReadFrom(resp.Body); err != nil {
		return err
	}
	if err := json.Unmarshal(raw.Bytes(), &body); err != nil {
		return fmt.Errorf("%s: %s", resp.Status, raw)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", resp.Status, body.Error)
	}
	return json.Unmarshal(raw.Bytes(), out)
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query; an invalid expression is an error.
func (a promAPI) query(expr string) ([]sample, error) {
	var out struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := a.get("/api/v1/query", url.Values{"query": {expr}}, &out); err != nil {
		return nil, err
	}
	if out.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, not vector", out.Data.ResultType)
	}
	var res []sample
	err := json.Unmarshal(out.Data.Result, &res)
	return res, err
}

// hasNumber tells whether a result has a sample that is a number (a
// quantile of nothing is NaN).
func hasNumber(res []sample) bool {
	for _, s := range res {
		if v, ok := s.Value[1].(string); ok && v != "NaN" {
			return true
		}
	}
	return false
}

// lookTool finds a program of the Debian prometheus package; CI installs
// it (.ci/run), elsewhere the test is skipped without it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (.ci/run installs the Debian package prometheus)", name)
		}
		t.Skipf("%s is not installed: apt-get install prometheus", name)
	}
	return p
}
