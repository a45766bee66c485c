package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/sso"
)

// loginTimeout bounds the wait for the browser to come back.
const loginTimeout = 5 * time.Minute

func newLoginCommand(getenv env) *cobra.Command {
	var e endpoint
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in with single sign-on and keep a short-lived session for the admin commands",
		Long: `Sign in through the server's single sign-on (sso: in its configuration) in a
browser, as gh auth login does: the CLI listens on 127.0.0.1, opens the browser
($BROWSER, or the system's) at the server, and the server hands the sign-in back
to the CLI through a redirect to that loopback address. What is stored is a
session of the server's console lifetimes (console.sessionMaxAge, 8h, and
console.sessionIdleTimeout, 1h), not a personal access token, in
<user config dir>/tokenwright/logins.json (mode 0600), one per server URL. Admin
commands use it when no --token, --token-file, TOKENWRIGHT_TOKEN or
TOKENWRIGHT_TOKEN_FILE is given. --no-browser opens nothing: it uses the
provider's device authorization grant when the provider offers one (open the
printed address on any device and enter the code), and otherwise prints the
sign-in URL to open in a browser on this computer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hc, err := e.httpClient()
			if err != nil {
				return err
			}
			l := cliLogin{server: loginKey(e.serverURL(getenv)), hc: hc, out: cmd.ErrOrStderr(), browser: getenv.Get("BROWSER"), noBrowser: noBrowser}
			got, err := l.run(cmd.Context())
			if err != nil {
				return err
			}
			if err := updateLogins(getenv, func(f *loginFile) { f.Servers[l.server] = got }); err != nil {
				return fmt.Errorf("storing the sign-in: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signed in to %s as %s (until %s at the latest; after %s unused)\n",
				l.server, got.User, got.ExpiresAt.Local().Format(time.DateTime), time.Duration(got.IdleTimeoutSeconds)*time.Second)
			return nil
		},
	}
	e.registerEndpoint(cmd.Flags(), serverUsage)
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "open no browser: use the provider's device authorization (a code to enter on any device), or print the URL")
	return cmd
}

// cliLogin is one run of the CLI's sign-in (server/sso/cli.go has the
// server's half).
type cliLogin struct {
	server    string
	hc        *http.Client
	out       io.Writer
	browser   string
	noBrowser bool
}

func randomURLSafe() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errNoSSO: the server does not offer single sign-on.
var errNoSSO = errors.New("this server has no single sign-on (its sso.issuer is not set): use a personal access token (--token-file)")

func (l cliLogin) run(ctx context.Context) (storedLogin, error) {
	// Ask first whether the server signs in at all, so that no browser
	// opens for nothing: with single sign-on, an empty exchange is
	// refused as OAuth's invalid_request; without, the path is the
	// console's, which answers otherwise.
	status, body, err := l.exchange(ctx, map[string]string{})
	if err != nil {
		return storedLogin{}, err
	}
	var probe oauthError
	if status != http.StatusBadRequest || json.Unmarshal(body, &probe) != nil || probe.Error != "invalid_request" {
		return storedLogin{}, errNoSSO
	}
	if l.noBrowser {
		got, offered, err := l.device(ctx)
		if offered || err != nil {
			return got, err
		}
		fmt.Fprintln(l.out, "The identity provider offers no device authorization: sign in with a browser on this computer instead.")
	}
	verifier, state := randomURLSafe(), randomURLSafe()
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return storedLogin{}, fmt.Errorf("listening on 127.0.0.1 for the browser's return: %w", err)
	}
	codes := make(chan string, 1)
	srv := &http.Server{Handler: loopbackHandler(state, codes), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	q := url.Values{sso.CLIPortParam: {strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}, sso.CLIChallengeParam: {challenge}, sso.CLIStateParam: {state}}
	start := l.server + sso.LoginPath + "?" + q.Encode()
	if l.noBrowser {
		fmt.Fprintf(l.out, "Open this URL in a browser on this computer to sign in:\n\n  %s\n\nWaiting for the browser...\n", start)
	} else {
		fmt.Fprintf(l.out, "Opening the browser to sign in. If it does not open, open this URL on this computer:\n\n  %s\n\nWaiting for the browser...\n", start)
		if err := openBrowser(l.browser, start); err != nil {
			fmt.Fprintf(l.out, "Could not open a browser (%v): open the URL above.\n", err)
		}
	}
	var code string
	select {
	case code = <-codes:
	case <-ctx.Done():
		return storedLogin{}, ctx.Err()
	case <-time.After(loginTimeout):
		return storedLogin{}, fmt.Errorf("the browser did not come back within %s; run tokenwright login again", loginTimeout)
	}
	status, body, err = l.exchange(ctx, map[string]string{"code": code, "codeVerifier": verifier})
	if err != nil {
		return storedLogin{}, err
	}
	return sessionOf(status, body)
}

// sessionOf reads the server's answer to an exchange.
func sessionOf(status int, body []byte) (storedLogin, error) {
	if status != http.StatusOK {
		var e oauthError
		_ = json.Unmarshal(body, &e)
		return storedLogin{}, fmt.Errorf("the server refused the sign-in: %s (%s)", e.Description, firstOf(e.Error, strconv.Itoa(status)))
	}
	var got sso.CLISessionResponse
	if err := json.Unmarshal(body, &got); err != nil || got.Token == "" {
		return storedLogin{}, fmt.Errorf("the server's answer is not a session: %s", body)
	}
	return storedLogin{Token: got.Token, User: got.User, SignedInAt: time.Now().UTC(), ExpiresAt: got.ExpiresAt,
		IdleTimeoutSeconds: got.IdleTimeoutSeconds}, nil
}

// device signs in with the provider's device authorization grant,
// brokered by the server (server/sso/clidevice.go). offered is false when
// the provider has none.
func (l cliLogin) device(ctx context.Context) (got storedLogin, offered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.server+sso.CLIDevicePath, strings.NewReader("{}"))
	if err != nil {
		return got, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		return got, false, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return got, false, err
	}
	var e oauthError
	if resp.StatusCode == http.StatusBadRequest && json.Unmarshal(body, &e) == nil && e.Error == sso.ErrorUnsupportedGrant {
		return got, false, nil
	}
	var dev sso.CLIDeviceResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &dev) != nil || dev.DeviceCode == "" {
		return got, true, fmt.Errorf("the server could not start a device sign-in (%s): %s", resp.Status, body)
	}
	fmt.Fprintf(l.out, "On any device, open\n\n  %s\n\nand enter the code %s", dev.VerificationURI, dev.UserCode)
	if dev.VerificationURIComplete != "" {
		fmt.Fprintf(l.out, " (or open %s)", dev.VerificationURIComplete)
	}
	fmt.Fprintln(l.out, "\n\nWaiting for the sign-in...")
	interval := max(time.Duration(dev.Interval)*time.Second, time.Second)
	deadline := time.Now().Add(time.Duration(dev.ExpiresIn) * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return got, true, ctx.Err()
		case <-time.After(interval): // the provider's pace (RFC 8628 3.5)
		}
		status, body, err := l.exchange(ctx, map[string]string{"deviceCode": dev.DeviceCode})
		if err != nil {
			return got, true, err
		}
		var e oauthError
		_ = json.Unmarshal(body, &e)
		switch {
		case status == http.StatusBadRequest && e.Error == "authorization_pending":
			continue
		case status == http.StatusBadRequest && e.Error == "slow_down":
			interval += 5 * time.Second
			continue
		}
		got, err := sessionOf(status, body)
		return got, true, err
	}
	return got, true, errors.New("the device sign-in expired before it was completed; run tokenwright login again")
}

// oauthError is the server's refusal of an exchange (RFC 6749 5.2).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// exchange posts body to the server's CLI session endpoint.
func (l cliLogin) exchange(ctx context.Context, body map[string]string) (int, []byte, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.server+sso.CLISessionPath, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, out, err
}

// loopbackHandler takes the browser's return: GET /callback with the
// code and the state this run made (anything else is refused, so another
// page cannot feed the CLI a code of its choosing).
func loopbackHandler(state string, codes chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		q := r.URL.Query()
		if r.URL.Path != sso.CLICallbackPath || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 || q.Get("code") == "" {
			http.Error(w, "This is not the sign-in tokenwright login started; run it again.", http.StatusBadRequest)
			return
		}
		select {
		case codes <- q.Get("code"):
			fmt.Fprintln(w, "Signed in: return to the terminal. You may close this window.")
		default:
			http.Error(w, "The sign-in was already received.", http.StatusConflict)
		}
	})
}

// openBrowser opens url in $BROWSER (a command; its arguments split on
// spaces) or the system's browser, without waiting for it.
func openBrowser(browser, u string) error {
	var cmd *exec.Cmd
	switch {
	case browser != "":
		f := strings.Fields(browser)
		cmd = exec.Command(f[0], append(f[1:], u)...)
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", u)
	case runtime.GOOS == "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

func newLogoutCommand(getenv env) *cobra.Command {
	var e endpoint
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "End the session tokenwright login stored for the server, there and here",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			server := loginKey(e.serverURL(getenv))
			l, ok, err := loginFor(getenv, server)
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintf(cmd.OutOrStdout(), "Not signed in to %s\n", server)
				return nil
			}
			hc, err := e.httpClient()
			if err != nil {
				return err
			}
			// The stored copy goes whatever the server says: a credential
			// the user asked to forget is not kept for a retry.
			endErr := endSession(cmd.Context(), hc, server, l.Token)
			if err := updateLogins(getenv, func(f *loginFile) { delete(f.Servers, server) }); err != nil {
				return err
			}
			if endErr != nil {
				return fmt.Errorf("the stored session was removed, but the server could not end it (it ends by itself at %s): %w",
					l.ExpiresAt.Local().Format(time.DateTime), endErr)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signed out of %s\n", server)
			return nil
		},
	}
	e.registerEndpoint(cmd.Flags(), serverUsage)
	return cmd
}

// endSession asks the server to end a CLI session; one already ended
// (401) is no error.
func endSession(ctx context.Context, hc *http.Client, server, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, server+sso.CLISessionPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("%s %s answered %s", http.MethodDelete, sso.CLISessionPath, resp.Status)
	}
	return nil
}

// whoami is what `tokenwright whoami` shows.
type whoami struct {
	Server   string   `json:"server"`
	UserName string   `json:"userName"`
	Email    string   `json:"email"`
	Admin    bool     `json:"admin"`
	Roles    []string `json:"roles"`
	// Authentication: "single-sign-on" (a session of tokenwright login)
	// or "personal-access-token".
	Authentication     string     `json:"authentication"`
	ExpiresAt          *time.Time `json:"expiresAt,omitempty"`
	IdleTimeoutSeconds int64      `json:"idleTimeoutSeconds,omitempty"`
}

func newWhoamiCommand(getenv env) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who the admin commands act as, and how they authenticate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, login, err := c.requiredClient(getenv)
			if err != nil {
				return err
			}
			u, err := cl.GetUser(cmd.Context(), "me")
			if err != nil {
				return err
			}
			w := whoamiOf(loginKey(c.serverURL(getenv)), u, login)
			return c.print(cmd.OutOrStdout(), w, func(tw *tabwriter.Writer) {
				lines := []field{{"Server", w.Server}, {"User", w.UserName}, {"Email", dash(w.Email)}, {"Admin", strconv.FormatBool(w.Admin)},
					{"Roles", dash(strings.Join(w.Roles, ","))}}
				if login != nil {
					lines = append(lines, field{"Authenticated", "single sign-on (tokenwright login)"},
						field{"Expires", fmtTime(w.ExpiresAt) + " (or after " + (time.Duration(w.IdleTimeoutSeconds) * time.Second).String() + " unused)"})
				} else {
					lines = append(lines, field{"Authenticated", "personal access token"})
				}
				fields(tw, lines...)
			})
		},
	}
	c.register(cmd)
	return cmd
}

func whoamiOf(server string, u api.User, login *storedLogin) whoami {
	w := whoami{Server: server, UserName: u.UserName, Email: u.Email, Admin: u.Admin, Roles: u.Roles, Authentication: "personal-access-token"}
	if w.Roles == nil {
		w.Roles = []string{}
	}
	if login != nil {
		at := login.ExpiresAt
		w.Authentication, w.ExpiresAt, w.IdleTimeoutSeconds = "single-sign-on", &at, login.IdleTimeoutSeconds
	}
	return w
}
