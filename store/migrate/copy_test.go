package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
	"github.com/tokenwright/tokenwright/store/bolt"
	"github.com/tokenwright/tokenwright/store/migrate"
)

// openBolt is a real bbolt store in a temporary directory.
func openBolt(t *testing.T) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "tokenwright.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fill stores, under names starting with p, n users, one service account
// owned by them with a key, one PAT per user, a signing key, a revoked
// token and an audit event per record: records of every kind.
func fill(t *testing.T, s store.Store, p string, n int) migrate.Counts {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	audit := func(action, target string) {
		t.Helper()
		_, err := s.AppendAudit(ctx, store.AuditEvent{Time: now, Actor: "admin", Action: action, Target: target, Result: "success"})
		must(err)
	}
	var owners []string
	for i := range n {
		name := fmt.Sprintf("%suser%d", p, i)
		must(s.CreateUser(ctx, store.User{ID: name, Name: name, Email: name + "@example.com", Status: store.StatusActive, CreatedAt: now}))
		audit("user.create", name)
		must(s.CreateKey(ctx, store.Key{ID: name + "-pat", Kind: store.KindPersonalToken, Owner: name, Name: "laptop",
			SecretHash: []byte("hash-" + name), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}))
		audit("pat.create", name)
		owners = append(owners, name)
	}
	sa := p + "svc"
	must(s.CreateServiceAccount(ctx, store.ServiceAccount{ID: sa, Name: sa, Email: sa + "@example.com", Owners: owners,
		Status: store.StatusActive, CreatedAt: now}))
	must(s.CreateFederationRule(ctx, store.FederationRule{ID: p + "rule", Account: sa, Name: "gh",
		Issuer: "https://token.actions.githubusercontent.com", Audience: "https://tokens.example.com",
		Claims: map[string][]string{"repository_id": {"1"}}, CreatedAt: now}))
	must(s.CreateKey(ctx, store.Key{ID: sa + "-key", Kind: store.KindServiceKey, Owner: sa, Name: "ci",
		SecretHash: []byte("hash-" + sa), CreatedAt: now, RevokedAt: now.Add(time.Hour), RevokedBy: "admin"}))
	must(s.ReplaceSigningKeys(ctx, []store.SigningKey{{ID: p + "kid", Algorithm: "RS256", State: store.SigningActive,
		PublicJWK: []byte(`{"kid":"` + p + `kid"}`), EncryptedPrivateKey: []byte("sealed"), KEKID: "kek", CreatedAt: now}}))
	must(s.RevokeToken(ctx, store.RevokedToken{JTI: p + "jti", ExpiresAt: now.Add(time.Hour), RevokedAt: now}))
	audit("sa.create", sa)
	return migrate.Counts{ServiceAccounts: 1, Users: n, Keys: n + 1, SigningKeys: 1, AuditEvents: 2*n + 1, RevokedTokens: 1, FederationRules: 1}
}

// Copy into an empty or a non-empty target, with and without Force: what
// it returns, what the target then holds, and that a refused copy changes
// nothing.
func TestCopy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		srcUsers   int // -1: an empty source
		dstUsers   int // -1: an empty target
		force      bool
		wantErr    error
		wantTarget func(src, dst migrate.Counts) migrate.Counts
	}{
		{"into an empty target", 3, -1, false, nil,
			func(src, _ migrate.Counts) migrate.Counts { return src }},
		{"an empty source", -1, -1, false, nil,
			func(migrate.Counts, migrate.Counts) migrate.Counts { return migrate.Counts{} }},
		{"force into an empty target", 2, -1, true, nil,
			func(src, _ migrate.Counts) migrate.Counts { return src }},
		{"into a non-empty target", 2, 1, false, migrate.ErrTargetNotEmpty,
			func(_, dst migrate.Counts) migrate.Counts { return dst }},
		{"force into a non-empty target", 2, 4, true, nil,
			// Replaced, except that the target's audit trail is kept.
			func(src, dst migrate.Counts) migrate.Counts {
				src.AuditEvents += dst.AuditEvents
				return src
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src, dst := openBolt(t), openBolt(t)
			var srcCounts, dstCounts migrate.Counts
			if tc.srcUsers >= 0 {
				srcCounts = fill(t, src, "s-", tc.srcUsers)
			}
			if tc.dstUsers >= 0 {
				dstCounts = fill(t, dst, "d-", tc.dstUsers)
			}
			if got, err := migrate.Count(ctx, src); err != nil || got != srcCounts {
				t.Fatalf("Count(source) = %s, %v; want %s", got, err, srcCounts)
			}
			got, err := migrate.Copy(ctx, src, dst, migrate.Options{Force: tc.force})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Copy: %v, want %v", err, tc.wantErr)
			}
			if err == nil && got != srcCounts {
				t.Fatalf("Copy returned %s, want the source's %s", got, srcCounts)
			}
			want := tc.wantTarget(srcCounts, dstCounts)
			if after, err := migrate.Count(ctx, dst); err != nil || after != want {
				t.Fatalf("the target holds %s (%v), want %s", after, err, want)
			}
			if err != nil {
				return
			}
			// Credentials arrive byte for byte and audit keeps its order.
			if tc.srcUsers > 0 {
				k, err := dst.GetKey(ctx, "s-user0-pat")
				if err != nil || string(k.SecretHash) != "hash-s-user0" || k.Owner != "s-user0" {
					t.Fatalf("copied PAT %+v, %v", k, err)
				}
				events, err := dst.ListAudit(ctx, store.AuditQuery{Limit: 1})
				if err != nil || len(events) != 1 || events[0].Action != "sa.create" {
					t.Fatalf("newest copied audit event %+v, %v; want the source's newest, sa.create", events, err)
				}
			}
			if tc.dstUsers >= 0 && tc.force {
				if _, err := dst.GetServiceAccount(ctx, "d-svc"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("the target's own account survived a forced copy: %v", err)
				}
			}
		})
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c     migrate.Counts
		empty bool
		text  string
	}{
		{migrate.Counts{}, true, "0 service accounts, 0 users, 0 keys, 0 signing keys, 0 audit events, 0 revoked tokens, 0 federation rules"},
		{migrate.Counts{AuditEvents: 1}, false, "0 service accounts, 0 users, 0 keys, 0 signing keys, 1 audit events, 0 revoked tokens, 0 federation rules"},
		{migrate.Counts{1, 2, 3, 4, 5, 6, 7}, false, "1 service accounts, 2 users, 3 keys, 4 signing keys, 5 audit events, 6 revoked tokens, 7 federation rules"},
	}
	for _, tc := range tests {
		if tc.c.Empty() != tc.empty || tc.c.String() != tc.text {
			t.Errorf("%+v: Empty %v, String %q; want %v, %q", tc.c, tc.c.Empty(), tc.c.String(), tc.empty, tc.text)
		}
	}
}
