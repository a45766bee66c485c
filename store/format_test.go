package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

var update = flag.Bool("update", false, "rewrite the golden records of the current stored format")

// goldenRecords are one record of every stored type with every field set,
// as this build writes them. Their JSON is pinned in
// testdata/format-N/ for N = store.FormatVersion.
func goldenRecords() map[string]any {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	return map[string]any{
		"service_account": store.ServiceAccount{
			ID: "sa_01", Name: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
			Description: "deploys", Roles: []string{"deployer"}, Owners: []string{"alice"},
			AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://api.example.com/*"},
			AllowedCIDRs: []string{"10.0.0.0/8"}, TokenLifetime: 15 * time.Minute, Profile: "generic",
			TokenType: "at+jwt", AudienceFormat: "string",
			Claims: map[string]any{"team": "ops"}, Permissions: []string{"introspect"},
			Status: store.StatusActive, CreatedAt: t0, CreatedBy: "admin", UpdatedAt: at(time.Hour),
		},
		"user": store.User{
			ID: "u_01", Name: "alice", Email: "alice@example.com", Roles: []string{"dev"}, Admin: true,
			AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"Domino"},
			AllowedCIDRs: []string{"192.0.2.0/24"},
			Status:       store.StatusInactive, CreatedAt: t0, CreatedBy: "admin", UpdatedAt: at(time.Hour),
			SSOIssuer: "https://login.example.com/", SSOSubject: "248289761001",
		},
		"key": store.Key{
			ID: "k_01", Kind: store.KindServiceKey, Owner: "ci-bot", Name: "ci", Description: "pipeline",
			SecretHash: []byte{1, 2, 3}, PublicJWK: []byte(`{"kty":"EC"}`), PreviousSecretHash: []byte{4, 5},
			PreviousExpiresAt: at(time.Hour), Roles: []string{"deployer"}, Scopes: []string{"Domino.user.all"},
			Audiences: []string{"Domino"}, CIDRs: []string{"10.1.0.0/16"}, CreatedAt: t0, CreatedBy: "alice",
			ExpiresAt: at(90 * 24 * time.Hour), RotatedAt: at(2 * time.Hour), RevokedAt: at(3 * time.Hour),
			RevokedBy: "admin", LastUsedAt: at(150 * time.Minute), LastUsedIP: "10.1.2.3",
			ExpiryNoticeAt: at(80 * 24 * time.Hour),
		},
		"signing_key": store.SigningKey{
			ID: "kid-01", Algorithm: "ES256", State: store.SigningRetired, PublicJWK: []byte(`{"kty":"EC"}`),
			EncryptedPrivateKey: []byte{9, 8, 7}, KEKID: "kek-1", CreatedAt: t0, ActivateAt: at(time.Hour),
			ActivatedAt: at(time.Hour), RetiredAt: at(24 * time.Hour), RemoveAfter: at(48 * time.Hour),
			ConfiguredAlgorithm: "RS256",
		},
		"session": store.Session{
			ID: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", User: "alice", Subject: "248289761001",
			CreatedAt: t0, LastSeenAt: at(time.Minute), ExpiresAt: at(8 * time.Hour), IdleTimeout: time.Hour, SourceIP: "192.0.2.1",
			Kind: store.SessionCLICode, Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
			IDToken: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIyNDgyODk3NjEwMDEifQ.c2ln",
		},
		"federation_rule": store.FederationRule{
			ID: "fr_01", Account: "ci-bot", Name: "deploy-main", Issuer: "https://token.actions.githubusercontent.com",
			Audience: "https://tokenwright.example.com", Subject: "repo:acme/deploy:environment:prod",
			Claims:    map[string][]string{"repository_id": {"123"}, "ref": {"refs/heads/main"}},
			Condition: `claims.ref_type == "branch"`, JWKSURI: "https://token.actions.githubusercontent.com/.well-known/jwks",
			MaxTokenAge: 10 * time.Minute, AllowMissingJTI: true, AllowedScopes: []string{"Domino.user.all"},
			AllowedAudiences: []string{"https://api.example.com/"}, CreatedAt: t0, CreatedBy: "alice",
			LastUsedAt: func() *time.Time { t := at(time.Hour); return &t }(),
		},
		"tls_ticket_key": store.TLSTicketKey{
			ID: store.TLSTicketKeyID(42), CreatedAt: t0, EncryptedKey: []byte{6, 5, 4}, KEKID: "kek-1",
		},
		"foreign_token": store.ForeignToken{
			Issuer: "https://token.actions.githubusercontent.com", JTI: "0f2a6c1e-3b4d-4e5f-8a9b-1c2d3e4f5a6b", ExpiresAt: at(5 * time.Minute),
		},
		"audit_event": store.AuditEvent{
			ID: "00000001", Time: t0, Actor: "alice", Action: "key.create", Target: "ci-bot/k_01",
			SourceIP: "192.0.2.1", Result: "success", Details: map[string]string{"name": "ci"},
		},
		"revoked_token": store.RevokedToken{JTI: "jti-1", ExpiresAt: at(time.Hour), RevokedAt: t0, RevokedBy: "alice"},
	}
}

// TestGoldenRecords pins the stored JSON of every record type: renaming a
// JSON field, changing a field's type or dropping one would make existing
// databases read differently, so it fails here first. Each fixture must
// decode (unknown fields refused) and encode back to the same bytes, and
// must set every field of its type (a new field needs its fixture, and the
// question whether it changes the format). When the change is intended:
// raise store.FormatVersion with a migration, then run
// go test ./store -run TestGoldenRecords -update to write testdata/format-N.
func TestGoldenRecords(t *testing.T) {
	dir := filepath.Join("testdata", fmt.Sprintf("format-%d", store.FormatVersion))
	for name, rec := range goldenRecords() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".json")
			got, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update after deciding the format change)", err)
			}
			want = bytes.TrimSpace(want)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s is stored differently from format %d's golden record:\n got %s\nwant %s\n"+
					"existing databases would read differently: raise store.FormatVersion with a migration, or undo the change",
					name, store.FormatVersion, got, want)
			}
			// The fixture decodes into the type with nothing left over and
			// encodes back to the same bytes.
			decoded := reflect.New(reflect.TypeOf(rec))
			dec := json.NewDecoder(bytes.NewReader(want))
			dec.DisallowUnknownFields()
			if err := dec.Decode(decoded.Interface()); err != nil {
				t.Fatalf("the stored %s does not decode: %v", name, err)
			}
			again, _ := json.Marshal(decoded.Elem().Interface())
			if !bytes.Equal(again, want) {
				t.Fatalf("the stored %s does not round-trip:\n got %s\nwant %s", name, again, want)
			}
			// Every field is set, so each one's name and encoding is pinned.
			var fields map[string]json.RawMessage
			_ = json.Unmarshal(want, &fields)
			typ := reflect.TypeOf(rec)
			for i := range typ.NumField() {
				tag := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]
				if tag == "-" || !typ.Field(i).IsExported() {
					continue
				}
				if _, ok := fields[tag]; !ok {
					t.Errorf("%s.%s (%q) is not in the golden record: set it in goldenRecords and run -update", typ.Name(), typ.Field(i).Name, tag)
				}
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, c := range []struct {
		stamp   []byte
		want    int
		refused bool
	}{
		{nil, 0, false},
		{[]byte("1"), 1, false},
		{store.FormatStamp(), store.FormatVersion, false},
		{[]byte(fmt.Sprint(store.FormatVersion + 1)), 0, true},
		{[]byte("0"), 0, true},
		{[]byte("one"), 0, true},
		{[]byte(""), 0, true},
	} {
		got, err := store.ParseFormat("db", c.stamp)
		var fe *store.FormatError
		switch {
		case c.refused && (!errors.As(err, &fe) || !errors.Is(err, store.ErrFormat) || fe.Found != string(c.stamp)):
			t.Errorf("stamp %q: %v, want a FormatError", c.stamp, err)
		case !c.refused && (err != nil || got != c.want):
			t.Errorf("stamp %q: %d, %v; want %d", c.stamp, got, err, c.want)
		}
	}
	msg := (&store.FormatError{Where: "/data/tokenwright.db", Found: "9"}).Error()
	if !strings.Contains(msg, "/data/tokenwright.db") || !strings.Contains(msg, "newer tokenwright") {
		t.Errorf("message %q does not name the file and the cause", msg)
	}
}
