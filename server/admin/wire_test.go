package admin_test

import (
	"testing"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// The API's status and state names are the typed values the server
// decides with; clients (the CLI, domino check) compare against the API's.
func TestWireStatusesAreTheTypedOnes(t *testing.T) {
	pairs := []struct{ typed, wire string }{
		{string(accounts.KeyActive), api.KeyActive},
		{string(accounts.KeyExpiringSoon), api.KeyExpiringSoon},
		{string(accounts.KeyExpired), api.KeyExpired},
		{string(accounts.KeyRevoked), api.KeyRevoked},
		{string(store.SigningPending), api.SigningKeyPending},
		{string(store.SigningActive), api.SigningKeyActive},
		{string(store.SigningRetired), api.SigningKeyRetired},
		{string(store.StatusActive), api.StatusActive},
		{string(store.StatusInactive), api.StatusInactive},
	}
	for _, p := range pairs {
		if p.typed != p.wire {
			t.Errorf("server says %q, API constant %q", p.typed, p.wire)
		}
	}
}
