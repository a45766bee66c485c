//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A server the tool did not start and cannot seed — another OAuth server
// (scripts/peers drives Dex with it), or a tokenwright with a client the
// caller created — is driven with one client id and secret given on the
// command line (-client-id, -client-secret) at -token-url. Given the
// server's process id (-target-pid) the run reports the server's CPU per
// token and its memory exactly as for a child it started: from /proc.

// errGivenClient explains the flags that go together with -client-id.
var errGivenClient = errors.New("-client-id and -client-secret go together, need -target and -mode token")

// checkGivenClient validates the flags of a run against a server the tool
// cannot seed; parseFlags calls it.
func checkGivenClient(o options) error {
	if o.clientID == "" && o.clientSecret == "" {
		if o.targetPID != 0 && o.target == "" {
			return errors.New("-target-pid needs -target (the started server is measured anyway)")
		}
		return nil
	}
	if o.clientID == "" || o.clientSecret == "" || o.target == "" || o.mode != "token" {
		return errGivenClient
	}
	if o.targetPID < 0 {
		return errors.New("-target-pid must be a process id")
	}
	if u, err := url.Parse(o.target); err != nil || u.Scheme != "http" {
		// The workers speak TLS only to a server the tool started (-tls),
		// whose CA it made.
		return errors.New("-client-id needs an http:// -target")
	}
	return nil
}

// useGivenClient sets the load up to authenticate as the given client and
// checks, with one token request, that the server answers it with a JWT
// signed with -alg: a comparison of two servers signing with different
// algorithms would compare the algorithms.
func (l *load) useGivenClient(ctx context.Context) error {
	l.account, l.secrets = l.o.clientID, []string{l.o.clientSecret}
	req, _ := l.request(ctx, 0)
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("first token request to %s: %w", req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("first token request to %s: HTTP %d %s", req.URL, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("first token request to %s: no access_token in %q", req.URL, body)
	}
	alg, err := jwtAlgorithm(tok.AccessToken)
	if err != nil {
		return fmt.Errorf("first token request to %s: %w", req.URL, err)
	}
	if alg != l.o.alg {
		return fmt.Errorf("the server at %s signs its tokens with %s, not -alg %s", l.target, alg, l.o.alg)
	}
	return nil
}

// jwtAlgorithm reads the alg of a compact JWS's protected header. It does
// not verify anything: it only tells which signature the server made.
func jwtAlgorithm(token string) (string, error) {
	header, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", errors.New("the access token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return "", fmt.Errorf("the access token's header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.Alg == "" {
		return "", errors.New("the access token's header has no alg")
	}
	return h.Alg, nil
}

// serverProcess is the server process a run measures: the child it
// started, or the process given by -target-pid.
type serverProcess interface {
	cpuSeconds() float64
	rss() (current, peak float64)
}

// pidProcess is a server process the tool did not start.
type pidProcess int

func (p pidProcess) cpuSeconds() float64          { return procCPUSeconds(int(p)) }
func (p pidProcess) rss() (current, peak float64) { return procRSS(int(p)) }

// checkListens makes sure the process pid is the one listening on the
// target's port, so the CPU the run reports is the server's and not some
// other process's: it looks up the listening socket's inode in
// /proc/net/tcp{,6} and that inode among the process's open files.
func checkListens(pid int, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("-target %s: port %q", target, port)
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(table, uint16(p), inodes); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if len(inodes) == 0 {
		return fmt.Errorf("nothing listens on port %d", p)
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return fmt.Errorf("-target-pid %d: %w", pid, err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
			return nil
		}
	}
	return fmt.Errorf("-target-pid %d does not hold the socket listening on port %d", pid, p)
}

// listeningInodes adds the inodes of the sockets listening on port in a
// /proc/net/tcp-format table to inodes.
func listeningInodes(table string, port uint16, inodes map[string]bool) error {
	f, err := os.Open(table)
	if err != nil {
		return err
	}
	defer f.Close()
	const listen = "0A" // TCP_LISTEN in the st column
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) >= 10 && fields[3] == listen && strings.HasSuffix(fields[1], want) {
			inodes[fields[9]] = true
		}
	}
	return sc.Err()
}
