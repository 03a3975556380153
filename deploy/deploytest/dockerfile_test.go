package deploytest

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"net"
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

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// theDockerfile is the repository's Dockerfile as BuildKit reads it.
type theDockerfile struct {
	stages   []instructions.Stage
	metaArgs map[string]string // ARGs before the first FROM, with their defaults
	// lint are the warnings of the parser and of BuildKit's linter (the
	// rules "docker build --check" applies to single instructions).
	lint []string
}

var (
	dockerfileOnce sync.Once
	dockerfileVal  *theDockerfile
	dockerfileErr  error
)

// parseDockerfile parses the Dockerfile with BuildKit's parser and
// instructions, as docker build does.
func parseDockerfile(t testing.TB) *theDockerfile {
	t.Helper()
	dockerfileOnce.Do(func() {
		dockerfileVal, dockerfileErr = readDockerfile(filepath.Join(repoRoot(t), "Dockerfile"))
	})
	if dockerfileErr != nil {
		t.Fatalf("Dockerfile: %v", dockerfileErr)
	}
	return dockerfileVal
}

func readDockerfile(name string) (*theDockerfile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return nil, err
	}
	d := &theDockerfile{metaArgs: map[string]string{}}
	for _, w := range res.Warnings {
		d.lint = append(d.lint, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		d.lint = append(d.lint, rule+" (line "+strconv.Itoa(line)+"): "+msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, err
	}
	d.stages = stages
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			v := ""
			if kv.Value != nil {
				v = *kv.Value
			}
			d.metaArgs[kv.Key] = v
		}
	}
	return d, nil
}

func (d *theDockerfile) final() *instructions.Stage { return &d.stages[len(d.stages)-1] }

// stage is the stage named name, or nil.
func (d *theDockerfile) stage(name string) *instructions.Stage {
	for i := range d.stages {
		if strings.EqualFold(d.stages[i].Name, name) {
			return &d.stages[i]
		}
	}
	return nil
}

// expandMeta replaces ${NAME} and $NAME of the ARGs before the first
// FROM by their defaults, as FROM lines are expanded.
func (d *theDockerfile) expandMeta(s string) string {
	return os.Expand(s, func(k string) string { return d.metaArgs[k] })
}

// imageEnv is the environment the final image sets (its ENV lines).
func imageEnv(t testing.TB) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, c := range parseDockerfile(t).final().Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				env[kv.Key] = kv.Value
			}
		}
	}
	return env
}

// imageEntrypoint is the final image's ENTRYPOINT, which must be in exec
// form.
func imageEntrypoint(t testing.TB) []string {
	t.Helper()
	var ep *instructions.EntrypointCommand
	for _, c := range parseDockerfile(t).final().Commands {
		if e, ok := c.(*instructions.EntrypointCommand); ok {
			ep = e
		}
	}
	if ep == nil {
		t.Fatal("Dockerfile: the final stage has no ENTRYPOINT")
	}
	if ep.PrependShell {
		t.Fatalf("Dockerfile: ENTRYPOINT %q is in shell form; the runtime image has no shell", ep.CmdLine)
	}
	return ep.CmdLine
}

func TestDockerfileLints(t *testing.T) {
	d := parseDockerfile(t)
	for _, w := range d.lint {
		t.Errorf("Dockerfile: %s", w)
	}
}

func TestDockerfileStages(t *testing.T) {
	d := parseDockerfile(t)
	if len(d.stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a runtime stage", len(d.stages))
	}
	final := d.final()

	base := d.expandMeta(final.BaseName)
	repo, tag, _ := strings.Cut(base, ":")
	if !strings.HasPrefix(repo, "gcr.io/distroless/static") || !strings.Contains(tag, "nonroot") {
		t.Errorf("the runtime stage is FROM %s, want gcr.io/distroless/static-*:nonroot", base)
	}

	var user string
	var cmd *instructions.CmdCommand
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.CmdCommand:
			cmd = c
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name != "65532" && name != "nonroot" {
		t.Errorf("the runtime stage runs as USER %q, want 65532 (distroless nonroot)", user)
	}

	ep := imageEntrypoint(t)
	if len(ep) != 1 || ep[0] != "/usr/local/bin/segflow" {
		t.Errorf("ENTRYPOINT %q, want [\"/usr/local/bin/segflow\"]: the role is the command", ep)
	}
	if cmd == nil || cmd.PrependShell || len(cmd.CmdLine) == 0 || !slices.Contains(roles, cmd.CmdLine[0]) {
		t.Errorf("CMD %v, want a role in exec form such as [\"up\"]", cmd)
	}

	// The binary the runtime stage copies is the one the build stage
	// builds: statically (CGO_ENABLED=0) from ./cmd/segflow.
	var from *instructions.CopyCommand
	for _, c := range final.Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && (cp.DestPath == ep[0] || cp.DestPath == path.Dir(ep[0])+"/") {
			from = cp
		}
	}
	if from == nil || from.From == "" {
		t.Fatalf("the runtime stage does not COPY --from a build stage to %s", ep[0])
	}
	build := d.stage(from.From)
	if build == nil {
		t.Fatalf("COPY --from=%s: no such stage", from.From)
	}
	out := from.SourcePaths[0]
	var goBuild string
	for _, c := range build.Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			line := strings.Join(r.CmdLine, " ")
			if strings.Contains(line, "go build") && strings.Contains(line, "-o "+out) {
				goBuild = line
			}
		}
	}
	if goBuild == "" {
		t.Fatalf("stage %s has no RUN go build -o %s", build.Name, out)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/segflow", "-trimpath"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("the build command %q lacks %s", goBuild, want)
		}
	}

	// The build stage's Go is the one go.mod asks for.
	goLine := goDirective(t)
	image := d.expandMeta(build.BaseName)
	repo, tag, _ = strings.Cut(image, ":")
	if repo != "golang" || !strings.HasPrefix(tag, goLine) {
		t.Errorf("the build stage is FROM %s, want golang:%s (go.mod says go %s)", image, goLine, goLine)
	}

	// go.mod and go.sum are copied and downloaded before the source, so
	// that a change to the source reuses the module layer.
	var modCopied, downloaded, sourceCopied bool
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if slices.Contains(c.SourcePaths, "go.mod") && slices.Contains(c.SourcePaths, "go.sum") {
				modCopied = true
			}
			if slices.Contains(c.SourcePaths, ".") {
				sourceCopied = true
				if !downloaded {
					t.Error("the build stage copies the source before go mod download")
				}
			}
		case *instructions.RunCommand:
			if strings.Contains(strings.Join(c.CmdLine, " "), "go mod download") {
				downloaded = modCopied && !sourceCopied
			}
		}
	}
	if !modCopied || !downloaded {
		t.Error("the build stage does not COPY go.mod go.sum and RUN go mod download before the source")
	}
}

// goDirective is the major.minor of the go line of the repository's go.mod.
func goDirective(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

func TestDockerfileEnvDefaults(t *testing.T) {
	d := parseDockerfile(t)
	env := imageEnv(t)
	if len(env) == 0 {
		t.Fatal("the image sets no ENV defaults")
	}
	known := roleEnv(t, "up")
	for k := range env {
		if _, ok := known[k]; !ok {
			t.Errorf("the image sets %s, which segflow does not read (segflow env up)", k)
		}
	}

	var exposed []string
	for _, c := range d.final().Commands {
		if e, ok := c.(*instructions.ExposeCommand); ok {
			for _, p := range e.Ports {
				p, _, _ = strings.Cut(p, "/")
				exposed = append(exposed, p)
			}
		}
	}
	// Every address the image sets listens beyond the container's
	// loopback, on an EXPOSEd port, and every address a role listens on
	// is set.
	for _, k := range []string{"SEGFLOW_METRICS_ADDR", "SEGFLOW_UPS_ADDR", "SEGFLOW_NATS_ADDR"} {
		v, ok := env[k]
		if !ok {
			t.Errorf("the image does not set %s: the default %s listens on the container's loopback only", k, known[k].Default)
			continue
		}
		host, port, err := net.SplitHostPort(v)
		if err != nil {
			t.Errorf("%s=%s: %v", k, v, err)
			continue
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("%s=%s listens on %s only, want 0.0.0.0", k, v, host)
		}
		if !slices.Contains(exposed, port) {
			t.Errorf("%s=%s: port %s is not EXPOSEd (%v)", k, v, port, exposed)
		}
	}

	// The data directory is in the image, owned by the runtime user, so a
	// volume mounted there starts out writable.
	dataDir := env["SEGFLOW_DATA_DIR"]
	if !path.IsAbs(dataDir) {
		t.Fatalf("SEGFLOW_DATA_DIR=%q, want an absolute path", dataDir)
	}
	owned := false
	for _, c := range d.final().Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && path.Clean(cp.DestPath) == dataDir {
			owner, _, _ := strings.Cut(cp.Chown, ":")
			owned = owner == "65532" || owner == "nonroot"
		}
	}
	if !owned {
		t.Errorf("the image does not create %s owned by 65532 (COPY --chown=65532:65532 ... %s)", dataDir, dataDir)
	}
}

// TestDockerignore checks that .dockerignore keeps out what it should and
// nothing the build needs: go.mod, go.sum and every source and embedded
// file of the packages ./cmd/segflow is built from.
func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(rel string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	for _, rel := range []string{".git", "segflow", "pkg/pql/pql.test", "segflow-data", "services/ups/segflow-data", "deploy/deploytest", "bench/bench"} {
		if !excluded(rel) {
			t.Errorf(".dockerignore does not exclude %s", rel)
		}
	}

	needed := []string{"go.mod", "go.sum"}
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles,Module", "./cmd/segflow")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	pkgs := 0
	for {
		var p struct {
			ImportPath, Dir     string
			GoFiles, EmbedFiles []string
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		pkgs++
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(p.GoFiles, p.EmbedFiles) {
			needed = append(needed, filepath.Join(rel, f))
		}
	}
	if pkgs == 0 {
		t.Fatal("go list found no package of the module")
	}
	for _, rel := range needed {
		if excluded(rel) {
			t.Errorf(".dockerignore excludes %s, which the build needs", rel)
		}
	}
}

// TestSegflowBinaryIsStatic checks that segflow built as the Dockerfile
// builds it (CGO_ENABLED=0) is a static executable, which is what lets it
// run on distroless/static: no program interpreter, no shared libraries.
func TestSegflowBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(segflowBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("segflow has a PT_INTERP program header: it is dynamically linked")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("segflow needs shared libraries (DT_NEEDED): %v", libs)
	}
}
