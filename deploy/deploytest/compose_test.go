package deploytest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/mattn/go-shellwords"
	"go.yaml.in/yaml/v3"
)

// stageRoles are the four pipeline stages.
var stageRoles = []string{"definer", "segmenter", "exporter", "reader"}

// cliCommands are the segflow commands a one-off service (one under a
// profile, run with "docker compose run") may run.
var cliCommands = []string{"request", "status", "watch", "dlq", "ingest", "gen", "pql", "probe", "env"}

// loadCompose loads docker-compose.yml with the compose-spec loader, as
// docker compose does from the repository's root, with every profile and
// without the caller's environment (the file must not depend on it).
func loadCompose(t testing.TB) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(nil), cli.WithProfiles([]string{"*"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	return p
}

// composeModel is docker-compose.yml with what the tests derive from it.
type composeModel struct {
	p     *types.Project
	root  string
	image string // the Segflow image: the one a service builds from the Dockerfile
	// segflow are the services running that image, by name.
	segflow map[string]types.ServiceConfig
	nats    types.ServiceConfig
}

func newComposeModel(t testing.TB) *composeModel {
	t.Helper()
	m := &composeModel{p: loadCompose(t), root: repoRoot(t), segflow: map[string]types.ServiceConfig{}}
	var builders []string
	for name, s := range m.p.Services {
		if s.Build != nil && filepath.Clean(s.Build.Context) == m.root {
			builders = append(builders, name)
			m.image = s.Image
			if df := s.Build.Dockerfile; df != "" && df != "Dockerfile" && df != filepath.Join(m.root, "Dockerfile") {
				t.Errorf("service %s builds %s, want the repository's Dockerfile", name, df)
			}
		}
	}
	if len(builders) != 1 || m.image == "" {
		t.Fatalf("services building the repository's Dockerfile with an image name: %v, want one (the others use its image)", builders)
	}
	natsServices := 0
	for name, s := range m.p.Services {
		if s.Image == m.image {
			m.segflow[name] = s
		}
		if repo, _, _ := strings.Cut(s.Image, ":"); repo == "nats" || strings.HasSuffix(repo, "/nats") {
			m.nats = s
			natsServices++
		}
	}
	if natsServices != 1 {
		t.Fatalf("docker-compose.yml has %d NATS services, want 1", natsServices)
	}
	return m
}

// role is the segflow command a service runs: the first word of its
// command.
func role(s types.ServiceConfig) string {
	if len(s.Command) == 0 {
		return ""
	}
	return s.Command[0]
}

// longRunning are the Segflow services docker compose up starts (no
// profile), by name, sorted.
func (m *composeModel) longRunning() []string {
	var names []string
	for name, s := range m.segflow {
		if len(s.Profiles) == 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// servicesWithRole are the names of the long-running services running role.
func (m *composeModel) servicesWithRole(r string) []string {
	var names []string
	for _, name := range m.longRunning() {
		if role(m.segflow[name]) == r {
			names = append(names, name)
		}
	}
	return names
}

// env is the environment a Segflow service's container has: the image's
// ENV overridden by the service's environment.
func (m *composeModel) env(t testing.TB, s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range imageEnv(t) {
		env[k] = v
	}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// listenVar is the variable holding the address a role serves its probes
// and metrics on.
func listenVar(r string) string {
	if r == "ups" {
		return "SEGFLOW_UPS_ADDR"
	}
	return "SEGFLOW_METRICS_ADDR"
}

// listenAddr is the address a long-running Segflow service serves its
// probes and metrics on.
func (m *composeModel) listenAddr(t testing.TB, s types.ServiceConfig) (host, port string) {
	t.Helper()
	v := m.env(t, s)[listenVar(role(s))]
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("service %s: %s=%q: %v", s.Name, listenVar(role(s)), v, err)
	}
	return host, port
}

// flagValue is the value of -name or --name in args ("-n v" or "-n=v").
func flagValue(args []string, names ...string) (string, bool) {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// natsPorts are the client and monitoring ports of the NATS service.
func (m *composeModel) natsPorts() (client, monitor string) {
	client, ok := flagValue(m.nats.Command, "-p", "--port")
	if !ok {
		client = "4222"
	}
	monitor, _ = flagValue(m.nats.Command, "-m", "--http_port")
	return client, monitor
}

// mountSource is the file or directory of the repository a bind mount of
// s shows at target, if any.
func mountSource(s types.ServiceConfig, target string) (string, bool) {
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if target == v.Target {
			return v.Source, true
		}
		if rel, ok := strings.CutPrefix(target, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(v.Source, filepath.FromSlash(rel)), true
		}
	}
	return "", false
}

// volumeFor is the named volume of s that holds the container path p.
func volumeFor(s types.ServiceConfig, p string) (string, bool) {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && (p == v.Target || strings.HasPrefix(p, strings.TrimSuffix(v.Target, "/")+"/")) {
			return v.Source, true
		}
	}
	return "", false
}

// TestComposeServicesRunRealRoles checks every service of the Segflow
// image against the binary: its command is a role (or, under a profile, a
// CLI command), every SEGFLOW_ variable it sets is one that role reads,
// every variable the role requires is set.
func TestComposeServicesRunRealRoles(t *testing.T) {
	m := newComposeModel(t)
	if len(m.longRunning()) == 0 {
		t.Fatal("no Segflow service")
	}
	pipeline := roleEnv(t, "definer") // what the CLI reads: NATS, stream and Platform variables
	for _, want := range slices.Concat([]string{"ups"}, stageRoles) {
		if got := m.servicesWithRole(want); len(got) != 1 {
			t.Errorf("services running %s: %v, want one", want, got)
		}
	}
	for name, s := range m.segflow {
		if s.Entrypoint != nil {
			t.Errorf("service %s overrides the entrypoint (%q): the role is the command", name, s.Entrypoint)
		}
		r := role(s)
		var known map[string]envVar
		envRole := r
		switch {
		case len(s.Profiles) > 0:
			if !slices.Contains(cliCommands, r) {
				t.Errorf("service %s (profiles %v) runs %q, want one of %v", name, s.Profiles, s.Command, cliCommands)
				continue
			}
			known, envRole = pipeline, "definer"
		case r == "":
			t.Errorf("service %s has no command: say its role (%v)", name, roles)
			continue
		case !slices.Contains(roles, r):
			t.Errorf("service %s runs %q: %q is not a role (%v)", name, s.Command, r, roles)
			continue
		default:
			known = roleEnv(t, r)
			if len(s.Command) > 1 {
				t.Errorf("service %s: %s takes no arguments, got %q", name, r, s.Command[1:])
			}
			if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways {
				t.Errorf("service %s restarts %q, want unless-stopped", name, s.Restart)
			}
		}
		for k, v := range s.Environment {
			if v == nil {
				t.Errorf("service %s takes %s from the host's environment: give it a value", name, k)
			}
			if !strings.HasPrefix(k, "SEGFLOW_") {
				continue
			}
			if _, ok := known[k]; !ok {
				t.Errorf("service %s sets %s, which segflow %s does not read (segflow env %s)", name, k, r, envRole)
			}
		}
		env := m.env(t, s)
		for k, v := range known {
			if _, set := env[k]; v.Required && !set {
				t.Errorf("service %s does not set %s, which segflow %s requires", name, k, r)
			}
		}
	}
}

// TestComposeStagesReachNATSAndUps checks the stages' and the CLI's
// SEGFLOW_NATS_URL and SEGFLOW_PLATFORM_URL: each names a service of the
// file, at the port that service listens on.
func TestComposeStagesReachNATSAndUps(t *testing.T) {
	m := newComposeModel(t)
	natsPort, _ := m.natsPorts()
	if !slices.Contains(m.nats.Command, "-js") && !slices.Contains(m.nats.Command, "--jetstream") {
		t.Errorf("NATS service %s runs %q, without JetStream (-js)", m.nats.Name, m.nats.Command)
	}
	upsNames := m.servicesWithRole("ups")
	if len(upsNames) != 1 {
		t.Fatalf("ups services: %v, want one", upsNames)
	}
	ups := m.segflow[upsNames[0]]
	_, upsPort := m.listenAddr(t, ups)

	for name, s := range m.segflow {
		r := role(s)
		if !slices.Contains(stageRoles, r) && len(s.Profiles) == 0 {
			continue
		}
		env := m.env(t, s)
		natsURL, ok := env["SEGFLOW_NATS_URL"]
		if !ok {
			t.Errorf("service %s does not set SEGFLOW_NATS_URL (the default is the container's own loopback)", name)
		}
		for _, raw := range strings.Split(natsURL, ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || u.Scheme != "nats" || u.Hostname() != m.nats.Name || u.Port() != natsPort {
				t.Errorf("service %s: SEGFLOW_NATS_URL=%s, want nats://%s:%s (the NATS service)", name, natsURL, m.nats.Name, natsPort)
			}
		}
		platformURL, ok := env["SEGFLOW_PLATFORM_URL"]
		if !ok {
			t.Errorf("service %s does not set SEGFLOW_PLATFORM_URL (the default is the container's own loopback)", name)
		}
		if u, err := url.Parse(platformURL); err != nil || u.Scheme != "http" || u.Hostname() != ups.Name || u.Port() != upsPort {
			t.Errorf("service %s: SEGFLOW_PLATFORM_URL=%s, want http://%s:%s (ups, SEGFLOW_UPS_ADDR)", name, platformURL, ups.Name, upsPort)
		}
		if len(s.Profiles) > 0 {
			if d, ok := s.DependsOn[m.nats.Name]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("service %s does not wait for %s to be healthy", name, m.nats.Name)
			}
			continue
		}
		for _, dep := range []string{m.nats.Name, ups.Name} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("service %s: depends_on %s is %+v, want condition service_healthy", name, dep, d)
			}
		}
	}

	// Whatever waits for a service to be healthy waits for a health check.
	for name, s := range m.p.Services {
		for dep, d := range s.DependsOn {
			target, ok := m.p.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %s, which is not a service", name, dep)
				continue
			}
			if d.Condition == types.ServiceConditionHealthy && (target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0) {
				t.Errorf("service %s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
	}

	// A local "segflow request" reaches NATS, and the README's curl ups.
	published := func(s types.ServiceConfig, port string) bool {
		for _, p := range s.Ports {
			if strconv.FormatUint(uint64(p.Target), 10) == port && p.Published != "" {
				return true
			}
		}
		return false
	}
	if !published(m.nats, natsPort) {
		t.Errorf("NATS service %s does not publish port %s on the host", m.nats.Name, natsPort)
	}
	if !published(ups, upsPort) {
		t.Errorf("ups service %s does not publish port %s on the host", ups.Name, upsPort)
	}

	// The NATS image is the server version segflow is built and tested
	// with.
	want := goModVersion(t, "github.com/nats-io/nats-server/v2")
	minor := strings.Join(strings.SplitN(strings.TrimPrefix(want, "v"), ".", 3)[:2], ".")
	if _, tag, _ := strings.Cut(m.nats.Image, ":"); !strings.HasPrefix(tag, minor+"-") && !strings.HasPrefix(tag, minor+".") && tag != minor {
		t.Errorf("NATS image %s, want %s.x (go.mod has nats-server %s)", m.nats.Image, minor, want)
	}
}

// goModVersion is the version of module mod the repository's go.mod
// requires.
func goModVersion(t testing.TB, mod string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(mod) + `\s+(v\S+)`)
	mm := re.FindSubmatch(b)
	if mm == nil {
		t.Fatalf("go.mod does not require %s", mod)
	}
	return string(mm[1])
}

// TestComposeHealthchecks checks that each Segflow service's health check
// runs the image's segflow probe against the port the role listens on,
// which listens beyond the container's loopback.
func TestComposeHealthchecks(t *testing.T) {
	m := newComposeModel(t)
	entry := imageEntrypoint(t)
	for _, name := range m.longRunning() {
		s := m.segflow[name]
		host, port := m.listenAddr(t, s)
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("service %s listens on %s:%s: other containers cannot reach it", name, host, port)
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 4 {
			t.Errorf("service %s has no health check", name)
			continue
		}
		if hc.Test[0] != "CMD" || hc.Test[1] != entry[0] || hc.Test[2] != "probe" {
			t.Errorf("service %s: health check %q, want [CMD %s probe URL] (the image has no shell)", name, hc.Test, entry[0])
			continue
		}
		u, err := url.Parse(hc.Test[len(hc.Test)-1])
		if err != nil {
			t.Errorf("service %s: health check %q: %v", name, hc.Test, err)
			continue
		}
		wantPath := "/readyz"
		if role(s) == "ups" {
			wantPath = "/healthz"
		}
		if u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") || u.Port() != port || u.Path != wantPath {
			t.Errorf("service %s: health check probes %s, want http://127.0.0.1:%s%s (%s)", name, u, port, wantPath, listenVar(role(s)))
		}
	}
	// NATS is healthy when JetStream is.
	_, monitor := m.natsPorts()
	hc := m.nats.HealthCheck
	if hc == nil || len(hc.Test) == 0 || monitor == "" || !strings.Contains(strings.Join(hc.Test, " "), ":"+monitor+"/healthz?js-enabled-only=true") {
		t.Errorf("NATS service: health check %v, want /healthz?js-enabled-only=true on the monitoring port (-m %s)", hc, monitor)
	}
}

// TestComposeVolumes checks that state lives in named volumes and that
// every file mounted from the repository exists.
func TestComposeVolumes(t *testing.T) {
	m := newComposeModel(t)
	for name, s := range m.p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if rel, err := filepath.Rel(m.root, v.Source); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("service %s mounts %s, outside the repository", name, v.Source)
			} else if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which does not exist", name, rel)
			}
		}
	}
	for _, name := range m.servicesWithRole("ups") {
		dir := m.env(t, m.segflow[name])["SEGFLOW_DATA_DIR"]
		if _, ok := volumeFor(m.segflow[name], dir); !ok {
			t.Errorf("service %s keeps its data in %s, which is not a named volume", name, dir)
		}
	}
	for _, name := range m.servicesWithRole("reader") {
		sink := m.env(t, m.segflow[name])["SEGFLOW_SINK_URL"]
		u, err := url.Parse(sink)
		if err != nil || u.Scheme != "file" {
			t.Errorf("service %s: SEGFLOW_SINK_URL=%q, want a file:// URL on a volume", name, sink)
			continue
		}
		if _, ok := volumeFor(m.segflow[name], u.Path); !ok {
			t.Errorf("service %s writes audiences to %s, which is not on a named volume", name, u.Path)
		}
	}
	if sd, ok := flagValue(m.nats.Command, "-sd", "--store_dir"); !ok {
		t.Error("the NATS service has no JetStream store directory (-sd)")
	} else if _, ok := volumeFor(m.nats, sd); !ok {
		t.Errorf("the NATS service stores JetStream in %s, which is not a named volume", sd)
	}
}

// serviceByImage is the one service whose image repository is repo.
func (m *composeModel) serviceByImage(t testing.TB, repo string) types.ServiceConfig {
	t.Helper()
	var found []types.ServiceConfig
	for _, s := range m.p.Services {
		if r, _, _ := strings.Cut(s.Image, ":"); r == repo {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("services with image %s: %d, want 1", repo, len(found))
	}
	return found[0]
}

func readYAML(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// promConfig is the part of a Prometheus configuration file the test reads.
type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		Scheme        string `yaml:"scheme"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// prometheusPort is the port Prometheus listens on.
func prometheusPort(s types.ServiceConfig) string {
	if v, ok := flagValue(s.Command, "--web.listen-address"); ok {
		if _, p, err := net.SplitHostPort(v); err == nil {
			return p
		}
	}
	return "9090"
}

// TestComposePrometheus checks that Prometheus scrapes every Segflow
// service at the port it serves /metrics on, under a job named after it,
// and loads the alert rules.
func TestComposePrometheus(t *testing.T) {
	m := newComposeModel(t)
	prom := m.serviceByImage(t, "prom/prometheus")
	configPath, ok := flagValue(prom.Command, "--config.file")
	if !ok {
		configPath = "/etc/prometheus/prometheus.yml"
	}
	src, ok := mountSource(prom, configPath)
	if !ok {
		t.Fatalf("Prometheus reads %s, which is not mounted from the repository", configPath)
	}
	var cfg promConfig
	readYAML(t, src, &cfg)
	if d, err := time.ParseDuration(cfg.Global.ScrapeInterval); err != nil || d > 15*time.Second {
		t.Errorf("scrape_interval %q, want at most 15s (5s)", cfg.Global.ScrapeInterval)
	}

	type scrape struct{ job, path string }
	targets := map[string][]scrape{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = append(targets[tg], scrape{sc.JobName, sc.MetricsPath})
				host, _, err := net.SplitHostPort(tg)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, tg, err)
				} else if _, ok := m.p.Services[host]; !ok {
					t.Errorf("job %s scrapes %s, which is not a service", sc.JobName, tg)
				}
			}
		}
	}
	for _, name := range m.longRunning() {
		_, port := m.listenAddr(t, m.segflow[name])
		tg := net.JoinHostPort(name, port)
		got := targets[tg]
		if len(got) != 1 {
			t.Errorf("Prometheus scrapes %s %d times, want once", tg, len(got))
			continue
		}
		if got[0].job != name {
			t.Errorf("Prometheus scrapes %s under job %q, want %q", tg, got[0].job, name)
		}
		if got[0].path != "" && got[0].path != "/metrics" {
			t.Errorf("Prometheus scrapes %s%s, want /metrics", tg, got[0].path)
		}
	}

	// The rule files are the mounted alert rules.
	alerts := filepath.Join(m.root, "deploy", "grafana", "segflow-alerts.yml")
	loaded := false
	for _, rf := range cfg.RuleFiles {
		matched := false
		for _, v := range prom.Volumes {
			if ok, _ := path.Match(rf, v.Target); ok && v.Type == types.VolumeTypeBind {
				matched = true
				loaded = loaded || v.Source == alerts
			}
		}
		if !matched {
			t.Errorf("rule_files %s: no file mounted there", rf)
		}
	}
	if !loaded {
		t.Errorf("Prometheus does not load %s (rule_files %v)", alerts, cfg.RuleFiles)
	}
	var rules struct {
		Groups []any `yaml:"groups"`
	}
	readYAML(t, alerts, &rules)
	if rules.Groups == nil {
		t.Errorf("%s has no groups", alerts)
	}

	// Prometheus's own check, with the rule files where the container
	// sees them, when promtool is installed (CI installs it).
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: the configuration is only parsed")
		return
	}
	var raw map[string]any
	readYAML(t, src, &raw)
	var resolved []string
	for _, rf := range cfg.RuleFiles {
		for _, v := range prom.Volumes {
			if ok, _ := path.Match(rf, v.Target); ok && v.Type == types.VolumeTypeBind {
				resolved = append(resolved, v.Source)
			}
		}
	}
	raw["rule_files"] = resolved
	b, err := yaml.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	checked := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(checked, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", checked).CombinedOutput(); err != nil {
		t.Errorf("promtool check config %s (rule files %v): %v\n%s", src, resolved, err, out)
	}
}

// TestComposeGrafana checks Grafana's provisioning: the Prometheus
// datasource (uid prometheus, the compose Prometheus, default) and the
// Segflow dashboard mounted where the file provider reads.
func TestComposeGrafana(t *testing.T) {
	m := newComposeModel(t)
	graf := m.serviceByImage(t, "grafana/grafana")
	prom := m.serviceByImage(t, "prom/prometheus")
	env := map[string]string{}
	for k, v := range graf.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	if env["GF_AUTH_ANONYMOUS_ENABLED"] != "true" {
		t.Error("Grafana does not let anonymous viewers in (GF_AUTH_ANONYMOUS_ENABLED)")
	}

	provisioned := func(kind string) []string {
		dir, ok := mountSource(graf, "/etc/grafana/provisioning/"+kind)
		if !ok {
			t.Fatalf("Grafana: nothing is mounted at /etc/grafana/provisioning/%s", kind)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
		if len(files) == 0 {
			t.Fatalf("Grafana: no provisioning file in %s", dir)
		}
		return files
	}

	var defaultUID string
	for _, f := range provisioned("datasources") {
		var ds struct {
			Datasources []struct {
				Name, UID, Type, URL string
				IsDefault            bool `yaml:"isDefault"`
			} `yaml:"datasources"`
		}
		readYAML(t, f, &ds)
		for _, d := range ds.Datasources {
			if d.IsDefault {
				defaultUID = d.UID
			}
			if d.UID != "prometheus" {
				continue
			}
			u, err := url.Parse(d.URL)
			if d.Type != "prometheus" || err != nil || u.Hostname() != prom.Name || u.Port() != prometheusPort(prom) {
				t.Errorf("datasource %s: type %s, url %s; want prometheus at http://%s:%s", d.UID, d.Type, d.URL, prom.Name, prometheusPort(prom))
			}
		}
	}
	if defaultUID != "prometheus" {
		t.Errorf("the default datasource is %q, want the Prometheus one (uid prometheus)", defaultUID)
	}

	dashboard := filepath.Join(m.root, "deploy", "grafana", "segflow-dashboard.json")
	found := false
	for _, f := range provisioned("dashboards") {
		var pv struct {
			Providers []struct {
				Type    string
				Options struct{ Path string }
			} `yaml:"providers"`
		}
		readYAML(t, f, &pv)
		for _, p := range pv.Providers {
			if p.Type != "file" && p.Type != "" {
				continue
			}
			for _, v := range graf.Volumes {
				if v.Type == types.VolumeTypeBind && v.Source == dashboard && path.Dir(v.Target) == path.Clean(p.Options.Path) {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("Grafana: %s is not mounted in the directory of a file provider", dashboard)
	}
	if home, ok := env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; ok {
		if src, ok := mountSource(graf, home); !ok || src != dashboard {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=%s is not the mounted dashboard", home)
		}
	}
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ UID string }
	if err := json.Unmarshal(b, &d); err != nil || d.UID != "segflow-pipeline" {
		t.Errorf("%s: uid %q (%v), want segflow-pipeline", dashboard, d.UID, err)
	}
}

// documentedRequest is the "docker compose run" command docker-compose.yml
// documents: the service it runs and the command's arguments.
func documentedRequest(t testing.TB) (service string, args []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "#"))
		if !strings.HasPrefix(line, "docker compose run ") || !strings.Contains(line, " request ") {
			continue
		}
		words, err := shellwords.Parse(line)
		if err != nil {
			t.Fatalf("docker-compose.yml documents %q: %v", line, err)
		}
		i := 3
		for i < len(words) && strings.HasPrefix(words[i], "-") {
			i++
		}
		if i+1 >= len(words) {
			t.Fatalf("docker-compose.yml documents %q: no service and command", line)
		}
		return words[i], words[i+1:]
	}
	t.Fatal(`docker-compose.yml does not document a "docker compose run ... request" command`)
	return "", nil
}

func TestComposeDocumentsARequest(t *testing.T) {
	m := newComposeModel(t)
	service, args := documentedRequest(t)
	s, ok := m.segflow[service]
	if !ok {
		t.Fatalf("the documented request runs service %s, not a Segflow service", service)
	}
	if len(s.Profiles) == 0 {
		t.Errorf("service %s has no profile: docker compose up starts it", service)
	}
	if args[0] != "request" {
		t.Errorf("the documented command runs %q, want request", args)
	}
	for _, f := range []string{"-name", "-pql"} {
		if _, ok := flagValue(args, f); !ok {
			t.Errorf("the documented request has no %s", f)
		}
	}
}

// TestComposeUpRequestGivesBatchReady runs docker-compose.yml's topology
// without Docker: each service on its own loopback address (a service's
// name resolves to it, 0.0.0.0 and 127.0.0.1 in the service are it), NATS
// as the nats-server of go.mod with the compose command, ups and the
// stages as segflow with exactly the compose and image environment, each
// container's file system and named volumes in temporary directories.
// Services start in depends_on order once their dependencies' health
// checks (the compose ones, run as written) pass; then the documented
// request must end in batch.ready with its files in the reader's sink.
func TestComposeUpRequestGivesBatchReady(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, ups and the four stages")
	}
	m := newComposeModel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := newComposeEmu(t, m, ctx)

	// The services docker compose up starts that the emulation can run:
	// Prometheus and Grafana are not checked here (nothing waits for them).
	var order []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		s := m.p.Services[name]
		deps := slices.Sorted(func(yield func(string) bool) {
			for d := range s.DependsOn {
				if !yield(d) {
					return
				}
			}
		})
		for _, d := range deps {
			visit(d)
		}
		order = append(order, name)
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range m.p.Services {
			if !yield(n) {
				return
			}
		}
	}) {
		s := m.p.Services[name]
		if len(s.Profiles) == 0 && (e.runnable(s)) {
			visit(name)
		}
	}
	for _, name := range order {
		s := m.p.Services[name]
		if !e.runnable(s) {
			t.Fatalf("service %s is needed but cannot run without Docker (image %s)", name, s.Image)
		}
		for dep, d := range s.DependsOn {
			switch d.Condition {
			case types.ServiceConditionHealthy:
				e.waitHealthy(dep)
			case types.ServiceConditionStarted, "":
			default:
				t.Fatalf("service %s: depends_on %s condition %s is not emulated", name, dep, d.Condition)
			}
		}
		e.start(name)
	}
	for _, name := range order {
		e.waitHealthy(name) // docker compose up --wait
	}
	t.Logf("up: %v (%s)", order, time.Since(e.began).Round(time.Millisecond))

	service, args := documentedRequest(t)
	cliSvc := m.p.Services[service]
	env := e.environ(cliSvc)
	args = slices.Concat(args[:1], []string{"-json", "-timeout", "150s"}, args[1:])
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = env
	cmd.Dir = e.fsPath(cliSvc, "/")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	t.Logf("segflow %q (%s):\n%s", args, time.Since(began).Round(time.Millisecond), stderr.String())
	if err != nil {
		t.Fatalf("segflow %s: %v\nstdout: %s", args[0], err, stdout.String())
	}
	var ready struct {
		RequestID string `json:"requestId"`
		Segment   struct {
			Name string `json:"name"`
		} `json:"segment"`
		BatchID      string `json:"batchId"`
		ProfileCount int64  `json:"profileCount"`
		Files        []struct {
			URI     string `json:"uri"`
			Name    string `json:"name"`
			Size    int64  `json:"size"`
			Records int64  `json:"records"`
			SHA256  string `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &ready); err != nil {
		t.Fatalf("segflow request -json printed %q: %v", stdout.String(), err)
	}
	if name, _ := flagValue(args, "-name"); ready.RequestID == "" || ready.BatchID == "" || ready.Segment.Name != name {
		t.Errorf("batch.ready: request %q, batch %q, segment %q; want ids and segment %q", ready.RequestID, ready.BatchID, ready.Segment.Name, name)
	}
	if len(ready.Files) == 0 || ready.ProfileCount <= 0 {
		t.Fatalf("batch.ready has %d files and %d profiles, want some: %s", len(ready.Files), ready.ProfileCount, stdout.String())
	}

	// The files are in the reader's sink, on its volume.
	readers := m.servicesWithRole("reader")
	sink, err := url.Parse(e.environMap(m.segflow[readers[0]])["SEGFLOW_SINK_URL"])
	if err != nil {
		t.Fatal(err)
	}
	var records int64
	for _, f := range ready.Files {
		u, err := url.Parse(f.URI)
		if err != nil || u.Scheme != "file" || !strings.HasPrefix(u.Path, strings.TrimSuffix(sink.Path, "/")+"/") {
			t.Errorf("file %s is not in the reader's sink %s", f.URI, sink.Path)
			continue
		}
		b, err := os.ReadFile(u.Path)
		if err != nil {
			t.Errorf("file %s: %v", f.Name, err)
			continue
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("file %s: %d bytes, sha256 %x; the manifest says %d, %s", f.Name, len(b), sum, f.Size, f.SHA256)
		}
		records += f.Records
	}
	if records != ready.ProfileCount {
		t.Errorf("the files hold %d records, the manifest counts %d profiles", records, ready.ProfileCount)
	}
	t.Logf("batch.ready: %d profiles in %d file(s), %s in all", ready.ProfileCount, len(ready.Files), time.Since(e.began).Round(time.Millisecond))
}

// emuSampleProfiles bounds ups's sample in the emulation, to keep it fast.
const emuSampleProfiles = 2000

// composeEmu runs compose services as local processes.
type composeEmu struct {
	t       *testing.T
	ctx     context.Context
	m       *composeModel
	bin     string // segflow
	natsBin string
	entry   string // the image's entrypoint, which is bin
	dir     string
	addr    map[string]string // service -> its loopback address
	began   time.Time

	mu      sync.Mutex
	procs   map[string]*process
	healthy map[string]bool
}

func newComposeEmu(t *testing.T, m *composeModel, ctx context.Context) *composeEmu {
	e := &composeEmu{
		t: t, ctx: ctx, m: m, dir: t.TempDir(), began: time.Now(),
		addr: map[string]string{}, procs: map[string]*process{}, healthy: map[string]bool{},
	}
	e.bin = segflowBinary(t)
	e.entry = imageEntrypoint(t)[0]
	e.natsBin = filepath.Join(e.dir, "nats-server")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.natsBin, "github.com/nats-io/nats-server/v2")
	build.Dir = m.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building nats-server from go.mod: %v\n%s", err, out)
	}
	// A random 127.a.b.0/24 per run, so that runs at the same time do not
	// meet; the ports are the compose ones.
	base := fmt.Sprintf("127.%d.%d.", 64+rand.IntN(190), rand.IntN(256))
	for i, name := range slices.Sorted(maps.Keys(m.p.Services)) {
		e.addr[name] = base + strconv.Itoa(2+i)
	}
	return e
}

// runnable says whether the emulation can run s: the Segflow image or NATS.
func (e *composeEmu) runnable(s types.ServiceConfig) bool {
	return s.Image == e.m.image || s.Name == e.m.nats.Name
}

// fsPath is where the container path p of service s is: on a named
// volume's directory (shared by the services mounting it), or in the
// service's own file system.
func (e *composeEmu) fsPath(s types.ServiceConfig, p string) string {
	p = path.Clean(p)
	best := ""
	dir := filepath.Join(e.dir, "fs", s.Name)
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeVolume || len(v.Target) <= len(best) {
			continue
		}
		if p == v.Target || strings.HasPrefix(p, strings.TrimSuffix(v.Target, "/")+"/") {
			best = v.Target
			dir = filepath.Join(e.dir, "volumes", v.Source)
		}
	}
	if best == "" {
		return filepath.Join(dir, filepath.FromSlash(p))
	}
	return filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, best)))
}

// hostPort matches host:port in a value (an address, a URL's authority).
var hostPort = regexp.MustCompile(`(^|[/@,])([A-Za-z0-9_.-]*)(:[0-9]+)`)

// rewrite turns a value as the container of s sees it into the
// emulation's: absolute paths and file:// URLs into its file system,
// service names into their addresses, its own wildcard and loopback
// addresses into its address.
func (e *composeEmu) rewrite(s types.ServiceConfig, v string) string {
	switch {
	case strings.HasPrefix(v, "/"):
		return e.fsPath(s, v)
	case strings.HasPrefix(v, "file:///"):
		if u, err := url.Parse(v); err == nil {
			u.Path = filepath.ToSlash(e.fsPath(s, u.Path))
			u.RawPath = ""
			return u.String()
		}
	}
	return hostPort.ReplaceAllStringFunc(v, func(match string) string {
		sm := hostPort.FindStringSubmatch(match)
		host := sm[2]
		switch {
		case host == "" || host == "0.0.0.0" || host == "127.0.0.1" || host == "localhost":
			host = e.addr[s.Name]
		case e.addr[host] != "":
			host = e.addr[host]
		}
		return sm[1] + host + sm[3]
	})
}

// environMap is the environment of the container of the Segflow service
// s, rewritten for the emulation.
func (e *composeEmu) environMap(s types.ServiceConfig) map[string]string {
	env := e.m.env(e.t, s)
	if n, err := strconv.Atoi(env["SEGFLOW_UPS_SAMPLE_PROFILES"]); err == nil && n > emuSampleProfiles {
		env["SEGFLOW_UPS_SAMPLE_PROFILES"] = strconv.Itoa(emuSampleProfiles)
	}
	for k, v := range env {
		env[k] = e.rewrite(s, v)
	}
	return env
}

func (e *composeEmu) environ(s types.ServiceConfig) []string {
	var env []string
	for k, v := range e.environMap(s) {
		env = append(env, k+"="+v)
	}
	tmp := e.fsPath(s, "/tmp")
	for _, d := range []string{tmp, e.fsPath(s, "/"), e.fsPath(s, imageEnv(e.t)["SEGFLOW_DATA_DIR"])} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	env = append(env, "TMPDIR="+tmp, "HOME="+e.fsPath(s, "/"))
	slices.Sort(env)
	return env
}

// start starts service name's container as a process in its own process
// group, stopped at the end of the test.
func (e *composeEmu) start(name string) {
	t := e.t
	s := e.m.p.Services[name]
	var cmd *exec.Cmd
	if s.Image == e.m.image {
		cmd = exec.Command(e.bin, s.Command...)
		cmd.Env = e.environ(s)
	} else {
		var args []string
		for _, a := range s.Command {
			if strings.HasPrefix(a, "/") {
				a = e.fsPath(s, a)
				if err := os.MkdirAll(a, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			args = append(args, a)
		}
		cmd = exec.Command(e.natsBin, append(args, "-a", e.addr[name])...)
		cmd.Env = []string{"HOME=" + e.fsPath(s, "/")}
	}
	cmd.Dir = e.fsPath(s, "/")
	if err := os.MkdirAll(cmd.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, name, cmd, filepath.Join(e.dir, name+".log"))
	e.mu.Lock()
	e.procs[name] = p
	e.mu.Unlock()
	t.Logf("started %s at %s: %s", name, e.addr[name], strings.Join(cmd.Args, " "))
}

// waitHealthy waits until the health check of service name passes, as
// docker compose does: within start_period plus retries times interval.
func (e *composeEmu) waitHealthy(name string) {
	t := e.t
	e.mu.Lock()
	done, p := e.healthy[name], e.procs[name]
	e.mu.Unlock()
	if done {
		return
	}
	if p == nil {
		t.Fatalf("waiting for %s, which is not started", name)
	}
	s := e.m.p.Services[name]
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) == 0 {
		return
	}
	dur := func(d *types.Duration, def time.Duration) time.Duration {
		if d == nil {
			return def
		}
		return time.Duration(*d)
	}
	retries := uint64(3)
	if hc.Retries != nil {
		retries = *hc.Retries
	}
	limit := dur(hc.StartPeriod, 0) + time.Duration(retries)*dur(hc.Interval, 30*time.Second)
	deadline := time.Now().Add(limit)
	began := time.Now()
	var last error
	for {
		if last = e.check(s, dur(hc.Timeout, 30*time.Second)); last == nil {
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was healthy: %v", name, p.cmd.ProcessState)
		case <-e.ctx.Done():
			t.Fatalf("%s is not healthy when the test's time is up: %v", name, last)
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not healthy after %s (start_period + retries × interval): %v", name, limit, last)
		}
	}
	t.Logf("%s healthy after %s", name, time.Since(began).Round(time.Millisecond))
	e.mu.Lock()
	e.healthy[name] = true
	e.mu.Unlock()
}

// check runs s's health check once: the image's segflow as it is, a wget
// as an HTTP GET.
func (e *composeEmu) check(s types.ServiceConfig, timeout time.Duration) error {
	test := s.HealthCheck.Test
	if test[0] != "CMD" {
		e.t.Fatalf("service %s: health check %q is not emulated (only CMD)", s.Name, test)
	}
	var args []string
	for _, a := range test[1:] {
		args = append(args, e.rewrite(s, a))
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	switch {
	case test[1] == e.entry && s.Image == e.m.image:
		out, err := exec.CommandContext(ctx, e.bin, args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(test[1:], " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	case path.Base(test[1]) == "wget":
		return probe(ctx, args[len(args)-1], timeout)
	}
	e.t.Fatalf("service %s: health check %q is not emulated", s.Name, test)
	return nil
}
