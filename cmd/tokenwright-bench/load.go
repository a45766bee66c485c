//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// load drives one endpoint.
type load struct {
	o       options
	target  string
	admin   string
	account string // owner of the keys
	secrets []string
	client  *http.Client
	// introspection mode: the caller's credentials and the tokens it asks
	// about.
	introspector [2]string
	tokens       []string
	roots        *x509.CertPool // with -tls: the child's CA
}

func newLoad(ctx context.Context, o options, target, admin string, srv *child) (*load, error) {
	l := &load{o: o, target: target, admin: admin, account: benchAccount, roots: srv.roots(), client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: o.workers * 2, MaxIdleConnsPerHost: o.workers * 2, DisableCompression: true,
			TLSClientConfig: &tls.Config{RootCAs: srv.roots()}},
	}}
	if o.clientID != "" {
		return l, l.useGivenClient(ctx)
	}
	needsKeys := o.mode == "token" || o.mode == "introspect"
	if !needsKeys && (o.mode != "keycreate" || srv != nil) {
		return l, nil
	}
	if srv != nil {
		data, err := os.ReadFile(filepath.Join(srv.dataDir, secretsFile))
		if err != nil {
			return nil, err
		}
		l.secrets = strings.Split(strings.TrimSpace(string(data)), "\n")
	} else if err := l.seedOnline(ctx); err != nil {
		return nil, err
	}
	if o.mode == "introspect" {
		return l, l.prepareIntrospection(ctx)
	}
	return l, nil
}

// prepareIntrospection creates a resource-server account allowed to
// introspect and mints the tokens it will ask about.
func (l *load) prepareIntrospection(ctx context.Context) error {
	name := fmt.Sprintf("introspector-%d", time.Now().UnixNano()%1e9)
	body := fmt.Sprintf(`{"userName":%q,"email":"%s@example.com","permissions":["introspect"]}`, name, name)
	if _, err := l.adminCall(ctx, "/api/v1/service-accounts", body); err != nil {
		return err
	}
	out, err := l.adminCall(ctx, "/api/v1/service-accounts/"+name+"/keys", `{"name":"bench"}`)
	if err != nil {
		return err
	}
	var k struct{ ClientSecret string }
	if err := json.Unmarshal(out, &k); err != nil {
		return err
	}
	l.introspector = [2]string{name, k.ClientSecret}
	for i := range min(len(l.secrets), 100) {
		tokenReq, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.target+"/oauth/token",
			strings.NewReader("grant_type=client_credentials"))
		tokenReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tokenReq.SetBasicAuth(l.account, l.secrets[i])
		resp, err := l.client.Do(tokenReq)
		if err != nil {
			return err
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if err != nil || tok.AccessToken == "" {
			return fmt.Errorf("minting a token to introspect: HTTP %d %v", resp.StatusCode, err)
		}
		l.tokens = append(l.tokens, tok.AccessToken)
	}
	// A benchmark of {"active":false} answers would measure the wrong path.
	req, _ := l.request(ctx, 0)
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res struct{ Active bool }
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || !res.Active {
		return fmt.Errorf("introspection of a fresh token is not active (HTTP %d, %v)", resp.StatusCode, err)
	}
	return nil
}

// seedOnline creates an account and keys through the admin API of a
// server that the benchmark did not start.
func (l *load) seedOnline(ctx context.Context) error {
	if l.admin == "" {
		return fmt.Errorf("-target needs -admin-token to seed keys")
	}
	name := fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e9)
	l.account = name
	body := fmt.Sprintf(`{"userName":%q,"email":"%s@example.com","allowedScopes":["Domino.user.all"],"allowedAudiences":["https://domino.example.com"]}`, name, name)
	if _, err := l.adminCall(ctx, "/api/v1/service-accounts", body); err != nil {
		return err
	}
	if l.o.mode != "token" && l.o.mode != "introspect" {
		return nil
	}
	for i := range min(l.o.keys, maxLoadKeys) {
		out, err := l.adminCall(ctx, "/api/v1/service-accounts/"+name+"/keys", fmt.Sprintf(`{"name":"k%d"}`, i))
		if err != nil {
			return err
		}
		var k struct{ ClientSecret string }
		if err := json.Unmarshal(out, &k); err != nil {
			return err
		}
		l.secrets = append(l.secrets, k.ClientSecret)
	}
	return nil
}

func (l *load) adminCall(ctx context.Context, path, body string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.target+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+l.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s: HTTP %d %s", path, resp.StatusCode, out)
	}
	return out, nil
}

// tokenRequest is a client-credentials request to tokenURL with the
// credentials in Basic auth (what every load of the token endpoint sends).
func tokenRequest(ctx context.Context, tokenURL, clientID, secret string) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	return req
}

// request builds the n-th request of a worker and the status it expects.
func (l *load) request(ctx context.Context, n int) (*http.Request, int) {
	switch l.o.mode {
	case "token":
		return tokenRequest(ctx, l.target+l.o.endpointPath(), l.account, l.secrets[n%len(l.secrets)]), http.StatusOK
	case "introspect":
		if len(l.tokens) == 0 {
			break
		}
		form := "token=" + l.tokens[n%len(l.tokens)]
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.target+l.o.endpointPath(), strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(l.introspector[0], l.introspector[1])
		return req, http.StatusOK
	case "jwks":
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.target+l.o.endpointPath(), nil)
		return req, http.StatusOK
	case "discovery":
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.target+l.o.endpointPath(), nil)
		return req, http.StatusOK
	case "keycreate":
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.target+"/api/v1/service-accounts/"+l.account+"/keys",
			bytes.NewReader([]byte(fmt.Sprintf(`{"name":"load-%d"}`, n))))
		req.Header.Set("Authorization", "Bearer "+l.admin)
		req.Header.Set("Content-Type", "application/json")
		return req, http.StatusCreated
	}
	panic("unknown mode " + l.o.mode) // parseFlags-validated; unreachable
}

type stats struct {
	ok, errors int
	latencies  []time.Duration
	// With -rate: latencies counted from the moment the schedule released
	// each request instead of the moment it was due, and how late the
	// release was (the generator's own timer; see drive).
	fromRelease, releaseLag []time.Duration
	elapsed                 time.Duration
	firstError              string
	// TLS handshakes made by the workers, full and resumed.
	fullHandshakes, resumedHandshakes int
}

// tick is one request of the open loop (-rate): when it was due, and when
// the schedule released it.
type tick struct{ due, released time.Time }

// drive runs the workers until the duration ends. With -rate, requests
// are scheduled at fixed intervals and latency counts from the scheduled
// moment, so a slow server cannot hide its queueing (no coordinated
// omission). The schedule itself can only release a request when its
// timer fires, and an idle Go program's timers fire up to a millisecond
// or more late (the runtime's poller sleeps in whole milliseconds; on this
// project's VM time.Sleep(100µs) overshoots by 1 ms at the median): that
// lateness is the generator's, not the server's, so each request's
// latency is also counted from its release (which still includes any
// wait for a free worker, i.e. the server's queueing), and the release
// lag is reported on its own.
func (l *load) drive(ctx context.Context) (stats, error) {
	if l.o.mode == "token" && len(l.secrets) == 0 {
		return stats{}, fmt.Errorf("no keys to drive the token endpoint with")
	}
	ctx, cancel := context.WithTimeout(ctx, l.o.duration)
	defer cancel()
	var schedule chan tick
	if l.o.rate > 0 {
		schedule = make(chan tick, 100000)
		go func() {
			defer close(schedule)
			interval := time.Duration(float64(time.Second) / l.o.rate)
			timer := time.NewTimer(0)
			defer timer.Stop()
			next := time.Now()
			for {
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					timer.Reset(d)
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				}
				select {
				case schedule <- tick{due: next, released: time.Now()}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	var total stats
	var wg sync.WaitGroup
	start := time.Now()
	for w := range l.o.workers {
		wg.Go(func() {
			var s stats
			s.latencies = make([]time.Duration, 0, 4096)
			n := rand.IntN(1 << 20)
			var raw *rawConn
			if l.o.client == "raw" {
				raw = &rawConn{target: l.target}
				if l.o.tls {
					raw.tls, raw.perRequest = clientTLS(l.roots, l.o.tlsConn), l.o.tlsConn != tlsKeepAlive
				}
				defer raw.close()
			}
			for {
				began := time.Now()
				var released time.Time
				if schedule != nil {
					t, ok := <-schedule
					if !ok {
						break
					}
					began, released = t.due, t.released
				} else if ctx.Err() != nil {
					break
				}
				n++
				req, want := l.request(context.WithoutCancel(ctx), n*l.o.workers+w)
				req.Close = raw != nil && raw.perRequest // Connection: close, as curl in a loop
				var status int
				var err error
				if raw != nil {
					status, err = raw.do(req)
				} else {
					status, err = l.do(req)
				}
				switch {
				case err != nil:
					s.errors++
					s.firstError = err.Error()
				case status != want:
					s.errors++
					s.firstError = fmt.Sprintf("HTTP %d", status)
				default:
					s.ok++
					s.latencies = append(s.latencies, time.Since(began))
					if schedule != nil {
						s.fromRelease = append(s.fromRelease, time.Since(released))
						s.releaseLag = append(s.releaseLag, released.Sub(began))
					}
				}
			}
			if raw != nil {
				s.fullHandshakes, s.resumedHandshakes = raw.full, raw.resumed
			}
			mu.Lock()
			total.ok += s.ok
			total.fullHandshakes += s.fullHandshakes
			total.resumedHandshakes += s.resumedHandshakes
			total.errors += s.errors
			total.latencies = append(total.latencies, s.latencies...)
			total.fromRelease = append(total.fromRelease, s.fromRelease...)
			total.releaseLag = append(total.releaseLag, s.releaseLag...)
			if total.firstError == "" {
				total.firstError = s.firstError
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	slices.Sort(total.latencies)
	slices.Sort(total.fromRelease)
	slices.Sort(total.releaseLag)
	return total, nil
}

// do sends req through net/http's client (pooled connections, one
// goroutine pair per connection) and drains the body.
func (l *load) do(req *http.Request) (int, error) {
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// rawConn is one keep-alive HTTP/1.1 connection used synchronously by one
// worker: the request is written with net/http's Request.Write and the
// answer read with http.ReadResponse, without the Transport's pool and
// per-connection goroutines. On two shared cores the load generator's own
// CPU is taken from the server, so the lighter client measures the server
// more truly (-client nethttp compares).
//
// With tls set it speaks HTTPS, counting its full and resumed handshakes;
// perRequest closes the connection after every answer.
type rawConn struct {
	target        string
	tls           *tls.Config
	perRequest    bool
	full, resumed int
	conn          net.Conn
	br            *bufio.Reader
	bw            *bufio.Writer
}

func (c *rawConn) do(req *http.Request) (int, error) {
	for attempt := 0; ; attempt++ {
		status, err := c.roundTrip(req)
		if err == nil || attempt == 1 || req.GetBody == nil {
			return status, err
		}
		// A keep-alive connection the server closed: redial once.
		c.close()
		if req.Body, err = req.GetBody(); err != nil {
			return 0, err
		}
	}
}

func (c *rawConn) roundTrip(req *http.Request) (int, error) {
	if c.conn == nil {
		u, err := url.Parse(c.target)
		if err != nil {
			return 0, err
		}
		if c.conn, err = net.Dial("tcp", u.Host); err != nil {
			return 0, err
		}
		if c.tls != nil {
			tc := tls.Client(c.conn, c.tls)
			c.conn = tc
			if err := tc.Handshake(); err != nil {
				c.close()
				return 0, err
			}
			if tc.ConnectionState().DidResume {
				c.resumed++
			} else {
				c.full++
			}
		}
		c.br, c.bw = bufio.NewReaderSize(c.conn, 16<<10), bufio.NewWriterSize(c.conn, 4<<10)
	}
	if err := req.Write(c.bw); err != nil {
		c.close()
		return 0, err
	}
	if err := c.bw.Flush(); err != nil {
		c.close()
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		c.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return resp.StatusCode, err
}

func (c *rawConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}
