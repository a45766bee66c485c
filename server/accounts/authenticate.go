package accounts

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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
	// External is set for a federated principal (FederatedPrincipal): the
	// external party whose foreign token was exchanged. Its Key is then
	// not stored: it carries the federation rule's id and narrowing.
	External *ExternalActor
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
	if err := s.admitAddress(p, ip); err != nil {
		return nil, err
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
	if addr.IsValid() && s.admitAddress(p, addr) != nil {
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
	}
	p := &Principal{Key: key}
	if err := s.admit(ctx, p, now); err != nil {
		return nil, err
	}
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
	// TokenType (TokenTypeJWT or TokenTypeATJWT) and AudienceFormat
	// (AudienceArray or AudienceString): how the token is written
	// (TokenShape). With AudienceString, Audiences holds exactly one.
	TokenType      string
	AudienceFormat string
	// Act names the external party of a federated token (the "act" claim).
	Act *ExternalActor
}

// Grant applies the credential's reach (reach.go) to a token request.
// requestedScopes empty means all scopes within reach; requestedAudiences
// empty means the default audiences within reach.
func (s *Service) Grant(p *Principal, requestedScopes, requestedAudiences []string) (Grant, error) {
	g, err := s.grant(p, requestedScopes, requestedAudiences)
	if err == nil && g.AudienceFormat == AudienceString && len(g.Audiences) != 1 {
		// Refused rather than written as an array: a verifier that reads
		// "aud" as a string would reject the token later, far from the
		// cause. The client can ask for one audience.
		return Grant{}, fmt.Errorf("%w: this account's tokens carry one audience, as a string (audienceFormat %q), "+
			"and this request would give %d; request exactly one audience", ErrInvalidTarget, AudienceString, len(g.Audiences))
	}
	return g, err
}

// grant is Grant without the audience-format check, for describing what
// an account's tokens carry (DefaultGrant).
func (s *Service) grant(p *Principal, requestedScopes, requestedAudiences []string) (Grant, error) {
	r := s.reach(p)
	g := Grant{ClientID: p.ClientID(), KeyID: p.Key.ID, Profile: r.Profile, Lifetime: s.policy.DefaultTokenLifetime, Act: p.External}
	g.TokenType, g.AudienceFormat = TokenShape(p.Account)
	switch {
	case p.Account != nil:
		sa := p.Account
		g.Email, g.NotesName, g.Claims = sa.Email, sa.NotesName, sa.Claims
		g.Roles = p.Key.Roles
		if sa.TokenLifetime > 0 {
			g.Lifetime = sa.TokenLifetime
		}
	case p.User != nil:
		g.Email, g.Roles = p.User.Email, p.User.Roles
	}
	g.Lifetime = min(g.Lifetime, s.policy.MaxTokenLifetime)

	allowed, ok := r.Scopes()
	switch {
	case !ok:
		return Grant{}, fmt.Errorf("%w: none of the credential's scopes is allowed for its owner any more", ErrInvalidScope)
	case len(requestedScopes) == 0:
		g.Scopes = allowed
	default:
		for _, sc := range requestedScopes {
			if !r.AllowsScope(sc) {
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
		if g.Audiences, ok = r.DefaultAudiences(); !ok {
			return Grant{}, fmt.Errorf("%w: none of the credential's audiences is allowed for its owner any more; request one", ErrInvalidTarget)
		}
		if len(g.Audiences) == 0 {
			g.Audiences = []string{g.ClientID}
		}
	} else {
		for _, a := range requestedAudiences {
			if !r.AllowsAudience(a) {
				return Grant{}, fmt.Errorf("%w: %q", ErrInvalidTarget, a)
			}
			if !slices.Contains(g.Audiences, a) {
				g.Audiences = append(g.Audiences, a)
			}
		}
	}
	return g, nil
}
