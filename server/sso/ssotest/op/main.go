// Command op is the OpenID provider of tokenwright's single sign-on tests:
// zitadel/oidc's example OP (exampleop, storage) on a loopback listener,
// with confidential web clients and extra claims (such as "groups") read
// from a file.
//
// It is a separate process, as a real provider is. Because the client's
// redirect URI names tokenwright's port, and tokenwright's configuration
// names this provider's issuer, it starts in two steps: it binds its
// listener and prints "ISSUER <url>" on stdout, then reads one line of
// comma-separated redirect URIs on stdin, registers the client with them
// and only then serves (connections made meanwhile wait in the backlog).
//
// The users file is the example storage's own format (a JSON object of
// storage.User by id). The claims file is a JSON object from user id to
// extra claims ({"groups": [...], "email_verified": false}); it is read on
// every request, so a test changes a user's groups between two sign-ins
// by rewriting it.
//
// Beyond the example, as real providers do:
//   - The registration line may carry a second, space-separated field of
//     comma-separated post-logout redirect URIs (RP-initiated logout).
//   - -jwt-client-id registers one more client (same redirect URIs) that
//     authenticates with private_key_jwt, with the public key of
//     -jwt-client-key (PEM) under the key id -jwt-client-key-id.
//   - The token endpoint authenticates the client before it looks at the
//     grant (RFC 6749 section 5.2 lists invalid_client first; Entra ID,
//     Okta, Keycloak, Google and Dex do so): the example OP looks the code
//     up first and answers invalid_grant to a bogus code whatever the
//     credentials, which would hide a wrong secret from a check.
//   - -no-end-session leaves end_session_endpoint out of the discovery
//     document (a provider without RP-initiated logout).
//   - Web clients may also use the device authorization grant (RFC 8628);
//     -no-device leaves device_authorization_endpoint out of discovery.
//   - With -sessions, a successful login leaves a browser session (cookie
//     op_session): a later authorization request from that browser skips
//     the password, until end_session ends the user's sessions.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

func main() {
	usersFile := flag.String("users", "", "users file (storage.User by id, JSON)")
	claimsFile := flag.String("claims", "", "extra claims file (user id to claims, JSON)")
	clientID := flag.String("client-id", "tokenwright", "client ids, comma-separated (each a confidential web client with the same secret and redirect URIs)")
	clientSecret := flag.String("client-secret", "", "client secret")
	var o options
	flag.StringVar(&o.jwtClientID, "jwt-client-id", "", "a client that authenticates with private_key_jwt")
	flag.StringVar(&o.jwtKeyFile, "jwt-client-key", "", "PEM public key of -jwt-client-id")
	flag.StringVar(&o.jwtKeyID, "jwt-client-key-id", "", "key id (kid) of -jwt-client-key")
	flag.BoolVar(&o.sessions, "sessions", false, "keep browser sessions (a second sign-in skips the password until end_session)")
	flag.BoolVar(&o.noEndSession, "no-end-session", false, "do not advertise end_session_endpoint")
	flag.BoolVar(&o.noDevice, "no-device", false, "publish no device_authorization_endpoint (a provider without the device grant)")
	flag.Parse()
	o.usersFile = *usersFile
	if err := run(*usersFile, *claimsFile, *clientID, *clientSecret, o); err != nil {
		fmt.Fprintln(os.Stderr, "op:", err)
		os.Exit(1)
	}
}

func run(usersFile, claimsFile, clientID, clientSecret string, o options) error {
	users, err := storage.StoreFromFile(usersFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The trailing slash is what zitadel's OP (and Entra ID) publish: the
	// relying party must compare the issuer exactly as written.
	issuer := fmt.Sprintf("http://%s/", ln.Addr())
	fmt.Printf("ISSUER %s\n", issuer)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the redirect URIs: %w", err)
	}
	redirects, postLogout, _ := strings.Cut(strings.TrimSpace(line), " ")
	ids := strings.Split(clientID, ",")
	if o.jwtClientID != "" {
		ids = append(ids, o.jwtClientID)
	}
	for _, id := range ids {
		storage.RegisterClients(storage.WebClient(id, clientSecret, strings.Split(redirects, ",")...))
	}
	byUsername, err := idsByUsername(usersFile)
	if err != nil {
		return err
	}
	st := &claimStorage{Storage: storage.NewStorage(users), claimsFile: claimsFile, opts: o, ids: byUsername}
	if postLogout != "" {
		st.postLogout = strings.Split(postLogout, ",")
	}
	if err := st.loadJWTKey(); err != nil {
		return err
	}
	if o.sessions {
		if st.browser, err = newBrowserSessions(o.usersFile, issuer, st.Storage); err != nil {
			return err
		}
	}
	router := exampleop.SetupServer(issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	handler := st.browser.wrap(clientFirst(issuer, st, router))
	var missing []string
	if o.noEndSession {
		missing = append(missing, "end_session_endpoint")
	}
	if o.noDevice {
		missing = append(missing, "device_authorization_endpoint")
	}
	handler = withoutDiscoveryFields(handler, missing...)
	return http.Serve(ln, handler)
}

// claimStorage adds the extra claims (from the claims file) to the
// userinfo of the ID token and of the userinfo endpoint.
type claimStorage struct {
	*storage.Storage
	claimsFile string
	opts       options
	postLogout []string
	jwtKey     *jose.JSONWebKey
	browser    *browserSessions  // nil without -sessions
	ids        map[string]string // user id by username (the device flow)
}

func (s *claimStorage) addClaims(info *oidc.UserInfo, userID string) error {
	if s.claimsFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.claimsFile)
	if err != nil {
		return err
	}
	var claims map[string]map[string]any
	if err := json.Unmarshal(data, &claims); err != nil {
		return err
	}
	for k, v := range claims[userID] {
		info.AppendClaims(k, v)
	}
	return nil
}

func (s *claimStorage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, userID, clientID string, scopes []string) error {
	if err := s.Storage.SetUserinfoFromScopes(ctx, info, userID, clientID, scopes); err != nil {
		return err
	}
	return s.addClaims(info, userID)
}

func (s *claimStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	return s.addClaims(info, req.GetSubject())
}

func (s *claimStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	return s.addClaims(info, info.Subject)
}
