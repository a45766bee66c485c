package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/servertest"
)

func TestBootstrapWritesAdminTokenOnce(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	if !strings.HasPrefix(s.AdminToken, "twp_") {
		t.Fatalf("admin token %q", s.AdminToken)
	}
	fi, err := os.Stat(filepath.Join(s.DataDir, "admin.token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v mode %o", err, fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(s.DataDir, "tokenwright.db")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %o", fi.Mode().Perm())
	}
	if strings.Contains(s.Logs(), s.AdminToken) {
		t.Fatal("the admin token was logged")
	}
}

func TestAdminAPIRequiresAuthentication(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	body := api.CreateServiceAccount{UserName: "x", Email: "x@example.com"}
	for _, token := range []string{"", "garbage", servertest.WrongSecret(s.AdminToken)} {
		var e api.Error
		if code := s.Do(t, token, http.MethodPost, "/api/v1/service-accounts", body, &e); code != http.StatusUnauthorized || e.Code != "unauthenticated" {
			t.Fatalf("token %q: HTTP %d %+v", token, code, e)
		}
	}
	var list api.List[api.ServiceAccount]
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts", nil, &list)
	if len(list.Items) != 0 {
		t.Fatal("an unauthenticated request changed state")
	}
	// A service-account key is not an admin credential.
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com"})
	k := s.CreateKey(t, "svc", api.CreateKey{Name: "k"})
	if code := s.Do(t, k.ClientSecret, http.MethodGet, "/api/v1/service-accounts", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("service key on the admin API: HTTP %d", code)
	}
}

func TestAdminAPIValidation(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "automation", Email: "automation+ci@example.com"})

	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"duplicate name", api.CreateServiceAccount{UserName: "automation", Email: "a2@example.com"}, 409, "already_exists"},
		{"duplicate email", api.CreateServiceAccount{UserName: "automation2", Email: "automation+ci@example.com"}, 409, "conflict"},
		{"duplicate email, other case", api.CreateServiceAccount{UserName: "automation2", Email: "Automation+CI@example.com"}, 409, "conflict"},
		{"bad name: upper case", api.CreateServiceAccount{UserName: "CI-Bot", Email: "c@example.com"}, 400, "invalid_request"},
		{"bad name: space", api.CreateServiceAccount{UserName: "ci bot", Email: "c@example.com"}, 400, "invalid_request"},
		{"bad name: empty", api.CreateServiceAccount{UserName: "", Email: "c@example.com"}, 400, "invalid_request"},
		{"bad email", api.CreateServiceAccount{UserName: "c", Email: "not-an-email"}, 400, "invalid_request"},
		{"email with display name", api.CreateServiceAccount{UserName: "c", Email: "Bob <bob@example.com>"}, 400, "invalid_request"},
		{"missing email", api.CreateServiceAccount{UserName: "c"}, 400, "invalid_request"},
		{"bad audience", api.CreateServiceAccount{UserName: "c", Email: "c@example.com", AllowedAudiences: []string{"https://a/*/b"}}, 400, "invalid_request"},
		{"bad cidr", api.CreateServiceAccount{UserName: "c", Email: "c@example.com", AllowedCIDRs: []string{"10.0.0.0/33"}}, 400, "invalid_request"},
		{"registered claim", api.CreateServiceAccount{UserName: "c", Email: "c@example.com", Claims: map[string]any{"iss": "x"}}, 400, "invalid_request"},
		{"object claim", api.CreateServiceAccount{UserName: "c", Email: "c@example.com", Claims: map[string]any{"o": map[string]any{}}}, 400, "invalid_request"},
		{"lifetime over max", api.CreateServiceAccount{UserName: "c", Email: "c@example.com", TokenLifetime: 7200}, 400, "invalid_request"},
		{"unknown profile", api.CreateServiceAccount{UserName: "c", Email: "c@example.com", Profile: "saml"}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e api.Error
			if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts", tc.body, &e); code != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("HTTP %d %+v, want %d %s", code, e, tc.status, tc.code)
			}
		})
	}
	// Plus addressing gives a distinct account.
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "automation-etl", Email: "automation+etl@example.com"})

	raw := func(contentType, body string) (int, api.Error) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/service-accounts", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var e api.Error
		_ = json.Unmarshal(data, &e)
		return resp.StatusCode, e
	}
	rawCases := []struct {
		name, ct, body string
		status         int
	}{
		{"not JSON content type", "text/plain", `{}`, 415},
		{"syntax error", "application/json", `{"userName":`, 400},
		{"unknown field", "application/json", `{"userName":"q","email":"q@example.com","admin":true}`, 400},
		{"two objects", "application/json", `{"userName":"q","email":"q@example.com"}{}`, 400},
		{"wrong type", "application/json", `{"userName":5}`, 400},
		{"too large", "application/json", `{"description":"` + strings.Repeat("x", 70000) + `"}`, 413},
	}
	for _, tc := range rawCases {
		if code, e := raw(tc.ct, tc.body); code != tc.status || e.Code == "" {
			t.Errorf("%s: HTTP %d %+v, want %d", tc.name, code, e, tc.status)
		}
	}

	var e api.Error
	if code := s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts/ghost", nil, &e); code != 404 || e.Code != "not_found" {
		t.Fatalf("missing account: HTTP %d %+v", code, e)
	}
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/ghost/keys", api.CreateKey{Name: "k"}, &e); code != 404 {
		t.Fatalf("key for missing account: HTTP %d", code)
	}
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/automation/keys", api.CreateKey{}, &e); code != 400 {
		t.Fatalf("key without name: HTTP %d", code)
	}
	if code := s.Do(t, s.AdminToken, http.MethodDelete, "/api/v1/service-accounts", nil, &e); code != 405 || e.Code != "method_not_allowed" {
		t.Fatalf("wrong method: HTTP %d %+v", code, e)
	}
}

func TestKeyCreationAndListing(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, servertest.Options{})
	s.CreateAccount(t, api.CreateServiceAccount{UserName: "svc", Email: "svc@example.com", Roles: []string{"reader"},
		AllowedScopes: []string{"a", "b"}})
	secs := int64(3600)
	k := s.CreateKey(t, "svc", api.CreateKey{Name: "ci", Description: "nightly", ExpiresIn: &secs, Scopes: []string{"a"}})
	if !strings.HasPrefix(k.ClientSecret, "twk_"+k.ID+"_") || k.ClientID != "svc" || k.Status != "expiring_soon" || !k.IsValid {
		t.Fatalf("created key %+v", k)
	}
	if d := k.ExpiresAt.Sub(k.CreatedAt).Seconds(); d < 3599 || d > 3601 {
		t.Fatalf("expiry %v after creation", d)
	}
	def := s.CreateKey(t, "svc", api.CreateKey{Name: "default"})
	if days := def.ExpiresAt.Sub(def.CreatedAt).Hours() / 24; days != 120 {
		t.Fatalf("default key lifetime %v days, want 120 (four months)", days)
	}
	var e api.Error
	if code := s.Do(t, s.AdminToken, http.MethodPost, "/api/v1/service-accounts/svc/keys", api.CreateKey{Name: "x", Scopes: []string{"c"}}, &e); code != 400 {
		t.Fatalf("key scope outside account: HTTP %d", code)
	}
	var list api.List[api.Key]
	s.Do(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts/svc/keys", nil, &list)
	if len(list.Items) != 2 {
		t.Fatalf("%d keys listed", len(list.Items))
	}
	raw := s.DoRaw(t, s.AdminToken, http.MethodGet, "/api/v1/service-accounts/svc/keys")
	for _, secret := range []string{k.ClientSecret, def.ClientSecret} {
		if strings.Contains(raw, secret) || strings.Contains(raw, "secretHash") {
			t.Fatal("key listing exposes a secret or its hash")
		}
	}
	if list.Items[1].Roles[0] != "reader" {
		t.Fatalf("key did not snapshot the account's roles: %+v", list.Items[1])
	}
}
