package servertest

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Upstream starts a resource server on 127.0.0.1 standing in for Domino:
// it verifies each request's bearer token with go-oidc against issuer's
// discovery and JWKS for audience, then calls handle with the verified
// token, or with a nil token and the error. It returns the base URL.
func Upstream(t testing.TB, issuer, audience string, handle func(w http.ResponseWriter, r *http.Request, tok *oidc.IDToken, err error)) string {
	t.Helper()
	provider, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: audience})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := verifier.Verify(r.Context(), raw)
		if !ok && err == nil {
			err = errNoBearer
		}
		handle(w, r, tok, err)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

type noBearer struct{}

func (noBearer) Error() string { return "no bearer token" }

var errNoBearer error = noBearer{}
