package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

func fedRule(id, account, name string) store.FederationRule {
	return store.FederationRule{
		ID: id, Account: account, Name: name, Issuer: "https://token.actions.githubusercontent.com",
		Audience: "https://tokenwright.example.com", Subject: "repo:acme/deploy:ref:refs/heads/main",
		Claims:      map[string][]string{"repository_id": {"123"}, "ref": {"refs/heads/main", "refs/heads/release"}},
		Condition:   `claims.repository == "acme/deploy"`,
		JWKSURI:     "https://token.actions.githubusercontent.com/.well-known/jwks",
		MaxTokenAge: 10 * time.Minute, AllowMissingJTI: true,
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"https://api.example.com/"},
		CreatedAt: t0, CreatedBy: "alice",
	}
}

// FederationRules: created only for an existing account, with ids unique
// and names unique per account; read back as written; visible only
// through their own account; touched by a later time only; deleted.
func testFederationRules(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("ci-bot", "")))
	must(t, s.CreateServiceAccount(ctx, account("web-bot", "")))
	wantErr(t, s.CreateFederationRule(ctx, fedRule("fr1", "nobody", "gh")), store.ErrNotFound)
	must(t, s.CreateFederationRule(ctx, fedRule("fr1", "ci-bot", "gh")))
	must(t, s.CreateFederationRule(ctx, fedRule("fr2", "ci-bot", "gl")))
	wantErr(t, s.CreateFederationRule(ctx, fedRule("fr3", "ci-bot", "gh")), store.ErrAlreadyExists)
	wantErr(t, s.CreateFederationRule(ctx, fedRule("fr1", "web-bot", "other")), store.ErrAlreadyExists)
	must(t, s.CreateFederationRule(ctx, fedRule("fr3", "web-bot", "gh"))) // names are per account

	got, err := s.GetFederationRule(ctx, "ci-bot", "fr1")
	must(t, err)
	if want := fedRule("fr1", "ci-bot", "gh"); !reflect.DeepEqual(got, want) {
		t.Fatalf("GetFederationRule = %+v\nwant %+v", got, want)
	}
	_, err = s.GetFederationRule(ctx, "web-bot", "fr1")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteFederationRule(ctx, "web-bot", "fr1"), store.ErrNotFound)
	wantErr(t, s.TouchFederationRule(ctx, "web-bot", "fr1", t0), store.ErrNotFound)

	list, err := s.ListFederationRules(ctx, "ci-bot")
	must(t, err)
	if len(list) != 2 || list[0].ID != "fr1" || list[1].ID != "fr2" {
		t.Fatalf("ListFederationRules(ci-bot) = %+v, want fr1, fr2", list)
	}
	list, err = s.ListFederationRules(ctx, "nobody")
	must(t, err)
	if list == nil || len(list) != 0 {
		t.Fatalf("ListFederationRules(nobody) = %#v, want an empty list", list)
	}

	used := t0.Add(time.Hour)
	must(t, s.TouchFederationRule(ctx, "ci-bot", "fr1", used))
	must(t, s.TouchFederationRule(ctx, "ci-bot", "fr1", t0.Add(time.Minute))) // earlier: ignored
	got, err = s.GetFederationRule(ctx, "ci-bot", "fr1")
	must(t, err)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) {
		t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, used)
	}

	must(t, s.DeleteFederationRule(ctx, "ci-bot", "fr1"))
	wantErr(t, s.DeleteFederationRule(ctx, "ci-bot", "fr1"), store.ErrNotFound)
	_, err = s.GetFederationRule(ctx, "ci-bot", "fr1")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateFederationRule(ctx, fedRule("fr4", "ci-bot", "gh"))) // the name is free again

	// Listed in creation order, whatever the ids.
	early := fedRule("zz", "web-bot", "early")
	early.CreatedAt = t0.Add(-time.Hour)
	late := fedRule("aa", "web-bot", "late")
	late.CreatedAt = t0.Add(time.Hour)
	must(t, s.CreateFederationRule(ctx, late))
	must(t, s.CreateFederationRule(ctx, early))
	list, err = s.ListFederationRules(ctx, "web-bot")
	must(t, err)
	if len(list) != 3 || list[0].ID != "zz" || list[1].ID != "fr3" || list[2].ID != "aa" {
		t.Fatalf("ListFederationRules(web-bot) = %+v, want zz, fr3, aa (creation order)", list)
	}
}

// FederationRulesEndWithAccount: deleting an account deletes its rules in
// the same transaction, so an account re-created under the name inherits
// none, and the other accounts keep theirs.
func testFederationRulesEndWithAccount(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("ci-bot", "")))
	must(t, s.CreateServiceAccount(ctx, account("web-bot", "")))
	must(t, s.CreateFederationRule(ctx, fedRule("fr1", "ci-bot", "gh")))
	must(t, s.CreateFederationRule(ctx, fedRule("fr2", "ci-bot", "gl")))
	must(t, s.CreateFederationRule(ctx, fedRule("fr3", "web-bot", "gh")))
	must(t, s.DeleteServiceAccount(ctx, "ci-bot"))
	_, err := s.GetFederationRule(ctx, "ci-bot", "fr1")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateServiceAccount(ctx, account("ci-bot", "")))
	list, err := s.ListFederationRules(ctx, "ci-bot")
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("re-created account has rules %+v", list)
	}
	if _, err := s.GetFederationRule(ctx, "web-bot", "fr3"); err != nil {
		t.Fatalf("another account's rule: %v", err)
	}
}

// ConcurrentFederationRuleNames: of concurrent creates of one name on one
// account, exactly one succeeds.
func testConcurrentFederationRuleNames(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateServiceAccount(ctx, account("ci-bot", "")))
	exactlyOne(t, "creates", store.ErrAlreadyExists, func(i int) error {
		return s.CreateFederationRule(ctx, fedRule(fmt.Sprintf("fr%d", i), "ci-bot", "gh"))
	})
	if list, err := s.ListFederationRules(ctx, "ci-bot"); err != nil || len(list) != 1 {
		t.Fatalf("after concurrent creates of one name: %d rules stored (%v), want exactly 1", len(list), err)
	}
}

// ForeignTokensConsumedOnce: a (issuer, jti) pair is consumed once while
// its record lasts, also by concurrent callers; the same jti of another
// issuer is another token; a record lasts until it is pruned, and pruning
// removes exactly the records expired at its now.
func testForeignTokensConsumedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	const gh, gl = "https://token.actions.githubusercontent.com", "https://gitlab.com"
	must(t, s.ConsumeForeignToken(ctx, gh, "j1", now.Add(time.Hour)))
	wantErr(t, s.ConsumeForeignToken(ctx, gh, "j1", now.Add(time.Hour)), store.ErrAlreadyExists)
	wantErr(t, s.ConsumeForeignToken(ctx, gh, "j1", now.Add(2*time.Hour)), store.ErrAlreadyExists)
	must(t, s.ConsumeForeignToken(ctx, gl, "j1", now.Add(time.Hour)))
	// The pair is not confused by moving a separator between the parts.
	must(t, s.ConsumeForeignToken(ctx, gh+"j", "1", now.Add(time.Hour)))

	// A record past its expiry still refuses until it is pruned: the
	// store compares no clocks, the pruner decides with the server's.
	must(t, s.ConsumeForeignToken(ctx, gh, "old", now.Add(-time.Minute)))
	wantErr(t, s.ConsumeForeignToken(ctx, gh, "old", now.Add(time.Hour)), store.ErrAlreadyExists)
	pruned, err := s.PruneForeignTokens(ctx, now)
	must(t, err)
	if pruned != 1 {
		t.Fatalf("PruneForeignTokens(now) = %d, want 1 (old)", pruned)
	}
	must(t, s.ConsumeForeignToken(ctx, gh, "old", now.Add(time.Hour))) // pruned: the pair is free again
	wantErr(t, s.ConsumeForeignToken(ctx, gh, "old", now.Add(time.Hour)), store.ErrAlreadyExists)

	exactlyOne(t, "consumes", store.ErrAlreadyExists, func(int) error { return s.ConsumeForeignToken(ctx, gh, "race", now.Add(time.Hour)) })

	must(t, s.ConsumeForeignToken(ctx, gh, "short", now.Add(time.Minute)))
	pruned, err = s.PruneForeignTokens(ctx, now.Add(30*time.Second))
	must(t, err)
	if pruned != 0 {
		t.Fatalf("PruneForeignTokens before any expiry = %d, want 0", pruned)
	}
	pruned, err = s.PruneForeignTokens(ctx, now.Add(90*time.Second))
	must(t, err)
	if pruned != 1 {
		t.Fatalf("PruneForeignTokens = %d, want 1 (short)", pruned)
	}
	wantErr(t, s.ConsumeForeignToken(ctx, gh, "j1", now.Add(time.Hour)), store.ErrAlreadyExists)
	pruned, err = s.PruneForeignTokens(ctx, now.Add(3*time.Hour))
	must(t, err)
	if pruned != 5 {
		t.Fatalf("PruneForeignTokens after every expiry = %d, want 5", pruned)
	}
}

// PruneForeignTokensInChunks: more records than one transaction deletes
// are all pruned.
func testPruneForeignTokensInChunks(t *testing.T, s store.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	const n = 130
	for i := range n {
		must(t, s.ConsumeForeignToken(ctx, "https://issuer.example", fmt.Sprintf("j%d", i), exp))
	}
	pruned, err := s.PruneForeignTokens(ctx, exp)
	must(t, err)
	if pruned != n {
		t.Fatalf("PruneForeignTokens = %d, want %d", pruned, n)
	}
}
