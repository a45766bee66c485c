package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// options are the additions to the example OP (see the package comment).
type options struct {
	usersFile                         string
	jwtClientID, jwtKeyFile, jwtKeyID string
	sessions, noEndSession, noDevice  bool
}

// client is a registered client with what the example's own Client type
// cannot be given from outside its package: post-logout redirect URIs
// and the private_key_jwt method.
type client struct {
	op.Client
	postLogout []string
	method     oidc.AuthMethod
}

func (c client) PostLogoutRedirectURIs() []string { return c.postLogout }
func (c client) AuthMethod() oidc.AuthMethod      { return c.method }

// GrantTypes adds the device authorization grant (RFC 8628), as a
// provider's confidential client may use it when the provider offers it;
// the example storage's WebClient may not.
func (c client) GrantTypes() []oidc.GrantType {
	return append(c.Client.GrantTypes(), oidc.GrantTypeDeviceCode)
}

func (s *claimStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	w := client{Client: c, postLogout: s.postLogout, method: c.AuthMethod()}
	if id == s.opts.jwtClientID {
		w.method = oidc.AuthMethodPrivateKeyJWT
	}
	return w, nil
}

func (s *claimStorage) loadJWTKey() error {
	if s.opts.jwtClientID == "" {
		return nil
	}
	data, err := os.ReadFile(s.opts.jwtKeyFile)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return errors.New("-jwt-client-key: no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return err
	}
	s.jwtKey = &jose.JSONWebKey{Key: pub, KeyID: s.opts.jwtKeyID, Use: "sig"}
	return nil
}

// GetKeyByIDAndClientID answers the private_key_jwt client's key; other
// clients' keys are the example's.
func (s *claimStorage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	if s.jwtKey != nil && clientID == s.opts.jwtClientID {
		if keyID != s.jwtKey.KeyID {
			return nil, errors.New("unknown key id")
		}
		return s.jwtKey, nil
	}
	return s.Storage.GetKeyByIDAndClientID(ctx, keyID, clientID)
}

// TerminateSession (end_session) also ends the user's browser sessions.
func (s *claimStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	s.browser.end(userID)
	return s.Storage.TerminateSession(ctx, userID, clientID)
}

// clientFirst authenticates the client at the token endpoint before the
// example OP looks at the grant.
func clientFirst(issuer string, st *claimStorage, next http.Handler) http.Handler {
	verifier := op.NewJWTProfileVerifier(st, issuer, time.Hour, time.Second)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			next.ServeHTTP(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		if assertion := r.PostForm.Get("client_assertion"); assertion != "" {
			req, err := op.VerifyJWTAssertion(r.Context(), assertion, verifier)
			if err != nil {
				invalidClient(w, "client assertion: "+err.Error())
				return
			}
			if c, err := st.GetClientByClientID(r.Context(), req.Issuer); err != nil || c.AuthMethod() != oidc.AuthMethodPrivateKeyJWT {
				invalidClient(w, "client is not a private_key_jwt client")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		id, secret, basic := r.BasicAuth()
		if basic {
			id, _ = url.QueryUnescape(id)
			secret, _ = url.QueryUnescape(secret)
		} else {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if secret == "" && !basic {
			next.ServeHTTP(w, r) // a public client: the grant decides
			return
		}
		if c, err := st.GetClientByClientID(r.Context(), id); err != nil || c.AuthMethod() == oidc.AuthMethodPrivateKeyJWT ||
			st.AuthorizeClientIDSecret(r.Context(), id, secret) != nil {
			invalidClient(w, "client authentication failed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func invalidClient(w http.ResponseWriter, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `Basic realm="op"`)
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": desc})
}

// browserSessions are the provider's own sign-in sessions (-sessions).
type browserSessions struct {
	issuer string
	st     *storage.Storage
	users  map[string]fileUser // by id

	mu     sync.Mutex
	byUser map[string]map[string]bool // user id → cookie values
	cookie map[string]string          // cookie value → user id
}

type fileUser struct{ ID, Username, Password string }

const sessionCookie = "op_session"

func newBrowserSessions(usersFile, issuer string, st *storage.Storage) (*browserSessions, error) {
	data, err := os.ReadFile(usersFile)
	if err != nil {
		return nil, err
	}
	b := &browserSessions{issuer: issuer, st: st, byUser: map[string]map[string]bool{}, cookie: map[string]string{}}
	if err := json.Unmarshal(data, &b.users); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *browserSessions) end(userID string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.byUser[userID] {
		delete(b.cookie, c)
	}
	delete(b.byUser, userID)
}

func (b *browserSessions) wrap(next http.Handler) http.Handler {
	if b == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/login/username" {
			next.ServeHTTP(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet:
			if c, err := r.Cookie(sessionCookie); err == nil {
				b.mu.Lock()
				u, ok := b.users[b.cookie[c.Value]]
				b.mu.Unlock()
				id := r.FormValue("authRequestID")
				if ok && b.st.CheckUsernamePassword(u.Username, u.Password, id) == nil {
					http.Redirect(w, r, strings.TrimSuffix(b.issuer, "/")+"/auth/callback?id="+url.QueryEscape(id), http.StatusFound)
					return
				}
			}
		case http.MethodPost:
			if err := r.ParseForm(); err == nil {
				for _, u := range b.users {
					if u.Username == r.PostForm.Get("username") && u.Password == r.PostForm.Get("password") {
						v := make([]byte, 32)
						_, _ = rand.Read(v)
						value := base64.RawURLEncoding.EncodeToString(v)
						b.mu.Lock()
						if b.byUser[u.ID] == nil {
							b.byUser[u.ID] = map[string]bool{}
						}
						b.byUser[u.ID][value], b.cookie[value] = true, u.ID
						b.mu.Unlock()
						http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true})
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// withoutDiscoveryFields drops fields from the discovery document, as a
// provider publishes it that lacks the feature: end_session_endpoint
// (-no-end-session: no RP-initiated logout), device_authorization_endpoint
// (-no-device: no device grant).
func withoutDiscoveryFields(next http.Handler, fields ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, f := range fields {
			delete(doc, f)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	})
}
