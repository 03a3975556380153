package deploytest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// repoRoot is the Segflow repository, two levels up from this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// segflowBinary builds cmd/segflow once per test run, as the Dockerfile
// does (CGO_ENABLED=0), and returns its path.
func segflowBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "segflow-deploytest-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "segflow")
		cmd := exec.Command("go", "build", "-trimpath", "-o", buildPath, "./cmd/segflow")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("building segflow: %v", buildErr)
	}
	return buildPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// envVar is one variable of "segflow env -json ROLE".
type envVar struct {
	Name     string `json:"name"`
	Default  string `json:"default"`
	Required bool   `json:"required"`
}

var (
	roleMu   sync.Mutex
	roleVars = map[string]map[string]envVar{}
)

// roleEnv is the configuration ROLE really reads, from the binary itself
// ("segflow env -json ROLE"), by variable name.
func roleEnv(t testing.TB, role string) map[string]envVar {
	t.Helper()
	roleMu.Lock()
	defer roleMu.Unlock()
	if vs, ok := roleVars[role]; ok {
		return vs
	}
	out, err := exec.Command(segflowBinary(t), "env", "-json", role).Output()
	if err != nil {
		t.Fatalf("segflow env -json %s: %v", role, err)
	}
	var list []envVar
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("segflow env -json %s: %v", role, err)
	}
	vs := make(map[string]envVar, len(list))
	for _, v := range list {
		vs[v.Name] = v
	}
	roleVars[role] = vs
	return vs
}

// roles are the subcommands that run as services, each in its own
// container (up runs them all in one).
var roles = []string{"up", "ups", "definer", "segmenter", "exporter", "reader"}

func TestRoleEnvListsTheBinarysVariables(t *testing.T) {
	for _, role := range roles {
		vs := roleEnv(t, role)
		if len(vs) == 0 {
			t.Errorf("segflow env %s lists nothing", role)
		}
	}
	if _, ok := roleEnv(t, "definer")["SEGFLOW_NATS_URL"]; !ok {
		t.Error("the definer does not list SEGFLOW_NATS_URL")
	}
	if _, ok := roleEnv(t, "ups")["SEGFLOW_NATS_URL"]; ok {
		t.Error("ups lists SEGFLOW_NATS_URL, which it does not read")
	}
}
