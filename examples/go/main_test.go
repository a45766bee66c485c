package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
)

// TestExample runs the example against a real server and a Domino
// stand-in that verifies the bearer token with go-oidc.
func TestExample(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	domino := servertest.Upstream(t, s.URL, "Domino", func(w http.ResponseWriter, r *http.Request, tok *oidc.IDToken, err error) {
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"verifiedSubject": tok.Subject, "path": r.URL.Path})
	})

	s.CreateAccount(t, api.CreateServiceAccount{UserName: "ci-bot", Email: "ci-bot@example.com", AllowedAudiences: []string{"Domino"}})
	t.Setenv("TOKENWRIGHT_SERVER", s.URL)
	t.Setenv("TOKENWRIGHT_CLIENT_ID", "ci-bot")
	t.Setenv("TOKENWRIGHT_CLIENT_SECRET", s.CreateKey(t, "ci-bot", api.CreateKey{Name: "k"}).ClientSecret)
	t.Setenv("DOMINO_URL", domino)
	var out bytes.Buffer
	if err := run(context.Background(), &out, []string{"/api/v1/scopes"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"verifiedSubject":"ci-bot"`) || !strings.Contains(out.String(), `"path":"/api/v1/scopes"`) {
		t.Fatalf("example printed %q", out.String())
	}
	t.Setenv("TOKENWRIGHT_CLIENT_SECRET", "twk_wrong")
	if err := run(context.Background(), &out, nil); err == nil {
		t.Fatal("a wrong secret succeeded")
	}
}
