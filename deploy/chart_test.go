package deploy_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/tokenwright/tokenwright/server"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/store/bolt"
)

const issuer = "https://idp.example.com"

const imageDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var etcdEndpoints = []any{"https://etcd-0.etcd:2379", "https://etcd-1.etcd:2379", "https://etcd-2.etcd:2379"}

// chartCases are the value sets the chart is rendered, linted and checked
// with; check asserts what is particular to each.
var chartCases = []struct {
	name   string
	values map[string]any
	check  func(t *testing.T, d deployment)
}{
	{
		name:   "default: one replica on bbolt",
		values: map[string]any{"issuer": issuer},
		check: func(t *testing.T, d deployment) {
			set := one[appsv1.StatefulSet](t, d.objects)
			if set.Spec.Replicas == nil || *set.Spec.Replicas != 1 {
				t.Errorf("StatefulSet replicas %v, want 1", set.Spec.Replicas)
			}
			if d.config.Store != config.StoreBolt {
				t.Errorf("store %q, want bolt", d.config.Store)
			}
			// The database lives on the claim the StatefulSet creates.
			if len(d.claims) != 1 || d.claims[0].Spec.Resources.Requests.Storage().String() != "1Gi" {
				t.Fatalf("want one 1Gi claim template, got %+v", d.claims)
			}
			if vol, _ := mountedFile(t, d, filepath.Join(d.config.DataDir, bolt.FileName)); vol.PersistentVolumeClaim == nil {
				t.Errorf("the data directory %s is not on the claim (volume %s)", d.config.DataDir, vol.Name)
			}
			// The README promises that helm uninstall leaves the claim.
			if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
				p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("claim retention policy %+v: want Retain", p)
			}
			noPDB(t, d)
			if len(all[monitoringv1.ServiceMonitor](d.objects)) != 0 {
				t.Error("a ServiceMonitor by default")
			}
			if d.container.Image != "tokenwright:"+chartAppVersion(t) {
				t.Errorf("image %q: want the chart's appVersion as tag", d.container.Image)
			}
			if d.config.KEK.File != "" || d.config.TLS.Enabled() {
				t.Errorf("KEK file %q or TLS set without their Secrets", d.config.KEK.File)
			}
		},
	},
	{
		name: "bbolt on an existing claim",
		values: map[string]any{"issuer": issuer, "persistence": map[string]any{"existingClaim": "tokenwright-data"},
			// Settings beyond the chart's own pass through to tokenwright.
			"config": map[string]any{"tokens": map[string]any{"lifetime": "10m"}, "trustedProxies": []any{"10.0.0.0/8"}}},
		check: func(t *testing.T, d deployment) {
			if len(d.claims) != 0 {
				t.Errorf("claim templates beside an existing claim: %+v", d.claims)
			}
			if vol := volume(t, d, "data"); vol.PersistentVolumeClaim == nil || vol.PersistentVolumeClaim.ClaimName != "tokenwright-data" {
				t.Errorf("data volume %+v, want claim tokenwright-data", vol)
			}
			if d.config.Tokens.Lifetime.Std() != 10*time.Minute || !slices.Equal(d.config.TrustedProxies, []string{"10.0.0.0/8"}) {
				t.Errorf("config values not passed through: lifetime %s, trustedProxies %v", d.config.Tokens.Lifetime.Std(), d.config.TrustedProxies)
			}
		},
	},
	{
		name:   "bbolt without persistence",
		values: map[string]any{"issuer": issuer, "persistence": map[string]any{"enabled": false}},
		check: func(t *testing.T, d deployment) {
			if vol := volume(t, d, "data"); len(d.claims) != 0 || vol.EmptyDir == nil {
				t.Errorf("data volume %+v, claims %+v: want an emptyDir", vol, d.claims)
			}
		},
	},
	{
		name: "three replicas on etcd",
		values: map[string]any{"issuer": issuer, "replicaCount": 3, "kek": map[string]any{"existingSecret": "tw-kek"},
			"store": map[string]any{"backend": "etcd", "etcd": map[string]any{"endpoints": etcdEndpoints, "prefix": "/tw/",
				"tls": map[string]any{"existingSecret": "tw-etcd-ca", "clientCertificate": false}}}},
		check: func(t *testing.T, d deployment) {
			dep := one[appsv1.Deployment](t, d.objects)
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
				t.Errorf("Deployment replicas %v, want 3", dep.Spec.Replicas)
			}
			if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v: want maxUnavailable 0", ru)
			}
			if d.config.Store != config.StoreEtcd || d.config.Etcd.Prefix != "/tw/" ||
				!slices.Equal(d.config.Etcd.Endpoints, []string{"https://etcd-0.etcd:2379", "https://etcd-1.etcd:2379", "https://etcd-2.etcd:2379"}) {
				t.Errorf("etcd settings: store %q, %+v", d.config.Store, d.config.Etcd)
			}
			// No volume of its own: etcd holds the state.
			if len(d.claims) != 0 {
				t.Errorf("claim templates on etcd: %+v", d.claims)
			}
			for _, v := range d.pod.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					t.Errorf("volume %s is a claim on etcd", v.Name)
				}
			}
			secretFile(t, d, d.config.KEK.File, "tw-kek", "kek")
			// A CA only: etcd without client certificates.
			secretFile(t, d, d.config.Etcd.TLS.CA, "tw-etcd-ca", "ca.crt")
			if d.config.Etcd.TLS.Cert != "" || d.config.Etcd.TLS.Key != "" {
				t.Errorf("etcd client certificate %q/%q with clientCertificate false", d.config.Etcd.TLS.Cert, d.config.Etcd.TLS.Key)
			}
			pdb := one[policyv1.PodDisruptionBudget](t, d.objects)
			if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
				t.Errorf("PodDisruptionBudget %+v: want maxUnavailable 1", pdb.Spec)
			}
			if pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, d.pod.Labels) {
				t.Errorf("PodDisruptionBudget selector %v does not select the pods %v", pdb.Spec.Selector, d.pod.Labels)
			}
		},
	},
	{
		name: "TLS KEK etcd and metrics credentials from Secrets",
		values: map[string]any{"issuer": issuer, "replicaCount": 2,
			"kek":     map[string]any{"existingSecret": "tw-kek", "key": "kek.b64"},
			"tls":     map[string]any{"existingSecret": "tw-tls"},
			"metrics": map[string]any{"bearerToken": map[string]any{"existingSecret": "tw-metrics"}},
			"store": map[string]any{"backend": "etcd", "etcd": map[string]any{"endpoints": etcdEndpoints,
				"tls": map[string]any{"existingSecret": "tw-etcd-tls"}}}},
		check: func(t *testing.T, d deployment) {
			secretFile(t, d, d.config.KEK.File, "tw-kek", "kek.b64")
			// A kubernetes.io/tls Secret's keys.
			secretFile(t, d, d.config.TLS.Cert, "tw-tls", "tls.crt")
			secretFile(t, d, d.config.TLS.Key, "tw-tls", "tls.key")
			secretFile(t, d, d.config.Etcd.TLS.CA, "tw-etcd-tls", "ca.crt")
			secretFile(t, d, d.config.Etcd.TLS.Cert, "tw-etcd-tls", "tls.crt")
			secretFile(t, d, d.config.Etcd.TLS.Key, "tw-etcd-tls", "tls.key")
			secretFile(t, d, d.config.MetricsBearerTokenFile, "tw-metrics", "token")
			if p := servicePort(t, d.service, "https"); p.AppProtocol == nil || *p.AppProtocol != "https" {
				t.Errorf("Service port %+v: want appProtocol https", p)
			}
			one[policyv1.PodDisruptionBudget](t, d.objects)
		},
	},
	{
		name: "ServiceMonitor",
		values: map[string]any{"issuer": issuer, "serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}},
			"metrics": map[string]any{"bearerToken": map[string]any{"existingSecret": "tw-metrics", "key": "t"}},
			"image":   map[string]any{"repository": "registry.example.com/tokenwright", "tag": "v9", "digest": imageDigest}},
		check: func(t *testing.T, d deployment) {
			if want := "registry.example.com/tokenwright@" + imageDigest; d.container.Image != want {
				t.Errorf("image %q, want %q (a digest wins over the tag)", d.container.Image, want)
			}
			sm := one[monitoringv1.ServiceMonitor](t, d.objects)
			if sm.Labels["release"] != "prom" {
				t.Errorf("ServiceMonitor labels %v: want release=prom", sm.Labels)
			}
			if !matches(sm.Spec.Selector.MatchLabels, d.service.Labels) {
				t.Errorf("ServiceMonitor selector %v does not select the Service %v", sm.Spec.Selector.MatchLabels, d.service.Labels)
			}
			if len(sm.Spec.Endpoints) != 1 {
				t.Fatalf("want one endpoint, got %+v", sm.Spec.Endpoints)
			}
			ep := sm.Spec.Endpoints[0]
			// The scraped port is the one tokenwright serves /metrics on.
			sp := servicePort(t, d.service, ep.Port)
			if sp.TargetPort.String() == "" || containerPort(t, d.container, sp.TargetPort.String()) != listenPort(t, "metricsListen", d.config.MetricsListen) {
				t.Errorf("ServiceMonitor port %s → %s is not metricsListen %s", ep.Port, sp.TargetPort.String(), d.config.MetricsListen)
			}
			if ep.Path != "/metrics" || ep.Scheme == nil || *ep.Scheme != "http" {
				t.Errorf("ServiceMonitor endpoint %+v: want http /metrics", ep)
			}
			a := ep.Authorization
			if a == nil || a.Credentials == nil || a.Credentials.Name != "tw-metrics" || a.Credentials.Key != "t" {
				t.Errorf("ServiceMonitor authorization %+v: want the metrics token Secret", a)
			}
			secretFile(t, d, d.config.MetricsBearerTokenFile, "tw-metrics", "t")
		},
	},
}

func noPDB(t *testing.T, d deployment) {
	t.Helper()
	if n := len(all[policyv1.PodDisruptionBudget](d.objects)); n != 0 {
		t.Errorf("%d PodDisruptionBudgets for one replica: it would block every node drain", n)
	}
}

// TestChart renders the chart with each value set, lints it, decodes every
// document strictly into the Kubernetes API types, loads the configuration
// it gives tokenwright with tokenwright's own loader, and checks what every
// rendering must hold beside each case's own checks.
func TestChart(t *testing.T) {
	t.Parallel()
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if out, err := runHelm(t, tc.values, "lint", "--strict", chartDir); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			out, err := render(t, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			d := resolve(t, decodeAll(t, out))
			checkEveryRendering(t, d)
			tc.check(t, d)
		})
	}
}

// checkEveryRendering is what holds for every value set: non-root and
// locked down, probes on the paths and port tokenwright serves them on,
// writable data, the issuer, and a Service that reaches the API.
func checkEveryRendering(t *testing.T, d deployment) {
	t.Helper()
	ps := d.pod.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != 65532 ||
		ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, runAsUser 65532, seccomp RuntimeDefault", ps)
	}
	cs := d.container.SecurityContext
	if cs == nil || cs.RunAsNonRoot == nil || !*cs.RunAsNonRoot || cs.RunAsUser == nil || *cs.RunAsUser != 65532 ||
		cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
		cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
		cs.Privileged != nil && *cs.Privileged ||
		cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(cs.Capabilities.Add) != 0 ||
		cs.SeccompProfile == nil || cs.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v: want non-root 65532, read-only root, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault", cs)
	}
	if d.pod.Spec.AutomountServiceAccountToken == nil || *d.pod.Spec.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; tokenwright never calls the Kubernetes API")
	}

	// Probes: on the health listener, at the paths it serves
	// (TestProbesAreServed holds the server to them).
	health := listenPort(t, "healthListen", d.config.HealthListen)
	for name, want := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"liveness": {d.container.LivenessProbe, "/healthz"}, "readiness": {d.container.ReadinessProbe, "/readyz"},
		"startup": {d.container.StartupProbe, "/healthz"}} {
		p := want.probe
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET, got %+v", name, p)
			continue
		}
		if p.HTTPGet.Path != want.path || containerPort(t, d.container, p.HTTPGet.Port.String()) != health ||
			p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP {
			t.Errorf("%s probe %+v: want HTTP %s on healthListen %s", name, p.HTTPGet, want.path, d.config.HealthListen)
		}
	}

	// The API: listen is the container's api port, which the Service
	// targets.
	if containerPort(t, d.container, "api") != listenPort(t, "listen", d.config.Listen) {
		t.Errorf("container port api is not listen %s", d.config.Listen)
	}
	var apiPorts int
	for _, p := range d.service.Spec.Ports {
		if p.TargetPort.String() == "api" {
			apiPorts++
		}
	}
	if apiPorts != 1 || !matches(d.service.Spec.Selector, d.pod.Labels) {
		t.Errorf("Service %+v does not reach the pods' api port", d.service.Spec)
	}
	if d.config.MetricsListen != "" && containerPort(t, d.container, "metrics") != listenPort(t, "metricsListen", d.config.MetricsListen) {
		t.Errorf("container port metrics is not metricsListen %s", d.config.MetricsListen)
	}

	if d.config.Issuer != issuer {
		t.Errorf("issuer %q, want %q", d.config.Issuer, issuer)
	}
	// The root filesystem is read-only: the data directory must be on a
	// writable volume.
	var dataMount *corev1.VolumeMount
	for i, m := range d.container.VolumeMounts {
		if inDir(d.config.DataDir, m.MountPath) {
			dataMount = &d.container.VolumeMounts[i]
		}
	}
	if dataMount == nil || dataMount.ReadOnly {
		t.Errorf("the data directory %s is not on a writable volume", d.config.DataDir)
	}
	// Secrets: readable by the pod's group (fsGroup 65532), no one else.
	for _, v := range d.pod.Spec.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440) {
			t.Errorf("Secret volume %s: defaultMode %v, want 0440", v.Name, v.Secret.DefaultMode)
		}
	}
	if fs := d.pod.Spec.SecurityContext.FSGroup; fs == nil || *fs != 65532 {
		t.Errorf("fsGroup %v, want 65532", fs)
	}
}

// TestChartRefuses checks that values tokenwright would refuse, or that
// would corrupt its database, fail at rendering with a message saying what
// to set.
func TestChartRefuses(t *testing.T) {
	t.Parallel()
	etcd := map[string]any{"backend": "etcd", "etcd": map[string]any{"endpoints": etcdEndpoints}}
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"no issuer", map[string]any{}, "issuer is required: set it to the https URL clients and verifiers reach tokenwright at"},
		{"plain-http issuer", map[string]any{"issuer": "http://idp.example.com"}, "issuer must be an https URL"},
		{"replicas on bbolt", map[string]any{"issuer": issuer, "replicaCount": 2},
			"replicaCount is 2 but store.backend is bolt: a bbolt database has a single writer"},
		{"no replica", map[string]any{"issuer": issuer, "replicaCount": 0}, "replicaCount must be at least 1"},
		{"etcd without endpoints", map[string]any{"issuer": issuer, "store": map[string]any{"backend": "etcd"},
			"kek": map[string]any{"existingSecret": "k"}}, "store.etcd.endpoints is required with store.backend=etcd"},
		{"etcd without a shared KEK", map[string]any{"issuer": issuer, "store": etcd}, "kek.existingSecret is required with store.backend=etcd"},
		{"unknown backend", map[string]any{"issuer": issuer, "store": map[string]any{"backend": "sqlite"}}, "store.backend must be bolt or etcd"},
		{"a managed setting under config", map[string]any{"issuer": issuer, "config": map[string]any{"listen": "0.0.0.0:9999"}},
			"config.listen is managed by the chart"},
		{"ServiceMonitor without metrics", map[string]any{"issuer": issuer, "metrics": map[string]any{"enabled": false},
			"serviceMonitor": map[string]any{"enabled": true}}, "serviceMonitor.enabled needs metrics.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := render(t, tc.values)
			if err == nil {
				t.Fatalf("rendered:\n%s", out)
			}
			if msg := stderrOf(err); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
		})
	}
}

// TestChartConfigTypoFails shows that the checks above would catch a
// setting tokenwright does not know: a typo under config renders, and the
// loader the tests use refuses it, naming it.
func TestChartConfigTypoFails(t *testing.T) {
	t.Parallel()
	out, err := render(t, map[string]any{"issuer": issuer, "config": map[string]any{"tokens": map[string]any{"lifetme": "10m"}}})
	if err != nil {
		t.Fatal(err)
	}
	objects := decodeAll(t, out)
	d := deployment{objects: objects, pod: one[appsv1.StatefulSet](t, objects).Spec.Template}
	d.container = d.pod.Spec.Containers[0]
	_, err = loadConfigErr(t, d, one[corev1.ConfigMap](t, objects))
	var unknown *config.UnknownSettingError
	if !errors.As(err, &unknown) || unknown.Path != "tokens.lifetme" {
		t.Fatalf("want the unknown setting tokens.lifetme, got %v", err)
	}
}

// TestProbesAreServed starts tokenwright from the default rendering's
// configuration (listeners moved to 127.0.0.1, a temporary data
// directory) and requests the probes' paths on its health listener and the
// ServiceMonitor's path on its metrics listener, so a probe pointing where
// tokenwright serves nothing fails here rather than in a cluster.
func TestProbesAreServed(t *testing.T) {
	t.Parallel()
	values := map[string]any{"issuer": issuer, "serviceMonitor": map[string]any{"enabled": true}}
	out, err := render(t, values)
	if err != nil {
		t.Fatal(err)
	}
	d := resolve(t, decodeAll(t, out))
	cfg := d.config
	cfg.DataDir = t.TempDir()
	// zitadel/oidc logs its routes through the slog default.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	log, err := server.NewLogger(io.Discard, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, Environ: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	var serving sync.WaitGroup
	defer func() { cancel(); serving.Wait(); _ = srv.Close() }()
	serve := func(fn func(context.Context, net.Listener) error) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serving.Go(func() { _ = fn(ctx, ln) })
		return "http://" + ln.Addr().String()
	}
	healthURL, metricsURL := serve(srv.ServeHealth), serve(srv.ServeMetrics)
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	for name, p := range map[string]*corev1.Probe{"liveness": d.container.LivenessProbe,
		"readiness": d.container.ReadinessProbe, "startup": d.container.StartupProbe} {
		if code := get(healthURL + p.HTTPGet.Path); code != http.StatusOK {
			t.Errorf("%s probe: GET %s on the health listener = %d, want 200", name, p.HTTPGet.Path, code)
		}
	}
	// The check itself can fail: a path the listener does not serve.
	if code := get(healthURL + "/health"); code != http.StatusNotFound {
		t.Errorf("GET /health on the health listener = %d, want 404", code)
	}
	sm := one[monitoringv1.ServiceMonitor](t, d.objects)
	if code := get(metricsURL + sm.Spec.Endpoints[0].Path); code != http.StatusOK {
		t.Errorf("GET %s on the metrics listener = %d, want 200", sm.Spec.Endpoints[0].Path, code)
	}
}

// chartAppVersion is Chart.yaml's appVersion.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(chartDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &chart); err != nil || chart.AppVersion == "" {
		t.Fatalf("Chart.yaml appVersion: %v", err)
	}
	return chart.AppVersion
}
