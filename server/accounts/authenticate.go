package accounts

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/store"
)

// Principal is an authenticated client: a key and the account or user it
// belongs to, as they were when the request was authenticated.
type Principal struct {
	Key     store.Key
	Account *store.ServiceAccount // set for service-account keys
	User    *store.User           // set for personal access tokens
}

// ClientID is the OAuth client_id: the account or user name.
func (p *Principal) ClientID() string { return p.Key.Owner }

// dummyHash stands in for a missing key so that a failed lookup costs the
// same hash-and-compare as a wrong secret.
var dummyHash = apikey.Hash("tokenwright: no such key")

// AuthenticateClient verifies client credentials presented at the token
// endpoint: clientID is the account or user name, secret a key. Every
// failure is ErrInvalidClient.
func (s *Service) AuthenticateClient(ctx context.Context, clientID, secret string, ip netip.Addr) (*Principal, error) {
	p, err := s.authenticate(ctx, secret)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(p.ClientID()), []byte(clientID)) != 1 {
		return nil, fail(ReasonClientMismatch)
	}
	if !ipAllowed(ip, p.Key.CIDRs) || p.Account != nil && !ipAllowed(ip, p.Account.AllowedCIDRs) {
		return nil, fail(ReasonSourceAddress)
	}
	s.usage.record(p.Key.ID, s.now(), ip)
	return p, nil
}

// AuthenticateBearer verifies a personal access token used as a bearer
// token on the admin API.
func (s *Service) AuthenticateBearer(ctx context.Context, token, ip string) (Actor, error) {
	p, err := s.authenticate(ctx, token)
	if errors.Is(err, store.ErrUnavailable) {
		return Actor{}, err // an outage, not a bad token: the API answers 503
	}
	if reason := ReasonOf(err); reason != "" {
		return Actor{}, bearerFailure(reason)
	}
	if err != nil {
		return Actor{}, ErrUnauthenticated
	}
	if p.User == nil {
		return Actor{}, bearerFailure(ReasonKindMismatch) // a service-account key
	}
	addr, _ := netip.ParseAddr(ip)
	if addr.IsValid() && !ipAllowed(addr, p.Key.CIDRs) {
		return Actor{}, bearerFailure(ReasonSourceAddress)
	}
	s.usage.record(p.Key.ID, s.now(), addr)
	return Actor{User: *p.User, KeyID: p.Key.ID, IP: ip}, nil
}

func (s *Service) authenticate(ctx context.Context, secret string) (*Principal, error) {
	cred, err := apikey.Parse(secret)
	if err != nil {
		return nil, fail(ReasonMalformedCredential)
	}
	key, err := s.store.GetKey(ctx, cred.ID)
	if errors.Is(err, store.ErrNotFound) {
		cred.Matches(dummyHash)
		return nil, fail(ReasonUnknownKey)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up key: %w", err)
	}
	now := s.now()
	current := cred.Matches(key.SecretHash)
	previous := len(key.PreviousSecretHash) > 0 && cred.Matches(key.PreviousSecretHash) && now.Before(key.PreviousExpiresAt)
	switch {
	case !current && !previous:
		return nil, fail(ReasonWrongSecret)
	case (cred.Kind == apikey.PersonalToken) != (key.Kind == store.KindPersonalToken):
		return nil, fail(ReasonKindMismatch)
	case key.Revoked():
		return nil, fail(ReasonKeyRevoked)
	case key.Expired(now):
		return nil, fail(ReasonKeyExpired)
	}
	p := &Principal{Key: key}
	if key.Kind == store.KindPersonalToken {
		u, err := s.store.GetUser(ctx, key.Owner)
		if err != nil {
			return nil, fail(ReasonOwnerMissing)
		}
		if u.Status != store.StatusActive {
			return nil, fail(ReasonOwnerInactive)
		}
		p.User = &u
		return p, nil
	}
	sa, err := s.store.GetServiceAccount(ctx, key.Owner)
	if err != nil {
		return nil, fail(ReasonOwnerMissing)
	}
	if sa.Status != store.StatusActive {
		return nil, fail(ReasonOwnerInactive)
	}
	p.Account = &sa
	return p, nil
}

// Grant is what a token may say about its principal, after policy.
type Grant struct {
	ClientID  string
	KeyID     string
	Email     string
	NotesName string
	Roles     []string
	Scopes    []string
	Audiences []string
	Claims    map[string]any
	Profile   string
	Lifetime  time.Duration
}

// Grant applies the scope and audience policy to a token request.
// requestedScopes empty means all allowed scopes; requestedAudiences empty
// means the principal's default audiences.
func (s *Service) Grant(p *Principal, requestedScopes, requestedAudiences []string) (Grant, error) {
	g := Grant{ClientID: p.ClientID(), KeyID: p.Key.ID, Profile: ProfileDomino, Lifetime: s.policy.DefaultTokenLifetime}
	allowedScopes, allowedAudiences := s.policy.DefaultScopes, s.policy.DefaultAudiences
	switch {
	case p.Account != nil:
		sa := p.Account
		g.Email, g.NotesName, g.Claims = sa.Email, sa.NotesName, sa.Claims
		g.Roles = p.Key.Roles
		if sa.Profile != "" {
			g.Profile = sa.Profile
		}
		if sa.TokenLifetime > 0 {
			g.Lifetime = sa.TokenLifetime
		}
		if len(sa.AllowedScopes) > 0 {
			allowedScopes = sa.AllowedScopes
		}
		if len(sa.AllowedAudiences) > 0 {
			allowedAudiences = sa.AllowedAudiences
		}
	case p.User != nil:
		g.Email, g.Roles = p.User.Email, p.User.Roles
	}
	g.Lifetime = min(g.Lifetime, s.policy.MaxTokenLifetime)
	ownAudiences := p.Account != nil && len(p.Account.AllowedAudiences) > 0
	allowedScopes, allowedAudiences = s.dominoAllowed(g.Profile, ownAudiences, allowedScopes, allowedAudiences)
	if len(p.Key.Scopes) > 0 {
		allowedScopes = p.Key.Scopes
	}
	if len(p.Key.Audiences) > 0 {
		allowedAudiences = p.Key.Audiences
	}

	if len(requestedScopes) == 0 {
		g.Scopes = slices.Clone(allowedScopes)
	} else {
		for _, sc := range requestedScopes {
			if !slices.Contains(allowedScopes, sc) && (g.Profile != ProfileDomino || sc != DominoUserAllScope) {
				return Grant{}, fmt.Errorf("%w: %q", ErrInvalidScope, sc)
			}
			if !slices.Contains(g.Scopes, sc) {
				g.Scopes = append(g.Scopes, sc)
			}
		}
	}
	if g.Profile == ProfileDomino {
		// Core Domino refuses any token without it, whatever was asked.
		g.Scopes = withFirst(g.Scopes, DominoUserAllScope)
	}

	if len(requestedAudiences) == 0 {
		for _, a := range allowedAudiences {
			if !strings.HasSuffix(a, "*") {
				g.Audiences = append(g.Audiences, a)
			}
		}
		if len(g.Audiences) == 0 {
			g.Audiences = []string{g.ClientID}
		}
	} else {
		for _, a := range requestedAudiences {
			if !audienceAllowed(a, allowedAudiences) {
				return Grant{}, fmt.Errorf("%w: %q", ErrInvalidTarget, a)
			}
			if !slices.Contains(g.Audiences, a) {
				g.Audiences = append(g.Audiences, a)
			}
		}
	}
	return g, nil
}
