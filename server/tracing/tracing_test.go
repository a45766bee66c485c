package tracing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenwright/tokenwright/internal/eventually"
	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/store/traced"
)

// The caller's trace: a W3C traceparent the token request arrives with.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

const webhookSecret = "whsec-tracing-test-0123456789"

// hookReceiver is a webhook endpoint on 127.0.0.1 that keeps the
// traceparent of each delivery.
type hookReceiver struct {
	mu           sync.Mutex
	traceparents []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.traceparents = append(h.traceparents, r.Header.Get("traceparent"))
}

func (h *hookReceiver) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.traceparents...)
}

func startHook(t *testing.T) (*hookReceiver, string) {
	t.Helper()
	h := &hookReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h, "http://" + ln.Addr().String() + "/hooks/tokenwright"
}

// withHeader adds a header to every request of a real client.
type withHeader struct {
	name, value string
}

func (h withHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return http.DefaultTransport.RoundTrip(r)
}

// Issue 16, finding 6 ("No tracing"): with tracing.otlpEndpoint set, the
// token endpoint, the admin API, the store and the webhook calls are spans
// that reach a real OTLP receiver (the OpenTelemetry Collector's); the
// caller's traceparent is continued; the store's spans are children of the
// request's; the log lines carry the same trace and span ids; and no
// attribute anywhere holds a secret.
func TestSpansReachOTLPReceiver(t *testing.T) {
	rcv := startOTLPReceiver(t)
	hook, hookURL := startHook(t)
	s := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.Tracing.OTLPEndpoint = rcv.URL
			c.Tracing.SamplingRatio = 1
			c.Notifications.Interval = config.Duration(100 * time.Millisecond)
			c.Notifications.Webhook.URL = hookURL
		},
		Environ: func(k string) string {
			if k == "TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET" {
				return webhookSecret
			}
			return ""
		},
	})
	if _, ok := s.Server.Store().(*traced.Store); !ok {
		t.Fatalf("the served store is %T, want the traced decorator", s.Server.Store())
	}
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://domino.example.com"}})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "pipeline"})

	// A token, by a real OAuth client whose requests carry traceparent.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient,
		&http.Client{Transport: withHeader{"traceparent", traceparent}})
	cc := &clientcredentials.Config{ClientID: "ci-bot", ClientSecret: key.ClientSecret, TokenURL: s.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInHeader}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("token: %v", err)
	}
	// A refusal whose client_id field holds the secret itself (a client
	// mistake the logs already redact): the span must not carry it either.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {key.ClientSecret}, "client_secret": {"wrong"}}
	resp, err := http.PostForm(s.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refused token: HTTP %d", resp.StatusCode)
	}
	// A request whose method is the secret (any token is a method on the
	// wire): neither a span's name nor an attribute may carry it.
	odd, err := http.NewRequest(key.ClientSecret, s.URL+"/oauth/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(odd); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	// An admin call refused (its log line carries the ids too).
	if code := s.Do(t, "twp_not-a-token", http.MethodGet, "/api/v1/service-accounts", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("admin GET with a bad token: HTTP %d", code)
	}
	// An admin call.
	if code := s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts/ci-bot", nil, nil); code != http.StatusOK {
		t.Fatalf("admin GET: HTTP %d", code)
	}
	// A webhook delivery: a key that expires within the expiring-soon window.
	twoDays := int64(2 * 24 * 3600)
	s.CreateKey(t, "ci-bot", api.CreateKey{Name: "soon", ExpiresIn: &twoDays})
	eventually.Nil(t, 30*time.Second, "webhook delivery", func() error {
		if len(hook.received()) == 0 {
			return errors.New("no delivery yet")
		}
		return nil
	})
	// Stopping the server flushes the queued spans to the receiver.
	s.Stop()
	spans := rcv.spans()
	if len(spans) == 0 {
		t.Fatalf("the OTLP receiver got no span\n%s", s.Logs())
	}

	// The token request continues the caller's trace.
	tok := findSpan(t, spans, func(sp span) bool {
		return sp.Name() == "POST /oauth/token" && sp.TraceID().String() == callerTraceID
	})
	if tok.Kind() != ptrace.SpanKindServer || tok.ParentSpanID().String() != callerSpanID {
		t.Errorf("token span: kind %v, parent %s; want a server span under the caller's %s", tok.Kind(), tok.ParentSpanID(), callerSpanID)
	}
	for k, want := range map[string]string{"oauth.client_id": "ci-bot", "oauth.grant_type": "client_credentials",
		"tokenwright.event": "token.issued", "http.route": "/oauth/token", "http.response.status_code": "200", "tokenwright.key_id": key.ID} {
		if got := tok.attr(k); got != want {
			t.Errorf("token span: %s = %q, want %q", k, got, want)
		}
	}
	if got := tok.resource.AsRaw()["service.name"]; got != "tokenwright" {
		t.Errorf("resource service.name = %v", got)
	}
	// The store's work for it is its children, in the same trace.
	var storeOps []string
	for _, sp := range spans {
		if sp.TraceID() == tok.TraceID() && sp.ParentSpanID() == tok.SpanID() && strings.HasPrefix(sp.Name(), "store.") {
			storeOps = append(storeOps, sp.Name())
		}
	}
	if len(storeOps) == 0 {
		t.Errorf("no store span under the token span; spans: %s", names(spans))
	}

	// The refusal: its reason, the claimed client id redacted.
	refused := findSpan(t, spans, func(sp span) bool {
		return sp.Name() == "POST /oauth/token" && sp.attr("http.response.status_code") == "401"
	})
	if refused.attr("tokenwright.reason") == "" || refused.attr("oauth.client_id") != apikey.Redacted {
		t.Errorf("refused token span: reason %q, client id %q (want a reason and %q)",
			refused.attr("tokenwright.reason"), refused.attr("oauth.client_id"), apikey.Redacted)
	}
	if refused.TraceID() == tok.TraceID() {
		t.Errorf("a request without traceparent joined the caller's trace")
	}

	findSpan(t, spans, func(sp span) bool {
		return sp.Name() == "_OTHER /oauth/token" && sp.attr("http.request.method") == "_OTHER"
	})

	// The admin call: named by its route template, with the actor.
	adm := findSpan(t, spans, func(sp span) bool { return sp.Name() == "GET /api/v1/service-accounts/{name}" })
	if adm.attr("tokenwright.actor") != "admin" || adm.attr("tokenwright.actor_key_id") == "" {
		t.Errorf("admin span: actor %q key %q", adm.attr("tokenwright.actor"), adm.attr("tokenwright.actor_key_id"))
	}

	// The webhook call: a client span whose ids the receiver got in
	// traceparent.
	got := hook.received()[0]
	parts := strings.Split(got, "-")
	if len(parts) != 4 {
		t.Fatalf("webhook traceparent %q", got)
	}
	wh := findSpan(t, spans, func(sp span) bool {
		return sp.Kind() == ptrace.SpanKindClient && sp.TraceID().String() == parts[1] && sp.SpanID().String() == parts[2]
	})
	if wh.Name() != "POST" || wh.attr("server.address") != "127.0.0.1" || wh.attr("http.response.status_code") != "200" {
		t.Errorf("webhook span %q: %v", wh.Name(), wh.Attributes().AsRaw())
	}
	for k := range wh.Attributes().AsRaw() {
		if strings.HasPrefix(k, "url.") {
			t.Errorf("webhook span records %s: a webhook URL may hold its secret", k)
		}
	}

	// No secret anywhere: not in any attribute of any span or resource.
	secrets := []string{key.ClientSecret, s.AdminToken, webhookSecret}
	for _, sp := range spans {
		all := map[string]any{"span": sp.Attributes().AsRaw(), "resource": sp.resource.AsRaw(), "name": sp.Name()}
		for _, ev := range sp.Events().All() {
			all["event "+ev.Name()] = ev.Attributes().AsRaw()
		}
		data, _ := json.Marshal(all)
		for _, secret := range secrets {
			if strings.Contains(string(data), secret) {
				t.Errorf("span %s holds a secret: %s", sp.Name(), data)
			}
		}
	}

	// The request's log line carries the same trace and span ids.
	line := logLine(t, s.Logs(), func(m map[string]any) bool { return m["event"] == "token.issued" })
	if line["trace_id"] != callerTraceID || line["span_id"] != tok.SpanID().String() {
		t.Errorf("token log line: trace_id %v span_id %v, want %s %s", line["trace_id"], line["span_id"], callerTraceID, tok.SpanID())
	}
	// So do the lines the OAuth layer and the admin API write for a request.
	fail := logLine(t, s.Logs(), func(m map[string]any) bool { return m["message"] == "client authentication failed" })
	if fail["trace_id"] != refused.TraceID().String() || fail["span_id"] != refused.SpanID().String() {
		t.Errorf("authentication failure line: trace_id %v span_id %v, want %s %s", fail["trace_id"], fail["span_id"], refused.TraceID(), refused.SpanID())
	}
	adminFail := logLine(t, s.Logs(), func(m map[string]any) bool { return m["message"] == "admin authentication failed" })
	if id, _ := adminFail["trace_id"].(string); len(id) != 32 || adminFail["span_id"] == nil {
		t.Errorf("admin authentication failure line without trace ids: %v", adminFail)
	}
}

// With no endpoint (the default) nothing is exported, nothing is wrapped,
// and no log line carries a trace id, even for a request that arrives with
// a traceparent.
func TestTracingOffByDefault(t *testing.T) {
	rcv := startOTLPReceiver(t)
	s := servertest.Start(t, servertest.Options{})
	if s.Server.Tracing().Enabled() {
		t.Fatal("tracing is on without an endpoint")
	}
	if _, ok := s.Server.Store().(*traced.Store); ok {
		t.Fatal("the store is wrapped for tracing while tracing is off")
	}
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "pipeline"})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient,
		&http.Client{Transport: withHeader{"traceparent", traceparent}})
	cc := &clientcredentials.Config{ClientID: "ci-bot", ClientSecret: key.ClientSecret, TokenURL: s.URL + "/oauth/token"}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("token: %v", err)
	}
	s.Stop()
	if n := rcv.sink.SpanCount(); n != 0 {
		t.Fatalf("%d spans exported with tracing off", n)
	}
	if strings.Contains(s.Logs(), "trace_id") || strings.Contains(s.Logs(), callerTraceID) {
		t.Fatalf("log lines carry trace ids with tracing off:\n%s", s.Logs())
	}
}

// The standard OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on as
// tracing.otlpEndpoint does; an unsampled caller (flags 00) is followed
// even at samplingRatio 1, and samplingRatio 0 records only what the
// caller samples.
func TestTracingEndpointFromEnvironmentAndParentSampling(t *testing.T) {
	// The resource follows the standard variables too.
	t.Setenv("OTEL_SERVICE_NAME", "tokenwright-eu")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
	rcv := startOTLPReceiver(t)
	s := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) { c.Tracing.SamplingRatio = 0 },
		Environ: func(k string) string {
			if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
				return rcv.URL
			}
			return ""
		},
	})
	if !s.Server.Tracing().Enabled() {
		t.Fatal("OTEL_EXPORTER_OTLP_ENDPOINT did not turn tracing on")
	}
	get := func(tp string) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/.well-known/openid-configuration", nil)
		if tp != "" {
			req.Header.Set("traceparent", tp)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	const unsampledTrace = "11111111111111111111111111111111"
	get("")                                                  // ratio 0, no parent: not sampled
	get("00-" + unsampledTrace + "-" + callerSpanID + "-00") // the caller did not sample
	get(traceparent)                                         // the caller sampled
	s.Stop()
	spans := rcv.spans()
	if len(spans) != 1 || spans[0].TraceID().String() != callerTraceID || spans[0].Name() != "GET /.well-known/openid-configuration" {
		t.Fatalf("spans %s, want exactly the sampled caller's discovery request", names(spans))
	}
	res := spans[0].resource.AsRaw()
	if res["service.name"] != "tokenwright-eu" || res["deployment.environment.name"] != "test" {
		t.Fatalf("resource %v", res)
	}
}

func findSpan(t *testing.T, spans []span, match func(span) bool) span {
	t.Helper()
	for _, sp := range spans {
		if match(sp) {
			return sp
		}
	}
	t.Fatalf("no such span among %s", names(spans))
	return span{}
}

func names(spans []span) string {
	var b strings.Builder
	for _, sp := range spans {
		fmt.Fprintf(&b, "\n  %s trace=%s span=%s parent=%s %v", sp.Name(), sp.TraceID(), sp.SpanID(), sp.ParentSpanID(), sp.Attributes().AsRaw())
	}
	return b.String()
}

// logLine returns the first JSON log line that match accepts.
func logLine(t *testing.T, logs string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && match(m) {
			return m
		}
	}
	t.Fatalf("no such log line in\n%s", logs)
	return nil
}

// A receiver that is down costs no request anything: tokens are issued as
// usual, the spans are dropped, and the server's log says so.
func TestUnreachableReceiverFailsNoRequest(t *testing.T) {
	closed := "http://" + freeAddr(t) // nothing listens there any more
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Tracing.OTLPEndpoint = closed }})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com"})
	key := s.CreateKey(t, "ci-bot", api.CreateKey{Name: "pipeline"})
	cc := &clientcredentials.Config{ClientID: "ci-bot", ClientSecret: key.ClientSecret, TokenURL: s.URL + "/oauth/token"}
	for range 3 {
		if _, err := cc.Token(context.Background()); err != nil {
			t.Fatalf("token with the receiver down: %v", err)
		}
	}
	s.Stop()
	logLine(t, s.Logs(), func(m map[string]any) bool {
		return m["level"] == "warn" && strings.HasPrefix(fmt.Sprint(m["message"]), "tracing: exporting spans")
	})
}

// The exporter's standard variables still apply beside tracing.otlpEndpoint:
// OTEL_EXPORTER_OTLP_HEADERS carries a receiver's credential, so that it
// need not be in the URL (which the settings refuse with user info).
func TestOTLPHeadersFromEnvironment(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer otlp-test-credential")
	var mu sync.Mutex
	var got []string
	sink := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = sink.Serve(ln) }()
	t.Cleanup(func() { _ = sink.Close() })
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Tracing.OTLPEndpoint = "http://" + ln.Addr().String() }})
	if resp, err := http.Get(s.URL + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	s.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 || got[0] != "/v1/traces Bearer otlp-test-credential" {
		t.Fatalf("export requests %q, want POST /v1/traces with the header", got)
	}
}

// A receiver that accepts connections and never answers holds the server's
// stop up for a few seconds at most: the last spans are given up.
func TestHangingReceiverDelaysStopBoundedly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	s := servertest.Start(t, servertest.Options{Configure: func(c *config.Config) { c.Tracing.OTLPEndpoint = "http://" + ln.Addr().String() }})
	if resp, err := http.Get(s.URL + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	start := time.Now()
	s.Stop()
	// The flush is bounded by 5 s; the rest is slack for a loaded machine.
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("stop took %s with a hanging receiver", d)
	}
}
