package client_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
)

// TestListPATsByStatus: the server's ?status filter reaches the tokens of
// every page, and a list with nothing in it is an empty list, as the API
// says, not nil (which the CLI printed as "items": null).
func TestListPATsByStatus(t *testing.T) {
	ctx := context.Background()
	admin, err := client.New(os.Getenv("TOKENWRIGHT_SERVER"), os.Getenv("TOKENWRIGHT_TOKEN"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pat-lister", "pat-nobody"} {
		if _, err := admin.CreateUser(ctx, api.CreateUser{UserName: name, Email: name + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	inTwoDays := int64(2 * 24 * 3600)
	for _, in := range []api.CreateKey{{Name: "soon", ExpiresIn: &inTwoDays}, {Name: "later"}, {Name: "gone"}} {
		k, err := admin.CreatePAT(ctx, "pat-lister", in)
		if err != nil {
			t.Fatal(err)
		}
		if in.Name == "gone" {
			if _, err := admin.RevokePAT(ctx, "pat-lister", k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		user, status string
		want         []string
	}{
		{"pat-lister", "", []string{"gone", "later", "soon"}},
		{"pat-lister", api.KeyExpiringSoon, []string{"soon"}},
		{"pat-lister", api.KeyRevoked, []string{"gone"}},
		{"pat-lister", api.KeyExpired, []string{}},
		{"pat-nobody", "", []string{}},
	} {
		keys, err := admin.ListPATsByStatus(ctx, c.user, c.status)
		checkNames(t, c.user+" "+c.status, keys, err, c.want)
	}
	if keys, err := admin.ListPATs(ctx, "pat-nobody"); err != nil || keys == nil {
		t.Errorf("ListPATs of a user without tokens: %v, %v; want an empty list", keys, err)
	}
}

// TestListKeysByStatus: the same for a service account's keys.
func TestListKeysByStatus(t *testing.T) {
	ctx := context.Background()
	admin, err := client.New(os.Getenv("TOKENWRIGHT_SERVER"), os.Getenv("TOKENWRIGHT_TOKEN"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAccount(admin, "keys-by-status")
	mustAccount(admin, "keys-none")
	k, err := admin.CreateKey(ctx, "keys-by-status", api.CreateKey{Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeKey(ctx, "keys-by-status", k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateKey(ctx, "keys-by-status", api.CreateKey{Name: "live"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		account, status string
		want            []string
	}{
		{"keys-by-status", api.KeyRevoked, []string{"gone"}},
		{"keys-by-status", api.KeyActive, []string{"live"}},
		{"keys-by-status", api.KeyExpired, []string{}},
		{"keys-none", "", []string{}},
	} {
		keys, err := admin.ListKeysByStatus(ctx, c.account, c.status)
		checkNames(t, c.account+" "+c.status, keys, err, c.want)
	}
}

// checkNames fails unless keys are a list (never nil) of the names want.
func checkNames(t *testing.T, what string, keys []api.Key, err error, want []string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	names := []string{}
	for _, k := range keys {
		names = append(names, k.Name)
	}
	if keys == nil || !slices.Equal(names, want) {
		t.Errorf("%s: %q (nil: %v), want %q", what, names, keys == nil, want)
	}
}
