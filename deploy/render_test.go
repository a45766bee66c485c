package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/tokenwright/tokenwright/server/config"
)

// chartDir is the chart, relative to this package's directory (where go
// test runs).
const chartDir = "helm/tokenwright"

// helmBinary is the helm to run: TOKENWRIGHT_HELM (.ci/run sets it from
// .ci/helm/build, which builds Helm from the Go module proxy), else helm on
// PATH. Without one the tests skip, or fail under TOKENWRIGHT_TEST_STRICT=1.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TOKENWRIGHT_HELM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
		t.Fatal("helm is required (chart tests) but not found: set TOKENWRIGHT_HELM=$(.ci/helm/build)")
	}
	t.Skip("helm not found: set TOKENWRIGHT_HELM=$(.ci/helm/build) or put helm on PATH")
	return ""
}

// helmErr is a failed helm run, with what it printed on stderr (where
// `fail` and `required` messages go).
type helmErr struct {
	err    error
	stderr string
}

func (e *helmErr) Error() string { return fmt.Sprintf("helm: %v: %s", e.err, e.stderr) }

// runHelm runs helm with args and, when values is not nil, -f with those
// values written to a file. It returns stdout.
func runHelm(t *testing.T, values map[string]any, args ...string) (string, error) {
	t.Helper()
	if values != nil {
		data, err := yaml.Marshal(values)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", file)
	}
	bin := helmBinary(t)
	if _, err := os.Stat(bin); err != nil { // also ties cached results to the binary
		t.Fatal(err)
	}
	readChart(t)
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &helmErr{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// readChart reads every file of the chart. helm reads them, not this
// process, so without this go test would not know that a changed template
// changes the result, and would replay a cached pass.
func readChart(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(chartDir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			_, err = os.ReadFile(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// render is `helm template` of the chart as release "tw".
func render(t *testing.T, values map[string]any) (string, error) {
	t.Helper()
	return runHelm(t, values, "template", "tw", chartDir, "--namespace", "tw")
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeAll decodes every document of a multi-document YAML stream into its
// Kubernetes API type, strictly: an unknown field (a typo, a field at the
// wrong level), a duplicate key, a value of the wrong type or a kind the
// chart is not expected to produce fails the test.
func decodeAll(t *testing.T, stream string) []any {
	t.Helper()
	var objects []any
	for i, doc := range docSeparator.Split(stream, -1) {
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		if string(js) == "null" { // only comments
			continue
		}
		var head struct{ APIVersion, Kind string }
		if err := json.Unmarshal(js, &head); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "apps/v1 StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			obj = &monitoringv1.ServiceMonitor{}
		default:
			t.Fatalf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
		// Kubernetes' own strict decoding (what kubectl --validate=strict
		// and the API server apply): field names match case-sensitively,
		// which encoding/json does not (readOnlyRootFileSystem would pass
		// it), and unknown or duplicate fields are errors.
		strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
		if err = errors.Join(append(strict, err)...); err != nil {
			t.Fatalf("document %d (%s): %v\n%s", i, head.Kind, err, doc)
		}
		objects = append(objects, obj)
	}
	return objects
}

// all returns the objects of type T.
func all[T any](objects []any) []*T {
	var out []*T
	for _, o := range objects {
		if v, ok := o.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// one returns the only object of type T, failing when there is not
// exactly one.
func one[T any](t *testing.T, objects []any) *T {
	t.Helper()
	got := all[T](objects)
	if len(got) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d", zero, len(got))
	}
	return got[0]
}

// imageEnv is the environment the image sets (the ENV lines of the
// Dockerfile's last stage): the pod inherits it, and tokenwright reads it
// over the configuration file.
func imageEnv(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	var logical []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	cur := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if rest, cont := strings.CutSuffix(line, `\`); cont {
			cur += rest + " "
			continue
		}
		logical = append(logical, cur+line)
		cur = ""
	}
	for _, line := range logical {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			clear(env) // a new stage starts with its own environment
		case "ENV":
			for _, kv := range fields[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q: only KEY=VALUE is understood here", kv)
				}
				env[k] = strings.Trim(v, `"`)
			}
		}
	}
	if len(env) == 0 {
		t.Fatal("Dockerfile: no ENV in the last stage")
	}
	return env
}

// deployment is what one rendering deploys, resolved: the workload's pod,
// its tokenwright container, the ConfigMap, the Service and the
// configuration tokenwright loads from them.
type deployment struct {
	objects   []any
	pod       corev1.PodTemplateSpec
	container corev1.Container
	claims    []corev1.PersistentVolumeClaim // the StatefulSet's claim templates
	service   *corev1.Service
	config    config.Config
}

// resolve finds the workload and loads the configuration the container
// would start with.
func resolve(t *testing.T, objects []any) deployment {
	t.Helper()
	d := deployment{objects: objects}
	sets, deps := all[appsv1.StatefulSet](objects), all[appsv1.Deployment](objects)
	switch {
	case len(sets) == 1 && len(deps) == 0:
		d.pod, d.claims = sets[0].Spec.Template, sets[0].Spec.VolumeClaimTemplates
		if !matches(sets[0].Spec.Selector.MatchLabels, d.pod.Labels) {
			t.Errorf("StatefulSet selector %v does not select its pods %v", sets[0].Spec.Selector.MatchLabels, d.pod.Labels)
		}
	case len(deps) == 1 && len(sets) == 0:
		d.pod = deps[0].Spec.Template
		if !matches(deps[0].Spec.Selector.MatchLabels, d.pod.Labels) {
			t.Errorf("Deployment selector %v does not select its pods %v", deps[0].Spec.Selector.MatchLabels, d.pod.Labels)
		}
	default:
		t.Fatalf("want one workload, got %d StatefulSets and %d Deployments", len(sets), len(deps))
	}
	if len(d.pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(d.pod.Spec.Containers))
	}
	d.container = d.pod.Spec.Containers[0]
	d.service = one[corev1.Service](t, objects)
	d.config = loadConfig(t, d, one[corev1.ConfigMap](t, objects))
	return d
}

// loadConfig loads the configuration exactly as the container would: the
// file its --config names, read from the ConfigMap through the volume it
// is mounted from, under the image's environment overridden by the
// container's, with tokenwright's own loader and validation.
func loadConfig(t *testing.T, d deployment, cm *corev1.ConfigMap) config.Config {
	t.Helper()
	cfg, err := loadConfigErr(t, d, cm)
	if err != nil {
		t.Fatalf("tokenwright refuses the rendered configuration: %v\n%s", err, cm.Data)
	}
	return cfg
}

func loadConfigErr(t *testing.T, d deployment, cm *corev1.ConfigMap) (config.Config, error) {
	t.Helper()
	c := d.container
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("container args %v: want serve", c.Args)
	}
	var file string
	for i, a := range c.Args {
		if a == "--config" && i+1 < len(c.Args) {
			file = c.Args[i+1]
		}
	}
	if file == "" {
		t.Fatalf("container args %v: no --config", c.Args)
	}
	vol, key := mountedFile(t, d, file)
	if vol.ConfigMap == nil || vol.ConfigMap.Name != cm.Name {
		t.Fatalf("%s is not mounted from ConfigMap %s", file, cm.Name)
	}
	data, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s (the file %s)", cm.Name, key, file)
	}
	local := filepath.Join(t.TempDir(), key)
	if err := os.WriteFile(local, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	env := imageEnv(t)
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("env %s: valueFrom is not resolvable here", e.Name)
		}
		env[e.Name] = e.Value
	}
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	cfg, err := config.Load(local, environ)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// mountedFile resolves a path in the container to the volume it is on and
// the key in that volume's ConfigMap or Secret (through items, if listed).
func mountedFile(t *testing.T, d deployment, file string) (corev1.Volume, string) {
	t.Helper()
	var mount *corev1.VolumeMount
	for i, m := range d.container.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") && (mount == nil || len(m.MountPath) > len(mount.MountPath)) {
			mount = &d.container.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("%s is on no volume mount", file)
	}
	rel := strings.TrimPrefix(file, strings.TrimSuffix(mount.MountPath, "/")+"/")
	vol := volume(t, d, mount.Name)
	var items []corev1.KeyToPath
	switch {
	case vol.Secret != nil:
		items = vol.Secret.Items
	case vol.ConfigMap != nil:
		items = vol.ConfigMap.Items
	default:
		return vol, rel
	}
	if len(items) == 0 {
		return vol, rel
	}
	for _, it := range items {
		if it.Path == rel {
			return vol, it.Key
		}
	}
	t.Fatalf("%s: volume %s lists no item with path %s", file, vol.Name, rel)
	return vol, ""
}

// volume is the pod's volume called name; a StatefulSet claim template of
// that name is returned as a PersistentVolumeClaim volume.
func volume(t *testing.T, d deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range d.pod.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	for _, c := range d.claims {
		if c.Name == name {
			return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}}
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

// secretFile checks that path is mounted from Secret secret's key.
func secretFile(t *testing.T, d deployment, file, secret, key string) {
	t.Helper()
	vol, k := mountedFile(t, d, file)
	if vol.Secret == nil || vol.Secret.SecretName != secret || k != key {
		t.Errorf("%s: want key %s of Secret %s, got volume %s key %s", file, key, secret, vol.Name, k)
	}
}

// containerPort is the container's port called name.
func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container has no port %s", name)
	return 0
}

// listenPort is the port of a host:port setting.
func listenPort(t *testing.T, setting, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", setting, addr, err)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		t.Fatalf("%s %q: %v", setting, addr, err)
	}
	return int32(n)
}

// servicePort is the Service's port called name.
func servicePort(t *testing.T, svc *corev1.Service, name string) corev1.ServicePort {
	t.Helper()
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("Service %s has no port %s", svc.Name, name)
	return corev1.ServicePort{}
}

// matches reports whether selector selects labels.
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// inDir reports whether file is dir or below it.
func inDir(file, dir string) bool {
	rel, err := filepath.Rel(dir, file)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && path.IsAbs(file)
}

// stderrOf is the stderr of a failed helm run.
func stderrOf(err error) string {
	var he *helmErr
	if errors.As(err, &he) {
		return he.stderr
	}
	return err.Error()
}
