// Command op is the OpenID provider of tokenwright's single sign-on tests:
// zitadel/oidc's example OP (exampleop, storage) on a loopback listener,
// with one confidential web client and a "groups" claim read from a file.
//
// It is a separate process, as a real provider is. Because the client's
// redirect URI names tokenwright's port, and tokenwright's configuration
// names this provider's issuer, it starts in two steps: it binds its
// listener and prints "ISSUER <url>" on stdout, then reads one line of
// comma-separated redirect URIs on stdin, registers the client with them
// and only then serves (connections made meanwhile wait in the backlog).
//
// The users file is the example storage's own format (a JSON object of
// storage.User by id). The groups file is a JSON object from user id to a
// list of groups; it is read on every request, so a test changes a user's
// groups between two sign-ins by rewriting it.
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
	groupsFile := flag.String("groups", "", "groups file (user id to groups, JSON)")
	clientID := flag.String("client-id", "tokenwright", "client ids, comma-separated (each a confidential web client with the same secret and redirect URIs)")
	clientSecret := flag.String("client-secret", "", "client secret")
	flag.Parse()
	if err := run(*usersFile, *groupsFile, *clientID, *clientSecret); err != nil {
		fmt.Fprintln(os.Stderr, "op:", err)
		os.Exit(1)
	}
}

func run(usersFile, groupsFile, clientID, clientSecret string) error {
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
	st := &groupStorage{Storage: storage.NewStorage(users), groupsFile: groupsFile}
	router := exampleop.SetupServer(issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	return http.Serve(ln, router)
}

// groupStorage adds the "groups" claim (from the groups file) to the
// userinfo of the ID token and of the userinfo endpoint.
type groupStorage struct {
	*storage.Storage
	groupsFile string
}

func (s *groupStorage) addGroups(info *oidc.UserInfo, userID string) error {
	if s.groupsFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.groupsFile)
	if err != nil {
		return err
	}
	var groups map[string][]string
	if err := json.Unmarshal(data, &groups); err != nil {
		return err
	}
	if g, ok := groups[userID]; ok {
		info.AppendClaims("groups", g)
	}
	return nil
}

func (s *groupStorage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, userID, clientID string, scopes []string) error {
	if err := s.Storage.SetUserinfoFromScopes(ctx, info, userID, clientID, scopes); err != nil {
		return err
	}
	return s.addGroups(info, userID)
}

func (s *groupStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, req, scopes); err != nil {
		return err
	}
	return s.addGroups(info, req.GetSubject())
}

func (s *groupStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	return s.addGroups(info, info.Subject)
}
