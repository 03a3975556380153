package deploytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// helmVersion is the Helm that CI runs (.ci/run, HELM_VERSION).
const helmVersion = "v3.22.0"

const (
	chartImage = "ghcr.io/segflow/segflow"
	chartUID   = 65532
	// chartRelease and chartNamespace are what every test renders with.
	chartRelease   = "sf"
	chartNamespace = "segflow"
)

// chartDir is the chart, as CI lints it.
func chartDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "deploy", "helm", "segflow")
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBinary installs Helm once per test run with "go install" (go run
// would link it again for every call), next to the segflow binary that
// TestMain removes.
func helmBinary(t testing.TB) string {
	t.Helper()
	segflowBinary(t) // creates buildDir
	helmOnce.Do(func() {
		bin := filepath.Join(buildDir, "helm-bin")
		cmd := exec.Command("go", "install", "helm.sh/helm/v3/cmd/helm@"+helmVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=false")
		cmd.Dir = buildDir
		if out, err := cmd.CombinedOutput(); err != nil {
			helmErr = fmt.Errorf("go install helm@%s: %v\n%s", helmVersion, err, out)
			return
		}
		helmPath = filepath.Join(bin, "helm")
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// runHelm runs helm and returns its stdout; stderr comes with an error.
// Helm logs each symbolic link of files/ on stderr, which is expected.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// valuesFile writes a values file for -f.
func valuesFile(t testing.TB, values string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// chartCase is a value set and what the chart must render from it.
type chartCase struct {
	name   string
	values string

	ups            bool
	natsInChart    bool
	natsURL        string // with natsInChart false
	platformURL    string // with ups false
	imsURL         string // with ups false
	existingSecret string
	secretKeys     [2]string
	pdb            bool
	replicas       map[string]int32
	serviceMonitor bool
	prometheusRule bool
	dashboard      bool
	dashboardLabel [2]string
	readerVolume   bool
	sinkURL        string
	natsCreds      bool
	testPod        bool // helm test's request Pod
}

func defaultCase() chartCase {
	return chartCase{
		name:           "defaults",
		ups:            true,
		natsInChart:    true,
		secretKeys:     [2]string{"client-id", "client-secret"},
		pdb:            true,
		replicas:       map[string]int32{"definer": 1, "segmenter": 1, "exporter": 1, "reader": 1},
		dashboardLabel: [2]string{"grafana_dashboard", "1"},
		readerVolume:   true,
		sinkURL:        "file:///data/audiences?create_dir=true&metadata=skip&no_tmp_dir=true",
		testPod:        true,
	}
}

func chartCases() []chartCase {
	external := defaultCase()
	external.name = "external"
	external.values = `
ups:
  enabled: false
nats:
  enabled: false
  url: nats://nats.messaging.svc.cluster.local:4222
  credentials:
    existingSecret: nats-user
    key: segflow.creds
platform:
  url: https://platform.adobe.io
  imsUrl: https://ims-na1.adobelogin.com
  orgId: 0123456789ABCDEF@AdobeOrg
  sandbox: dev
  existingSecret: aep-credentials
  secretKeys:
    clientId: id
    clientSecret: secret
podDisruptionBudget:
  enabled: false
reader:
  sinkUrl: s3://audiences?region=eu-west-1
  persistence:
    enabled: false
`
	external.ups, external.natsInChart = false, false
	external.natsURL = "nats://nats.messaging.svc.cluster.local:4222"
	external.platformURL = "https://platform.adobe.io"
	external.imsURL = "https://ims-na1.adobelogin.com"
	external.existingSecret = "aep-credentials"
	external.secretKeys = [2]string{"id", "secret"}
	external.pdb = false
	external.readerVolume = false
	external.sinkURL = "s3://audiences?region=eu-west-1"
	external.natsCreds = true

	monitoring := defaultCase()
	monitoring.name = "monitoring"
	monitoring.values = `
metrics:
  serviceMonitor:
    enabled: true
    labels:
      release: kube-prometheus-stack
  prometheusRule:
    enabled: true
    labels:
      release: kube-prometheus-stack
dashboards:
  enabled: true
  label: grafana_dashboard_segflow
  labelValue: "yes"
  annotations:
    grafana_folder: Segflow
tests:
  enabled: false
`
	monitoring.serviceMonitor, monitoring.prometheusRule, monitoring.dashboard = true, true, true
	monitoring.dashboardLabel = [2]string{"grafana_dashboard_segflow", "yes"}
	monitoring.testPod = false

	scaled := defaultCase()
	scaled.name = "scaled"
	scaled.values = `
definer:
  replicas: 2
segmenter:
  replicas: 3
  extraEnv:
    - name: SEGFLOW_JOB_TIMEOUT
      value: 3h
exporter:
  replicas: 2
  resources:
    requests:
      cpu: 100m
      memory: 128Mi
    limits:
      memory: 512Mi
reader:
  replicas: 2
  sinkUrl: gs://audiences
  persistence:
    enabled: false
  extraEnv:
    - name: GOOGLE_APPLICATION_CREDENTIALS
      value: /var/run/secrets/gcp/key.json
stages:
  env:
    SEGFLOW_STAGE_CONCURRENCY: 64
    SEGFLOW_SUBJECT_PREFIX: acme
ups:
  sampleProfiles: 0
  persistence:
    existingClaim: ups-data
metrics:
  serviceMonitor:
    enabled: true
`
	scaled.replicas = map[string]int32{"definer": 2, "segmenter": 3, "exporter": 2, "reader": 2}
	scaled.readerVolume = false
	scaled.sinkURL = "gs://audiences"
	scaled.serviceMonitor = true

	return []chartCase{defaultCase(), external, monitoring, scaled}
}

func (c chartCase) args(t testing.TB, cmd ...string) []string {
	args := append([]string{}, cmd...)
	if c.values != "" {
		args = append(args, "-f", valuesFile(t, c.values))
	}
	return args
}

func TestHelmLint(t *testing.T) {
	for _, c := range chartCases() {
		t.Run(c.name, func(t *testing.T) {
			out, err := runHelm(t, c.args(t, "lint", "--strict", "--namespace", chartNamespace, chartDir(t))...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

func TestHelmTemplate(t *testing.T) {
	for _, c := range chartCases() {
		t.Run(c.name, func(t *testing.T) {
			out, err := runHelm(t, c.args(t, "template", chartRelease, chartDir(t), "--namespace", chartNamespace)...)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeManifests(t, out)
			checkChart(t, c, objs)
		})
	}
}

// TestHelmTemplateFails: values that cannot work fail with what to set.
func TestHelmTemplateFails(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"no NATS", "nats:\n  enabled: false\n", "set nats.url to your NATS server"},
		{"two NATS", "nats:\n  url: nats://nats:4222\n", "set nats.enabled=false to use the NATS server at nats.url"},
		{"no credentials", "platform:\n  clientId: \"\"\n", "set platform.clientId and platform.clientSecret, or platform.existingSecret"},
		{"no Platform", "ups:\n  enabled: false\nplatform:\n  url: \"\"\n", "set platform.url"},
		{"a misspelt value", "definer:\n  replica: 2\n", "replica"},
		{"a bad sink", "reader:\n  sinkUrl: /data/audiences\n", "sinkUrl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runHelm(t, "template", chartRelease, chartDir(t), "-f", valuesFile(t, tc.values))
			if err == nil {
				t.Fatalf("helm template with\n%s\nsucceeded", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestHelmNotes renders NOTES.txt (helm template does not) and checks
// that it tells how to submit and follow a request, with names of objects
// the chart renders.
func TestHelmNotes(t *testing.T) {
	// A copy of the chart whose notes are a ConfigMap's data.
	dir := filepath.Join(t.TempDir(), "segflow")
	copyDir(t, chartDir(t), dir)
	notes, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "templates", "NOTES.txt"))
	tpl := `{{- define "deploytest.notes" }}` + string(notes) + `{{- end }}`
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deploytest-notes\ndata:\n  NOTES.txt: {{ include \"deploytest.notes\" . | toJson }}\n"
	writeFile(t, filepath.Join(dir, "templates", "_deploytest_notes.tpl"), tpl)
	writeFile(t, filepath.Join(dir, "templates", "deploytest-notes.yaml"), cm)

	for _, c := range chartCases() {
		t.Run(c.name, func(t *testing.T) {
			out, err := runHelm(t, c.args(t, "template", chartRelease, dir, "--namespace", chartNamespace)...)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeManifests(t, out)
			var text string
			for _, cm := range objs.configMaps {
				if cm.Name == "deploytest-notes" {
					text = cm.Data["NOTES.txt"]
				}
			}
			definer := objs.deployment(t, "definer").Name
			for _, want := range []string{
				"kubectl exec -n " + chartNamespace + " deploy/" + definer + " -- \\\n    segflow request -name \"US customers\" -pql 'homeAddress.countryCode = \"US\"'",
				"deploy/" + definer + " -- segflow watch",
				"segflow status",
				c.sinkURL,
				"/metrics",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("NOTES.txt does not say %q:\n%s", want, text)
				}
			}
			// Every deploy/NAME and svc/NAME is rendered.
			for _, m := range regexp.MustCompile(`\b(deploy|svc)/([a-z0-9-]+)`).FindAllStringSubmatch(text, -1) {
				found := false
				if m[1] == "deploy" {
					for _, d := range objs.deployments {
						found = found || d.Name == m[2]
					}
				} else {
					for _, s := range objs.services {
						found = found || s.Name == m[2]
					}
				}
				if !found {
					t.Errorf("NOTES.txt names %s, which the chart does not render", m[0])
				}
			}
		})
	}
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	// Walk does not follow symbolic links; ReadFile does, as Helm does.
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// manifests are the rendered objects, decoded as their Kubernetes types.
type manifests struct {
	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	serviceAccounts []*corev1.ServiceAccount
	pvcs            []*corev1.PersistentVolumeClaim
	pdbs            []*policyv1.PodDisruptionBudget
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
	pods            []*corev1.Pod
	all             []metav1.Object
}

// chartKinds are the kinds the chart may render, by apiVersion and kind,
// each with where a decoded one goes.
var chartKinds = map[string]func(m *manifests) any{
	"apps/v1/Deployment":                      into(func(m *manifests) *[]*appsv1.Deployment { return &m.deployments }),
	"apps/v1/StatefulSet":                     into(func(m *manifests) *[]*appsv1.StatefulSet { return &m.statefulSets }),
	"v1/Service":                              into(func(m *manifests) *[]*corev1.Service { return &m.services }),
	"v1/ConfigMap":                            into(func(m *manifests) *[]*corev1.ConfigMap { return &m.configMaps }),
	"v1/Pod":                                  into(func(m *manifests) *[]*corev1.Pod { return &m.pods }),
	"v1/Secret":                               into(func(m *manifests) *[]*corev1.Secret { return &m.secrets }),
	"v1/ServiceAccount":                       into(func(m *manifests) *[]*corev1.ServiceAccount { return &m.serviceAccounts }),
	"v1/PersistentVolumeClaim":                into(func(m *manifests) *[]*corev1.PersistentVolumeClaim { return &m.pvcs }),
	"policy/v1/PodDisruptionBudget":           into(func(m *manifests) *[]*policyv1.PodDisruptionBudget { return &m.pdbs }),
	"monitoring.coreos.com/v1/ServiceMonitor": into(func(m *manifests) *[]*monitoringv1.ServiceMonitor { return &m.serviceMonitors }),
	"monitoring.coreos.com/v1/PrometheusRule": into(func(m *manifests) *[]*monitoringv1.PrometheusRule { return &m.prometheusRules }),
}

// into makes a new T for a document and appends it to the list of m that
// list picks.
func into[T any](list func(m *manifests) *[]*T) func(m *manifests) any {
	return func(m *manifests) any {
		o := new(T)
		l := list(m)
		*l = append(*l, o)
		return o
	}
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifests splits helm template's output into documents and decodes
// each strictly as its Kubernetes type: a field the type does not have, a
// duplicate key, trailing data or an unknown kind fails the test. The
// decoded object, encoded again, must hold every field as written (this
// also catches a field whose case differs, which encoding/json accepts).
func decodeManifests(t testing.TB, out string) *manifests {
	t.Helper()
	m := &manifests{}
	for i, doc := range docSeparator.Split(out, -1) {
		source := ""
		if s := regexp.MustCompile(`(?m)^# Source: (.*)$`).FindStringSubmatch(doc); s != nil {
			source = s[1]
		}
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("document %d (%s): %v\n%s", i, source, err, doc)
		}
		if string(js) == "null" {
			continue // comments only
		}
		var meta metav1.TypeMeta
		if err := json.Unmarshal(js, &meta); err != nil {
			t.Fatalf("document %d (%s): %v", i, source, err)
		}
		newObj, ok := chartKinds[meta.APIVersion+"/"+meta.Kind]
		if !ok {
			t.Errorf("%s: apiVersion %q kind %q is not a kind this test knows", source, meta.APIVersion, meta.Kind)
			continue
		}
		obj := newObj(m)
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Errorf("%s: %s: %v", source, meta.Kind, err)
			continue
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			t.Errorf("%s: data after the %s", source, meta.Kind)
		}
		again, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var written, read any
		json.Unmarshal(js, &written)
		json.Unmarshal(again, &read)
		if path, ok := jsonSubset(written, read, ""); !ok {
			t.Errorf("%s: %s: %s is not read as written", source, meta.Kind, path)
		}
		mo := obj.(metav1.Object)
		m.all = append(m.all, mo)
		checkObjectMeta(t, meta.Kind, mo)
	}
	return m
}

// jsonSubset reports whether every field of a is in b with the same value.
func jsonSubset(a, b any, path string) (string, bool) {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return path, false
		}
		for k, v := range a {
			if p, ok := jsonSubset(v, bm[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(bs) != len(a) {
			return path, false
		}
		for i := range a {
			if p, ok := jsonSubset(a[i], bs[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	default:
		if !reflect.DeepEqual(a, b) {
			return path, false
		}
		return "", true
	}
}

// checkObjectMeta: names and labels Kubernetes accepts.
func checkObjectMeta(t testing.TB, kind string, o metav1.Object) {
	t.Helper()
	nameErrs := validation.IsDNS1123Subdomain(o.GetName())
	if kind == "Service" {
		nameErrs = validation.IsDNS1035Label(o.GetName())
	}
	for _, e := range nameErrs {
		t.Errorf("%s %q: %s", kind, o.GetName(), e)
	}
	checkLabels(t, kind+" "+o.GetName(), o.GetLabels())
}

func checkLabels(t testing.TB, what string, ls map[string]string) {
	t.Helper()
	for k, v := range ls {
		for _, e := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label %q: %s", what, k, e)
		}
		for _, e := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s=%q: %s", what, k, v, e)
		}
	}
}

// workload is a Deployment or a StatefulSet.
type workload struct {
	kind, name string
	replicas   int32
	selector   *metav1.LabelSelector
	pod        *corev1.PodTemplateSpec
	claims     []corev1.PersistentVolumeClaim
}

func (m *manifests) workloads() []workload {
	var ws []workload
	one := func(p *int32) int32 {
		if p == nil {
			return 1
		}
		return *p
	}
	for _, d := range m.deployments {
		ws = append(ws, workload{"Deployment", d.Name, one(d.Spec.Replicas), d.Spec.Selector, &d.Spec.Template, nil})
	}
	for _, s := range m.statefulSets {
		ws = append(ws, workload{"StatefulSet", s.Name, one(s.Spec.Replicas), s.Spec.Selector, &s.Spec.Template, s.Spec.VolumeClaimTemplates})
	}
	return ws
}

// deployment is the Deployment whose container runs role.
func (m *manifests) deployment(t testing.TB, role string) *appsv1.Deployment {
	t.Helper()
	var found []*appsv1.Deployment
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if chartRole(c) == role {
				found = append(found, d)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Deployments run %s, want 1", len(found), role)
	}
	return found[0]
}

// chartRole is the role a segflow container runs, or "".
func chartRole(c corev1.Container) string {
	if !strings.HasPrefix(c.Image, chartImage+":") && !strings.HasPrefix(c.Image, chartImage+"@") {
		return ""
	}
	if len(c.Args) == 0 {
		return "?"
	}
	return c.Args[0]
}

func selects(sel map[string]string, podLabels map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(podLabels))
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	return env
}

// containerPort resolves a probe's or Service's port (a name or a number)
// to a port of the container, or 0.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func checkChart(t *testing.T, c chartCase, m *manifests) {
	secrets := map[string]*corev1.Secret{}
	for _, s := range m.secrets {
		secrets[s.Name] = s
	}
	claims := map[string]bool{}
	for _, p := range m.pvcs {
		claims[p.Name] = true
	}
	serviceAccounts := map[string]bool{}
	for _, sa := range m.serviceAccounts {
		serviceAccounts[sa.Name] = true
	}

	// Every workload: pods its selector matches, secure, with resources
	// and probes; volumes that exist.
	for _, w := range m.workloads() {
		what := w.kind + " " + w.name
		pod := w.pod
		if w.selector == nil || len(w.selector.MatchExpressions) > 0 || !selects(w.selector.MatchLabels, pod.Labels) {
			t.Errorf("%s: its selector %v does not select its pods %v", what, w.selector, pod.Labels)
		}
		checkLabels(t, what+" pods", pod.Labels)
		checkPodSecurity(t, what, &pod.Spec)
		if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token, which Segflow does not use", what)
		}
		if sa := pod.Spec.ServiceAccountName; sa != "" && !serviceAccounts[sa] {
			t.Errorf("%s: service account %q is not rendered", what, sa)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.Spec.Volumes {
			volumes[v.Name] = v
			if v.PersistentVolumeClaim != nil && !claims[v.PersistentVolumeClaim.ClaimName] &&
				v.PersistentVolumeClaim.ClaimName != "ups-data" {
				t.Errorf("%s: volume %s: claim %q is neither rendered nor the existingClaim", what, v.Name, v.PersistentVolumeClaim.ClaimName)
			}
			if v.Secret != nil && secrets[v.Secret.SecretName] == nil && v.Secret.SecretName != "nats-user" {
				t.Errorf("%s: volume %s: Secret %q is neither rendered nor an existing one of the values", what, v.Name, v.Secret.SecretName)
			}
		}
		for _, vc := range w.claims {
			volumes[vc.Name] = corev1.Volume{Name: vc.Name}
		}
		for _, ctr := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
			for _, vm := range ctr.VolumeMounts {
				if _, ok := volumes[vm.Name]; !ok {
					t.Errorf("%s: container %s mounts %q, which is not a volume of the pod", what, ctr.Name, vm.Name)
				}
			}
			res := ctr.Resources
			if res.Requests.Cpu().IsZero() || res.Requests.Memory().IsZero() || res.Limits.Memory().IsZero() {
				t.Errorf("%s: container %s: resources %v: want cpu and memory requests and a memory limit", what, ctr.Name, res)
			}
			if ctr.LivenessProbe == nil || ctr.ReadinessProbe == nil {
				t.Errorf("%s: container %s has no liveness or readiness probe", what, ctr.Name)
			}
		}
		if role := chartRole(pod.Spec.Containers[0]); role != "" {
			checkSegflowPod(t, c, m, w, role, secrets)
		}
	}

	// One Deployment per role; the right replicas and strategies.
	for stage, n := range c.replicas {
		d := m.deployment(t, stage)
		if *d.Spec.Replicas != n {
			t.Errorf("Deployment %s: %d replicas, want %d", d.Name, *d.Spec.Replicas, n)
		}
		if stage == "reader" && c.readerVolume && d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("Deployment %s: strategy %s with a ReadWriteOnce volume, want Recreate", d.Name, d.Spec.Strategy.Type)
		}
	}
	for _, d := range m.deployments {
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Errorf("Deployment %s: %d containers, want 1", d.Name, len(d.Spec.Template.Spec.Containers))
		}
		role := chartRole(d.Spec.Template.Spec.Containers[0])
		if !slices.Contains(roles, role) || role == "up" {
			t.Errorf("Deployment %s runs %q, not one of %v", d.Name, role, roles[1:])
		}
	}

	checkTestPod(t, c, m, serviceAccounts)
	checkUps(t, c, m)
	checkNATS(t, c, m)
	checkServices(t, m)
	checkPDBs(t, c, m)
	checkMonitoring(t, c, m)
}

// checkTestPod checks helm test's Pod: a hook that sends one request
// with what the request command reads, to the NATS and subjects the
// stages use.
func checkTestPod(t *testing.T, c chartCase, m *manifests, serviceAccounts map[string]bool) {
	if !c.testPod {
		if len(m.pods) != 0 {
			t.Errorf("%d Pods with tests.enabled false", len(m.pods))
		}
		return
	}
	if len(m.pods) != 1 {
		t.Fatalf("%d Pods, want helm test's one", len(m.pods))
	}
	pod := m.pods[0]
	what := "Pod " + pod.Name
	if pod.Annotations["helm.sh/hook"] != "test" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: hook %q, restart policy %q: want a test hook that runs once", what, pod.Annotations["helm.sh/hook"], pod.Spec.RestartPolicy)
	}
	checkLabels(t, what, pod.Labels)
	checkPodSecurity(t, what, &pod.Spec)
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken || !serviceAccounts[pod.Spec.ServiceAccountName] {
		t.Errorf("%s: service account %q (token mounted: %v)", what, pod.Spec.ServiceAccountName, pod.Spec.AutomountServiceAccountToken)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", what, len(pod.Spec.Containers))
	}
	ctr := pod.Spec.Containers[0]
	if chartRole(ctr) != "request" || !slices.Contains(ctr.Args, "-pql") || !slices.Contains(ctr.Args, "-name") || !slices.Contains(ctr.Args, "-timeout") {
		t.Errorf("%s: args %q, want a segflow request with -name, -pql and -timeout", what, ctr.Args)
	}
	if res := ctr.Resources; res.Requests.Cpu().IsZero() || res.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %v", what, res)
	}
	known := roleEnv(t, "request")
	env := envOf(ctr)
	for name := range env {
		if _, ok := known[name]; strings.HasPrefix(name, "SEGFLOW_") && !ok {
			t.Errorf("%s sets %s, which segflow request does not read", what, name)
		}
	}
	// The same NATS, credentials and subjects as the stages.
	definer := envOf(m.deployment(t, "definer").Spec.Template.Spec.Containers[0])
	for _, name := range []string{"SEGFLOW_NATS_URL", "SEGFLOW_NATS_CREDS", "SEGFLOW_SUBJECT_PREFIX"} {
		if env[name].Value != definer[name].Value {
			t.Errorf("%s: %s = %q, the definer's %q", what, name, env[name].Value, definer[name].Value)
		}
	}
	if c.natsCreds {
		var mounted bool
		for _, v := range pod.Spec.Volumes {
			mounted = mounted || v.Secret != nil && v.Secret.SecretName == "nats-user"
		}
		if !mounted || len(ctr.VolumeMounts) != 1 || !strings.HasPrefix(env["SEGFLOW_NATS_CREDS"].Value, ctr.VolumeMounts[0].MountPath+"/") {
			t.Errorf("%s: the NATS credentials are not mounted where SEGFLOW_NATS_CREDS says", what)
		}
	}
}

func checkPodSecurity(t *testing.T, what string, spec *corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil {
		t.Errorf("%s: no pod securityContext", what)
		return
	}
	is := func(p *int64, v int64) bool { return p != nil && *p == v }
	if !is(psc.RunAsUser, chartUID) || !is(psc.RunAsGroup, chartUID) || !is(psc.FSGroup, chartUID) ||
		psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and runAsUser, runAsGroup, fsGroup %d", what, psc, chartUID)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile is not RuntimeDefault", what)
	}
	for _, ctr := range slices.Concat(spec.InitContainers, spec.Containers) {
		sc := ctr.SecurityContext
		if sc == nil {
			t.Errorf("%s: container %s has no securityContext", what, ctr.Name)
			continue
		}
		yes := func(b *bool) bool { return b != nil && *b }
		no := func(b *bool) bool { return b != nil && !*b }
		bad := []string{}
		if !yes(sc.RunAsNonRoot) {
			bad = append(bad, "runAsNonRoot")
		}
		if !is(sc.RunAsUser, chartUID) || !is(sc.RunAsGroup, chartUID) {
			bad = append(bad, "runAsUser/runAsGroup")
		}
		if !yes(sc.ReadOnlyRootFilesystem) {
			bad = append(bad, "readOnlyRootFilesystem")
		}
		if !no(sc.AllowPrivilegeEscalation) {
			bad = append(bad, "allowPrivilegeEscalation false")
		}
		if yes(sc.Privileged) {
			bad = append(bad, "not privileged")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			bad = append(bad, "capabilities drop ALL")
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad = append(bad, "seccompProfile RuntimeDefault")
		}
		if len(bad) > 0 {
			t.Errorf("%s: container %s: securityContext %+v: want %s", what, ctr.Name, sc, strings.Join(bad, ", "))
		}
	}
}

// checkSegflowPod: the container runs a role with variables the role
// reads, listens where its probes and ports say, and finds its Secret,
// NATS and the Platform.
func checkSegflowPod(t *testing.T, c chartCase, m *manifests, w workload, role string, secrets map[string]*corev1.Secret) {
	t.Helper()
	ctr := w.pod.Spec.Containers[0]
	what := fmt.Sprintf("%s %s: container %s (%s)", w.kind, w.name, ctr.Name, role)
	// A Service named RELEASE-ups with release "segflow" would otherwise
	// put SEGFLOW_UPS_PORT=tcp://... and the like in every container.
	if l := w.pod.Spec.EnableServiceLinks; l == nil || *l {
		t.Errorf("%s %s: enableServiceLinks is not false", w.kind, w.name)
	}
	if len(ctr.Command) > 0 {
		t.Errorf("%s: sets command %v; the image's entrypoint is segflow", what, ctr.Command)
	}
	if len(ctr.Args) != 1 {
		t.Errorf("%s: args %v, want [%s]", what, ctr.Args, role)
	}
	known := roleEnv(t, role)
	env := envOf(ctr)
	seen := map[string]bool{}
	for _, e := range ctr.Env {
		if seen[e.Name] {
			t.Errorf("%s: %s is set twice", what, e.Name)
		}
		if strings.HasPrefix(e.Name, "SEGFLOW_") {
			if _, ok := known[e.Name]; !ok {
				t.Errorf("%s: sets %s, which segflow %s does not read", what, e.Name, role)
			}
		}
		for _, ref := range envRef.FindAllStringSubmatch(e.Value, -1) {
			if !seen[ref[1]] {
				t.Errorf("%s: %s refers to $(%s), which is not set before it", what, e.Name, ref[1])
			}
		}
		seen[e.Name] = true
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			if s := secrets[ref.Name]; s != nil {
				if _, ok := s.Data[ref.Key]; !ok {
					t.Errorf("%s: %s: Secret %s has no key %q", what, e.Name, ref.Name, ref.Key)
				}
			} else if ref.Name != c.existingSecret {
				t.Errorf("%s: %s: Secret %q is neither rendered nor platform.existingSecret", what, e.Name, ref.Name)
			}
			if ref.Key != c.secretKeys[0] && ref.Key != c.secretKeys[1] {
				t.Errorf("%s: %s: key %q, want one of %v", what, e.Name, ref.Key, c.secretKeys)
			}
		}
	}
	for name, v := range known {
		if v.Required {
			if _, ok := env[name]; !ok {
				t.Errorf("%s: %s is required and not set", what, name)
			}
		}
	}
	value := func(name string) string {
		e, ok := env[name]
		if !ok {
			t.Errorf("%s: %s is not set", what, name)
		}
		return e.Value
	}
	fromSecret := func(name, key string) {
		e, ok := env[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s: %s does not come from the Secret's key %q", what, name, key)
		}
	}

	// Where the process listens, and its probes.
	listenVar, liveness, readiness := "SEGFLOW_METRICS_ADDR", "/healthz", "/readyz"
	if role == "ups" {
		listenVar, readiness = "SEGFLOW_UPS_ADDR", "/healthz"
	}
	host, portStr, err := net.SplitHostPort(value(listenVar))
	if err != nil {
		t.Fatalf("%s: %s: %v", what, listenVar, err)
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("%s: %s listens on %q, which the kubelet and Services cannot reach", what, listenVar, host)
	}
	port, _ := strconv.Atoi(portStr)
	if containerPort(ctr, intstr.FromInt32(int32(port))) == 0 {
		t.Errorf("%s: listens on %d, which is not a container port (%v)", what, port, ctr.Ports)
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"liveness", ctr.LivenessProbe, liveness}, {"readiness", ctr.ReadinessProbe, readiness}, {"startup", ctr.StartupProbe, liveness}} {
		if p.probe == nil {
			if p.kind != "startup" {
				t.Errorf("%s: no %s probe", what, p.kind)
			}
			continue
		}
		g := p.probe.HTTPGet
		if g == nil {
			t.Errorf("%s: the %s probe is not an HTTP GET", what, p.kind)
			continue
		}
		if g.Path != p.path || containerPort(ctr, g.Port) != int32(port) {
			t.Errorf("%s: the %s probe gets %s on %s, want %s on %d", what, p.kind, g.Path, g.Port.String(), p.path, port)
		}
	}

	// Files: a data directory, a file sink and NATS credentials are on
	// volumes (the root file system is read-only).
	mounted := func(p string) *corev1.VolumeMount {
		var best *corev1.VolumeMount
		for i, vm := range ctr.VolumeMounts {
			if p == vm.MountPath || strings.HasPrefix(p, strings.TrimSuffix(vm.MountPath, "/")+"/") {
				if best == nil || len(vm.MountPath) > len(best.MountPath) {
					best = &ctr.VolumeMounts[i]
				}
			}
		}
		return best
	}
	volume := func(name string) corev1.Volume {
		for _, v := range w.pod.Spec.Volumes {
			if v.Name == name {
				return v
			}
		}
		return corev1.Volume{}
	}
	if e, ok := env["SEGFLOW_DATA_DIR"]; ok && mounted(e.Value) == nil {
		t.Errorf("%s: SEGFLOW_DATA_DIR %s is not on a volume", what, e.Value)
	}
	if mounted("/tmp") == nil {
		t.Errorf("%s: /tmp is not on a volume", what)
	}
	if e, ok := env["SEGFLOW_NATS_CREDS"]; ok {
		vm := mounted(e.Value)
		if vm == nil || volume(vm.Name).Secret == nil {
			t.Errorf("%s: SEGFLOW_NATS_CREDS %s is not on a Secret volume", what, e.Value)
		}
	} else if c.natsCreds && role != "ups" {
		t.Errorf("%s: SEGFLOW_NATS_CREDS is not set", what)
	}

	if role == "ups" {
		if !c.ups {
			t.Errorf("%s: ups runs with ups.enabled false", what)
		}
		vm := mounted(value("SEGFLOW_DATA_DIR"))
		if vm == nil || volume(vm.Name).PersistentVolumeClaim == nil {
			t.Errorf("%s: the data directory is not on a PersistentVolumeClaim", what)
		}
		clients := value("SEGFLOW_UPS_CLIENTS")
		wantClients := "$(UPS_CLIENT_ID):$(UPS_CLIENT_SECRET)@SEGFLOWDEV@AdobeOrg"
		if clients != wantClients {
			t.Errorf("%s: SEGFLOW_UPS_CLIENTS %q, want %q", what, clients, wantClients)
		}
		fromSecret("UPS_CLIENT_ID", c.secretKeys[0])
		fromSecret("UPS_CLIENT_SECRET", c.secretKeys[1])
		return
	}

	// A stage.
	if !slices.Contains([]string{"definer", "segmenter", "exporter", "reader"}, role) {
		t.Errorf("%s: %q is not a stage", what, role)
	}
	wantNATS := c.natsURL
	if c.natsInChart {
		wantNATS = "nats://" + chartRelease + "-nats:4222"
	}
	if got := value("SEGFLOW_NATS_URL"); got != wantNATS {
		t.Errorf("%s: SEGFLOW_NATS_URL %q, want %q", what, got, wantNATS)
	}
	wantPlatform := c.platformURL
	if c.ups {
		ups := m.deployment(t, "ups")
		var svc *corev1.Service
		for _, s := range m.services {
			if selects(s.Spec.Selector, ups.Spec.Template.Labels) {
				svc = s
			}
		}
		if svc == nil {
			t.Fatalf("no Service selects ups")
		}
		wantPlatform = fmt.Sprintf("http://%s:%d", svc.Name, svc.Spec.Ports[0].Port)
		if _, ok := env["SEGFLOW_IMS_URL"]; ok {
			t.Errorf("%s: SEGFLOW_IMS_URL is set with ups, which serves IMS itself", what)
		}
	} else if got := value("SEGFLOW_IMS_URL"); got != c.imsURL {
		t.Errorf("%s: SEGFLOW_IMS_URL %q, want %q", what, got, c.imsURL)
	}
	if got := value("SEGFLOW_PLATFORM_URL"); got != wantPlatform {
		t.Errorf("%s: SEGFLOW_PLATFORM_URL %q, want %q", what, got, wantPlatform)
	}
	value("SEGFLOW_ORG_ID")
	value("SEGFLOW_SANDBOX")
	fromSecret("SEGFLOW_CLIENT_ID", c.secretKeys[0])
	fromSecret("SEGFLOW_CLIENT_SECRET", c.secretKeys[1])
	if got := value("SEGFLOW_LOG_FORMAT"); got != "json" {
		t.Errorf("%s: SEGFLOW_LOG_FORMAT %q, want json", what, got)
	}
	if role == "reader" {
		sink := value("SEGFLOW_SINK_URL")
		if sink != c.sinkURL {
			t.Errorf("%s: SEGFLOW_SINK_URL %q, want %q", what, sink, c.sinkURL)
		}
		if dir, ok := strings.CutPrefix(sink, "file://"); ok {
			dir, _, _ = strings.Cut(dir, "?")
			vm := mounted(dir)
			if vm == nil {
				t.Errorf("%s: the file sink %s is not on a volume", what, dir)
			} else if pvc := volume(vm.Name).PersistentVolumeClaim != nil; pvc != c.readerVolume {
				t.Errorf("%s: the file sink is on a claim: %v, want %v", what, pvc, c.readerVolume)
			}
		}
	}
}

func checkUps(t *testing.T, c chartCase, m *manifests) {
	t.Helper()
	for _, o := range m.all {
		if o.GetLabels()["app.kubernetes.io/component"] == "ups" && !c.ups {
			t.Errorf("%T %s is rendered with ups.enabled false", o, o.GetName())
		}
	}
	if !c.ups {
		return
	}
	d := m.deployment(t, "ups")
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Deployment %s: %d replicas, strategy %s; want one, Recreate", d.Name, *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
}

func checkNATS(t *testing.T, c chartCase, m *manifests) {
	t.Helper()
	if !c.natsInChart {
		if len(m.statefulSets) > 0 {
			t.Errorf("a StatefulSet is rendered with nats.enabled false")
		}
		return
	}
	if len(m.statefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want NATS's", len(m.statefulSets))
	}
	s := m.statefulSets[0]
	ctr := s.Spec.Template.Spec.Containers[0]
	if ctr.Image != "nats:2.15-alpine" {
		t.Errorf("StatefulSet %s runs %s, want nats:2.15-alpine", s.Name, ctr.Image)
	}
	args := strings.Join(slices.Concat(ctr.Command, ctr.Args), " ")
	for _, want := range []string{"-js", "-sd /data", "-m 8222"} {
		if !strings.Contains(args, want) {
			t.Errorf("StatefulSet %s: %q does not hold %q", s.Name, args, want)
		}
	}
	if len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("StatefulSet %s: %d volumeClaimTemplates, want 1", s.Name, len(s.Spec.VolumeClaimTemplates))
	}
	if !slices.ContainsFunc(ctr.VolumeMounts, func(vm corev1.VolumeMount) bool {
		return vm.MountPath == "/data" && vm.Name == s.Spec.VolumeClaimTemplates[0].Name
	}) {
		t.Errorf("StatefulSet %s: the claim is not mounted at /data", s.Name)
	}
	for kind, p := range map[string]*corev1.Probe{"liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz?js-enabled-only=true" || containerPort(ctr, p.HTTPGet.Port) != 8222 {
			t.Errorf("StatefulSet %s: the %s probe is not /healthz?js-enabled-only=true on 8222", s.Name, kind)
		}
	}
	var client *corev1.Service
	for _, svc := range m.services {
		if selects(svc.Spec.Selector, s.Spec.Template.Labels) && svc.Spec.ClusterIP != corev1.ClusterIPNone {
			client = svc
		}
		if svc.Spec.ClusterIP == corev1.ClusterIPNone && svc.Name != s.Spec.ServiceName {
			t.Errorf("headless Service %s is not the StatefulSet's (%s)", svc.Name, s.Spec.ServiceName)
		}
	}
	if client == nil || client.Name != chartRelease+"-nats" ||
		!slices.ContainsFunc(client.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 4222 && containerPort(ctr, p.TargetPort) == 4222 }) {
		t.Errorf("no Service %s-nats on 4222 for the stages' URL", chartRelease)
	}
}

// checkServices: every Service selects the pods of exactly one workload,
// on ports its container has.
func checkServices(t *testing.T, m *manifests) {
	t.Helper()
	for _, svc := range m.services {
		var ws []workload
		for _, w := range m.workloads() {
			if selects(svc.Spec.Selector, w.pod.Labels) {
				ws = append(ws, w)
			}
		}
		if len(ws) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", svc.Name, len(ws))
			continue
		}
		for _, p := range svc.Spec.Ports {
			if containerPort(ws[0].pod.Spec.Containers[0], p.TargetPort) == 0 {
				t.Errorf("Service %s: port %s targets %s, which %s's container does not have", svc.Name, p.Name, p.TargetPort.String(), ws[0].name)
			}
		}
		w := ws[0]
		if role := chartRole(w.pod.Spec.Containers[0]); role != "" {
			want := "metrics"
			if role == "ups" {
				want = "http"
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != want {
				t.Errorf("Service %s of %s: ports %v, want one named %s", svc.Name, role, svc.Spec.Ports, want)
			}
		}
	}
	// Every segflow workload has a Service (the ServiceMonitor's target).
	for _, w := range m.workloads() {
		if chartRole(w.pod.Spec.Containers[0]) == "" {
			continue
		}
		if !slices.ContainsFunc(m.services, func(s *corev1.Service) bool { return selects(s.Spec.Selector, w.pod.Labels) }) {
			t.Errorf("%s %s has no Service", w.kind, w.name)
		}
	}
}

// checkPDBs: with podDisruptionBudget.enabled, one PDB per workload that
// lets a drain move a single replica and keeps one of several.
func checkPDBs(t *testing.T, c chartCase, m *manifests) {
	t.Helper()
	if !c.pdb {
		for _, p := range m.pdbs {
			t.Errorf("PodDisruptionBudget %s is rendered with podDisruptionBudget.enabled false", p.Name)
		}
		return
	}
	for _, p := range m.pdbs {
		if p.Spec.Selector == nil || len(p.Spec.Selector.MatchExpressions) > 0 {
			t.Errorf("PodDisruptionBudget %s: selector %v, want matchLabels", p.Name, p.Spec.Selector)
		}
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			t.Errorf("PodDisruptionBudget %s: want one of minAvailable and maxUnavailable", p.Name)
		}
	}
	for _, w := range m.workloads() {
		var found []*policyv1.PodDisruptionBudget
		for _, p := range m.pdbs {
			if p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, w.pod.Labels) {
				found = append(found, p)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s %s: %d PodDisruptionBudgets select its pods, want 1", w.kind, w.name, len(found))
			continue
		}
		p := found[0]
		minAvail, maxUnavail := p.Spec.MinAvailable, p.Spec.MaxUnavailable
		switch {
		case maxUnavail != nil && *maxUnavail == intstr.FromInt32(1):
		case minAvail != nil && *minAvail == intstr.FromInt32(1) && w.replicas > 1:
		default:
			t.Errorf("PodDisruptionBudget %s of %s (%d replicas): minAvailable %v, maxUnavailable %v; want maxUnavailable 1, or minAvailable 1 with more than one replica",
				p.Name, w.name, w.replicas, minAvail, maxUnavail)
		}
		if w.replicas > 1 && (minAvail == nil) {
			t.Errorf("PodDisruptionBudget %s of %s (%d replicas): want minAvailable 1", p.Name, w.name, w.replicas)
		}
	}
}

func checkMonitoring(t *testing.T, c chartCase, m *manifests) {
	t.Helper()
	root := repoRoot(t)

	if n, want := len(m.serviceMonitors), b2i(c.serviceMonitor); n != want {
		t.Errorf("%d ServiceMonitors, want %d", n, want)
	}
	for _, sm := range m.serviceMonitors {
		if sm.Namespace != chartNamespace || !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{chartNamespace}) {
			t.Errorf("ServiceMonitor %s: namespace %q, namespaceSelector %v; want %s", sm.Name, sm.Namespace, sm.Spec.NamespaceSelector, chartNamespace)
		}
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			t.Fatalf("ServiceMonitor %s: %v", sm.Name, err)
		}
		ports := map[string]monitoringv1.Endpoint{}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Port == "" {
				t.Errorf("ServiceMonitor %s: an endpoint without a port name", sm.Name)
				continue
			}
			if ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor %s: port %s: path %q, want /metrics", sm.Name, ep.Port, ep.Path)
			}
			if ep.Interval == "" {
				t.Errorf("ServiceMonitor %s: port %s: no interval", sm.Name, ep.Port)
			}
			ports[ep.Port] = ep
		}
		// Every segflow Service is scraped on its port; nothing else is.
		for _, svc := range m.services {
			matched := sel.Matches(labels.Set(svc.Labels))
			var w *workload
			for _, wl := range m.workloads() {
				if selects(svc.Spec.Selector, wl.pod.Labels) {
					w = &wl
				}
			}
			isSegflow := w != nil && chartRole(w.pod.Spec.Containers[0]) != ""
			if matched != isSegflow {
				t.Errorf("ServiceMonitor %s selects Service %s: %v, want %v", sm.Name, svc.Name, matched, isSegflow)
				continue
			}
			if matched && !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { _, ok := ports[p.Name]; return ok }) {
				t.Errorf("ServiceMonitor %s scrapes no port of Service %s", sm.Name, svc.Name)
			}
		}
		if sm.Labels["release"] != "kube-prometheus-stack" && c.name == "monitoring" {
			t.Errorf("ServiceMonitor %s: metrics.serviceMonitor.labels are not set", sm.Name)
		}
	}

	if n, want := len(m.prometheusRules), b2i(c.prometheusRule); n != want {
		t.Errorf("%d PrometheusRules, want %d", n, want)
	}
	if len(m.prometheusRules) > 0 {
		alerts, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "segflow-alerts.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Groups json.RawMessage `json:"groups"`
		}
		js, err := yaml.YAMLToJSON(alerts)
		if err != nil {
			t.Fatalf("segflow-alerts.yml: %v", err)
		}
		if err := json.Unmarshal(js, &file); err != nil {
			t.Fatal(err)
		}
		var want, got any
		json.Unmarshal(file.Groups, &want)
		gotJS, _ := json.Marshal(m.prometheusRules[0].Spec.Groups)
		json.Unmarshal(gotJS, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("PrometheusRule groups differ from deploy/grafana/segflow-alerts.yml:\n got %s\nwant %s", gotJS, file.Groups)
		}
		if want == nil {
			t.Errorf("deploy/grafana/segflow-alerts.yml has no groups")
		}
	}

	var dashboards []*corev1.ConfigMap
	for _, cm := range m.configMaps {
		if _, ok := cm.Data["segflow-dashboard.json"]; ok {
			dashboards = append(dashboards, cm)
		}
	}
	if n, want := len(dashboards), b2i(c.dashboard); n != want {
		t.Errorf("%d dashboard ConfigMaps, want %d", n, want)
	}
	if len(dashboards) > 0 {
		cm := dashboards[0]
		want, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "segflow-dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data["segflow-dashboard.json"] != string(want) {
			t.Errorf("ConfigMap %s: segflow-dashboard.json is not the bytes of deploy/grafana/segflow-dashboard.json", cm.Name)
		}
		if got := cm.Labels[c.dashboardLabel[0]]; got != c.dashboardLabel[1] {
			t.Errorf("ConfigMap %s: label %s=%q, want %q", cm.Name, c.dashboardLabel[0], got, c.dashboardLabel[1])
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestHelmChartFilesAreTheGrafanaFiles: the chart's files/ are links to
// deploy/grafana, the single source, not copies.
func TestHelmChartFilesAreTheGrafanaFiles(t *testing.T) {
	root := repoRoot(t)
	for _, name := range []string{"segflow-dashboard.json", "segflow-alerts.yml"} {
		p := filepath.Join(chartDir(t), "files", name)
		target, err := os.Readlink(p)
		if err != nil {
			t.Errorf("%s is not a symbolic link: %v", p, err)
			continue
		}
		if got, want := filepath.Clean(filepath.Join(filepath.Dir(p), target)), filepath.Join(root, "deploy", "grafana", name); got != want {
			t.Errorf("%s points at %s, want %s", p, got, want)
		}
		if filepath.IsAbs(target) {
			t.Errorf("%s -> %s: want a relative link", p, target)
		}
	}
	var names []string
	entries, _ := os.ReadDir(filepath.Join(chartDir(t), "files"))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"segflow-alerts.yml", "segflow-dashboard.json"}) {
		t.Errorf("files/ holds %v", names)
	}
}
