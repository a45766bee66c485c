package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenwright/tokenwright/store"
)

// RevokeAccessToken puts an issued access token's jti on the deny-list
// until the token expires (RFC 7009). The entry is persisted, so a
// restart does not bring the token back.
func (s *Service) RevokeAccessToken(ctx context.Context, p *Principal, jti string, expires time.Time) (err error) {
	act := s.begin(Actor{User: store.User{Name: p.ClientID()}}, "token.revoke", p.ClientID(), map[string]string{"jti": jti})
	defer func() { act.finish(ctx, err) }()
	if err := s.store.RevokeToken(act.change(ctx), store.RevokedToken{JTI: jti, ExpiresAt: expires.UTC(), RevokedAt: s.now().UTC(),
		RevokedBy: p.ClientID()}); err != nil {
		return fmt.Errorf("revoking access token: %w", err)
	}
	return nil
}

// AccessTokenRevoked reports whether jti is on the deny-list.
func (s *Service) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	return s.store.IsTokenRevoked(ctx, jti)
}
