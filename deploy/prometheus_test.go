package deploy_test

// The Prometheus alerting rules (deploy/prometheus) and the Grafana
// dashboard (deploy/grafana) are checked here by promtool, Prometheus's own
// checker, and against what a real tokenwright server exports: a rule or a
// panel that names a metric no server exports would never fire or would
// stay empty, and nothing else would notice.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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

	"go.yaml.in/yaml/v3"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/tlsconfig"
	"github.com/tokenwright/tokenwright/server/tlsconfig/tlstest"
	"github.com/tokenwright/tokenwright/store/etcd/etcdtest"
)

const (
	promRulesFile     = "prometheus/tokenwright-alerts.yaml"
	promRulesTestFile = "prometheus/tokenwright-alerts_test.yaml"
	promDashboardFile = "grafana/tokenwright.json"
	promOperationsDoc = "../docs/operations.md"
)

// promPrometheusOwn are the series Prometheus writes itself for every scrape
// target: the rules may use them although tokenwright does not export them.
var promPrometheusOwn = []string{"up"}

// promtoolPath finds promtool (Debian's prometheus package): missing, it
// skips t, or fails it under TOKENWRIGHT_TEST_STRICT=1 (CI).
func promtoolPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("TOKENWRIGHT_TEST_STRICT") == "1" {
			t.Fatal("promtool not found (apt-get install prometheus)")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	return p
}

// promtoolRun runs promtool with args in this directory and fails t with
// its output if it fails.
func promtoolRun(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtoolPath(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// promRuleFile is the part of a Prometheus rule file the tests read.
type promRuleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func promReadRules(t *testing.T) promRuleFile {
	t.Helper()
	data, err := os.ReadFile(promRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f promRuleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", promRulesFile, err)
	}
	return f
}

// TestPrometheusAlertRules: promtool accepts the rules, and their unit
// tests (each alert firing and not firing) pass.
func TestPrometheusAlertRules(t *testing.T) {
	t.Parallel()
	promtoolRun(t, "check", "rules", promRulesFile)
	promtoolRun(t, "test", "rules", promRulesTestFile)
}

// TestPrometheusAlertRulesShape: every alert has a severity, a summary, a
// description and a runbook that is a section of docs/operations.md, and
// every alert has a unit test.
func TestPrometheusAlertRulesShape(t *testing.T) {
	t.Parallel()
	anchors := promDocAnchors(t)
	tests, err := os.ReadFile(promRulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range promReadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			u, err := url.Parse(r.Annotations["runbook_url"])
			if err != nil || !strings.HasSuffix(u.Path, "/docs/operations.md") || u.Fragment != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url %q, want …/docs/operations.md#%s", r.Alert, r.Annotations["runbook_url"], strings.ToLower(r.Alert))
			} else if !anchors[u.Fragment] {
				t.Errorf("%s: docs/operations.md has no section #%s", r.Alert, u.Fragment)
			}
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s: no unit test in %s", r.Alert, promRulesTestFile)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}

// promDocAnchors are the anchors GitHub makes of the headings of
// docs/operations.md: lower case, spaces to hyphens, punctuation dropped.
func promDocAnchors(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(promOperationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.TrimSpace(strings.TrimLeft(h, "#"))
			out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return out
}

// promDashboard is the part of the Grafana dashboard the tests read.
type promDashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *promDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []promPanel `json:"panels"`
}

type promDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type promPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *promDatasource `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource *promDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []promPanel `json:"panels"` // a collapsed row's
}

func promReadDashboard(t *testing.T) promDashboard {
	t.Helper()
	data, err := os.ReadFile(promDashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d promDashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", promDashboardFile, err)
	}
	return d
}

// promGrafanaVars are the dashboard's variables as a panel expression
// uses them, replaced by a value of the same kind so that promtool can
// parse the expression: $job and $instance appear only inside =~"…"
// matchers, $__rate_interval only as a range.
var promGrafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$job", ".*", "$instance", ".*")

// promDashboardExprs returns every PromQL expression of the dashboard,
// variables substituted, named by where it is: the panels' queries and
// the label_values(SELECTOR, label) queries of the variables (their
// selector).
func promDashboardExprs(t *testing.T, d promDashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(ps []promPanel)
	walk = func(ps []promPanel) {
		for _, p := range ps {
			for i, q := range p.Targets {
				out[fmt.Sprintf("panel %d %q target %d", p.ID, p.Title, i)] = promGrafanaVars.Replace(q.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(SELECTOR, label)", v.Name, q.Query)
		}
		out["variable "+v.Name] = promGrafanaVars.Replace(m[1])
	}
	return out
}

// TestGrafanaDashboard: the dashboard is valid JSON of a current schema,
// every panel reads the ${DS_PROMETHEUS} data source, the job and instance
// variables exist, the panels the operations guide lists are there, and
// promtool parses every expression (each written into a temporary rule
// file as a recording rule: promtool check rules parses every expr).
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	d := promReadDashboard(t)
	if d.SchemaVersion < 36 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q: want a schema of Grafana 9 or later, a uid and a title", d.SchemaVersion, d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${DS_PROMETHEUS}") {
			t.Errorf("variable %s does not read ${DS_PROMETHEUS}", v.Name)
		}
	}
	if vars["DS_PROMETHEUS"] != "datasource" || vars["job"] != "query" || vars["instance"] != "query" {
		t.Errorf("variables %v: want DS_PROMETHEUS (datasource), job and instance (query)", vars)
	}
	titles := map[string]bool{}
	var walk func(ps []promPanel)
	walk = func(ps []promPanel) {
		for _, p := range ps {
			titles[p.Title] = true
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" || p.Datasource.Type != "prometheus" {
					t.Errorf("panel %q does not read the ${DS_PROMETHEUS} data source", p.Title)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, q := range p.Targets {
					if !strings.Contains(q.Expr, `job=~"$job"`) || !strings.Contains(q.Expr, `instance=~"$instance"`) {
						t.Errorf("panel %q: %q ignores the job or instance variable", p.Title, q.Expr)
					}
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, want := range []string{"Tokens per second by result", "Token endpoint latency (p50, p99)", "Errors by reason",
		"429 Too Many Requests", "Keys expiring soon", "Keys by status", "Signing key age", "TLS certificate expires in",
		"Store up", "etcd mirror staleness", "Webhook deliveries", "Build info"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}

	// promtool parses every expression as a recording rule.
	exprs := promDashboardExprs(t, d)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, where := range slices.Sorted(maps.Keys(exprs)) {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:expr%d", i), Expr: exprs[where]})
		t.Logf("%s: %s", where, exprs[where])
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	promtoolRun(t, "check", "rules", file)
}

// promMetricNames returns the metric names an expression selects. It is a
// tokenizer, not a parser, and is meant for expressions promtool has
// parsed (the tests above): it drops string literals, label matchers
// ({…}), ranges and subqueries ([…]) and the label lists of by, without,
// on, ignoring, group_left and group_right; what remains that looks like
// a name and is not a keyword, a number or a function (a name followed by
// "(") is a metric name.
func promMetricNames(expr string) []string {
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`"(\\.|[^"\\])*"|'(\\.|[^'\\])*'|` + "`[^`]*`"),
		regexp.MustCompile(`\{[^}]*\}`),
		regexp.MustCompile(`\[[^\]]*\]`),
		regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`),
	} {
		expr = re.ReplaceAllString(expr, " ")
	}
	keywords := map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"atan2": true, "inf": true, "nan": true, "by": true, "without": true, "group_left": true, "group_right": true}
	var out []string
	name := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	for _, m := range name.FindAllStringIndex(expr, -1) {
		// Inside a number (the e3 of 1e3, the m of 5m) it is not a name.
		if m[0] > 0 && strings.ContainsRune("0123456789.", rune(expr[m[0]-1])) {
			continue
		}
		word := expr[m[0]:m[1]]
		if strings.HasPrefix(strings.TrimSpace(expr[m[1]:]), "(") || keywords[strings.ToLower(word)] {
			continue
		}
		out = append(out, word)
	}
	return out
}

func TestPromMetricNames(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`sum by (job, kind) (rate(tokenwright_keys{status="expiring_soon", x=~"a{b"}[5m])) > 1e3`: {"tokenwright_keys"},
		`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m:1m])))`:                           {"a_bucket"},
		`up{job=~"tokenwright.*"} == 0 and on (instance) b unless ignoring(x) group_left(y) c`:    {"up", "b", "c"},
		`tokenwright_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400`:              {"tokenwright_tls_certificate_expiry_timestamp_seconds"},
		`sum(x) without (a) / count(y offset 5m) > bool 2`:                                        {"x", "y"},
	} {
		if got := promMetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", expr, got, want)
		}
	}
}

// TestAlertsAndDashboardUseExportedMetrics starts real tokenwright servers
// (bbolt with TLS and rate limits; one replica on etcd for the mirror's
// gauge), makes them export every series (a token issued, a token
// refused, a 429, keys), scrapes /metrics and fails if a rule or a panel
// names a metric that is not exported.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	t.Parallel()
	exported := map[string]bool{}
	for _, n := range promPrometheusOwn {
		exported[n] = true
	}
	for n := range promScrapeNames(t, promExercisedServer(t)) {
		exported[n] = true
	}
	etcdOnly := map[string]bool{"tokenwright_store_mirror_staleness_seconds": true}
	// Without etcd (skipped, outside CI) the etcd-only gauges go unchecked.
	etcdRan := false
	t.Run("etcd", func(t *testing.T) {
		for n := range promScrapeNames(t, promEtcdReplica(t)) {
			exported[n] = true
		}
		etcdRan = true
		for n := range etcdOnly {
			if !exported[n] {
				t.Errorf("a replica on etcd does not export %s", n)
			}
		}
	})

	used := map[string][]string{} // metric name → where
	for _, g := range promReadRules(t).Groups {
		for _, r := range g.Rules {
			for _, n := range promMetricNames(r.Expr) {
				used[n] = append(used[n], "alert "+r.Alert)
			}
		}
	}
	for where, expr := range promDashboardExprs(t, promReadDashboard(t)) {
		for _, n := range promMetricNames(expr) {
			used[n] = append(used[n], "dashboard "+where)
		}
	}
	if len(used) < 10 {
		t.Fatalf("only %d metric names found in the rules and the dashboard: %v", len(used), used)
	}
	for n, where := range used {
		if exported[n] || (etcdOnly[n] && !etcdRan) {
			continue
		}
		t.Errorf("%s (used by %s) is not exported by tokenwright", n, strings.Join(where, ", "))
	}
}

// promExercisedServer starts a server on bbolt with TLS and small rate
// limits, gets a token, is refused one (wrong secret) and then 429, so
// that every counter has a series; it returns a function that scrapes it.
func promExercisedServer(t *testing.T) func() string {
	t.Helper()
	now := time.Now()
	pki := tlstest.Issue(t, now.Add(-time.Hour), now.AddDate(0, 1, 0))
	hc := tlstest.Client(t, pki.CAFile)
	s := servertest.Start(t, servertest.Options{HTTPClient: hc, Configure: func(c *config.Config) {
		c.TLS = tlsconfig.Source{Cert: pki.CertFile, Key: pki.KeyFile}
		c.Issuer = "https://" + c.Listen
		// A client's mistakes exhaust its (client, address) budget at once.
		c.Limits.ClientRate, c.Limits.ClientBurst = 0.01, 2
	}})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	key := s.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	token := func(secret string) error {
		_, err := (&clientcredentials.Config{ClientID: "svc", ClientSecret: secret, TokenURL: s.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader}).Token(ctx)
		return err
	}
	if err := token(key.ClientSecret); err != nil {
		t.Fatalf("token: %v", err)
	}
	wrong := key.ClientSecret[:len(key.ClientSecret)-4] + "AAAA"
	limited := false
	for range 20 {
		var re *oauth2.RetrieveError
		if err := token(wrong); !errors.As(err, &re) {
			t.Fatalf("wrong secret: %v", err)
		} else if re.Response.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("no 429 after 20 refused token requests")
	}
	return func() string { return promGet(t, hc, s.URL+"/metrics") }
}

// promEtcdReplica starts a one-member etcd cluster (skipped, or failed
// under TOKENWRIGHT_TEST_STRICT=1, without etcd) and a server on it.
func promEtcdReplica(t *testing.T) func() string {
	t.Helper()
	c := etcdtest.Start(t, 1)
	kek := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	s := servertest.Start(t, servertest.Options{
		Environ: func(name string) string {
			if name == "TOKENWRIGHT_KEK" {
				return kek
			}
			return ""
		},
		Configure: func(cfg *config.Config) {
			cfg.Store = config.StoreEtcd
			cfg.Etcd.Endpoints = c.Endpoints()
			cfg.Etcd.Prefix = "/metrics/"
		},
	})
	return func() string { return promGet(t, http.DefaultClient, s.URL+"/metrics") }
}

func promGet(t *testing.T, hc *http.Client, url string) string {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// promScrapeNames returns the sample names of a scrape in the text
// exposition format (a histogram's _bucket, _sum and _count included).
func promScrapeNames(t *testing.T, scrape func() string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range strings.Split(scrape(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}
