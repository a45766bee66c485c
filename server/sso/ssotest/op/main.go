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
	noDevice := flag.Bool("no-device", false, "publish no device_authorization_endpoint (a provider without the device grant)")
	flag.Parse()
	if err := run(*usersFile, *claimsFile, *clientID, *clientSecret, *noDevice); err != nil {
		fmt.Fprintln(os.Stderr, "op:", err)
		os.Exit(1)
	}
}

func run(usersFile, claimsFile, clientID, clientSecret string, noDevice bool) error {
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
	for _, id := range strings.Split(clientID, ",") {
		storage.RegisterClients(storage.WebClient(id, clientSecret, strings.Split(strings.TrimSpace(line), ",")...))
	}
	ids, err := idsByUsername(usersFile)
	if err != nil {
		return err
	}
	st := &claimStorage{Storage: storage.NewStorage(users), claimsFile: claimsFile, ids: ids}
	router := exampleop.SetupServer(issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	var handler http.Handler = router
	if noDevice {
		handler = withoutDeviceGrant(router)
	}
	return http.Serve(ln, handler)
}

// claimStorage adds the extra claims (from the claims file) to the
// userinfo of the ID token and of the userinfo endpoint.
type claimStorage struct {
	*storage.Storage
	claimsFile string
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
