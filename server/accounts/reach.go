package accounts

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/tokenwright/tokenwright/store"
)

// Reach is what a credential may put in a token and where it may be used
// from: its owner's allowed scopes, audiences and CIDRs intersected with
// the credential's own narrowing. It is the one home of that rule: the
// token endpoint (client_secret and private_key_jwt), introspection, the
// admin API's bearer check, the guided Domino setup and key/PAT creation
// all go through it.
//
// It is computed from the stored owner and key at every request, so
// narrowing an owner narrows its credentials at once, and widening an
// owner never widens a narrowed credential.
type Reach struct {
	// Profile is the owner's token profile (ProfileDomino or ProfileGeneric).
	Profile string
	owner   scopeSet // the owner's allowed lists
	// key is the credential's narrowing; an empty list narrows nothing.
	keyScopes, keyAudiences, keyCIDRs []string
}

// scopeSet is one principal's allowed lists.
type scopeSet struct {
	scopes, audiences, cidrs []string
}

// ownerReach is what an owner's credentials may reach before a credential
// narrows it: the owner's own lists or the server defaults, plus the
// Domino profile's additions. sa or u is set.
func (s *Service) ownerReach(sa *store.ServiceAccount, u *store.User) Reach {
	r := Reach{Profile: ProfileDomino, owner: scopeSet{scopes: s.policy.DefaultScopes, audiences: s.policy.DefaultAudiences}}
	var scopes, audiences []string
	switch {
	case sa != nil:
		if sa.Profile != "" {
			r.Profile = sa.Profile
		}
		scopes, audiences, r.owner.cidrs = sa.AllowedScopes, sa.AllowedAudiences, sa.AllowedCIDRs
	case u != nil:
		scopes, audiences, r.owner.cidrs = u.AllowedScopes, u.AllowedAudiences, u.AllowedCIDRs
	}
	if len(scopes) > 0 {
		r.owner.scopes = scopes
	}
	if len(audiences) > 0 {
		r.owner.audiences = audiences
	}
	r.owner.scopes, r.owner.audiences = s.dominoAllowed(r.Profile, len(audiences) > 0, r.owner.scopes, r.owner.audiences)
	return r
}

// AdvertisedScopes are the scopes the metadata's scopes_supported lists:
// those an account created with no scope settings of its own may ask for
// (the server's default scopes and, under the default Domino profile,
// Domino.user.all). Accounts' own allowed scopes are deliberately left
// out: they would tell anonymous callers what each account may reach, and
// RFC 8414 §2 lets a server leave supported scopes unadvertised.
func (s *Service) AdvertisedScopes() []string {
	scopes, _ := s.ownerReach(&store.ServiceAccount{}, nil).Scopes()
	return scopes
}

// reach is p's effective reach: its owner's, narrowed by its key.
func (s *Service) reach(p *Principal) Reach {
	r := s.ownerReach(p.Account, p.User)
	r.keyScopes, r.keyAudiences, r.keyCIDRs = p.Key.Scopes, p.Key.Audiences, p.Key.CIDRs
	return r
}

// Scopes are the scopes a token may carry: the owner's, narrowed by the
// key. ok is false when the key narrows scopes and none of them is still
// allowed for the owner: the credential then gets no token at all rather
// than more than it was narrowed to.
func (r Reach) Scopes() (scopes []string, ok bool) {
	if len(r.keyScopes) == 0 {
		return slices.Clone(r.owner.scopes), true
	}
	for _, sc := range r.owner.scopes {
		if slices.Contains(r.keyScopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	return scopes, len(scopes) > 0
}

// AllowsScope reports whether a token may carry sc. Core Domino requires
// Domino.user.all in every token, so a Domino-profile credential may
// always ask for it.
func (r Reach) AllowsScope(sc string) bool {
	scopes, ok := r.Scopes()
	if !ok {
		return false
	}
	return slices.Contains(scopes, sc) || r.Profile == ProfileDomino && sc == DominoUserAllScope
}

// AllowsAudience reports whether a token may be issued for aud: a valid
// audience value (validate.go) that the owner's patterns allow and, if
// the key narrows audiences, the key's patterns allow too.
func (r Reach) AllowsAudience(aud string) bool {
	return validAudienceValue(aud) && audienceAllowed(aud, r.owner.audiences) &&
		(len(r.keyAudiences) == 0 || audienceAllowed(aud, r.keyAudiences))
}

// DefaultAudiences are the audiences of a token for which none were
// requested: the exact (non-pattern) audiences that both the owner and
// the key allow. ok is false when the key narrows audiences and none of
// its exact audiences remains: the client must then ask for one.
func (r Reach) DefaultAudiences() (audiences []string, ok bool) {
	candidates := r.owner.audiences
	if len(r.keyAudiences) > 0 {
		candidates = append(slices.Clone(r.keyAudiences), r.owner.audiences...)
	}
	for _, a := range candidates {
		if !strings.HasSuffix(a, "*") && r.AllowsAudience(a) && !slices.Contains(audiences, a) {
			audiences = append(audiences, a)
		}
	}
	return audiences, len(audiences) > 0 || len(r.keyAudiences) == 0
}

// AllowsAddress reports whether a request from ip may use the credential:
// inside the owner's CIDRs and the key's (no CIDRs: anywhere).
func (r Reach) AllowsAddress(ip netip.Addr) bool {
	return ipAllowed(ip, r.owner.cidrs) && ipAllowed(ip, r.keyCIDRs)
}

// narrowing validates a credential's requested narrowing at creation: it
// must lie within the owner's reach ("a credential can only narrow").
// Errors name the field and the first entry outside.
func (r Reach) narrowing(scopes, audiences, cidrs []string) (Reach, error) {
	var err error
	out := r
	if out.keyScopes, err = validateList("scopes", scopes, validScope, "a valid scope"); err != nil {
		return Reach{}, err
	}
	for _, sc := range out.keyScopes {
		if !slices.Contains(r.owner.scopes, sc) {
			return Reach{}, invalid("scopes", "%q is not within the scopes allowed for the owner", sc)
		}
	}
	if out.keyAudiences, err = validateList("audiences", audiences, validAudience,
		"a valid audience (an https URL, a URL prefix ending in '*', or a name like Domino)"); err != nil {
		return Reach{}, err
	}
	for _, a := range out.keyAudiences {
		if !patternWithin(a, r.owner.audiences) {
			return Reach{}, invalid("audiences", "%q is not within the audiences allowed for the owner", a)
		}
	}
	if out.keyCIDRs, err = validateList("cidrs", cidrs, validCIDR, "a CIDR such as 10.0.0.0/8"); err != nil {
		return Reach{}, err
	}
	for _, c := range out.keyCIDRs {
		if !cidrWithin(c, r.owner.cidrs) {
			return Reach{}, invalid("cidrs", "%q is not within the CIDRs allowed for the owner", c)
		}
	}
	return out, nil
}

// Covers reports whether a token carrying scopes and audiences could be
// issued under this reach now (introspection: a token stays active only
// while its credential could still obtain it). clientID is the audience
// given when there is no other (see Grant).
func (r Reach) Covers(scopes, audiences []string, clientID string) bool {
	for _, sc := range scopes {
		if !r.AllowsScope(sc) {
			return false
		}
	}
	for _, a := range audiences {
		if a == clientID && len(r.keyAudiences) == 0 {
			continue
		}
		if !r.AllowsAudience(a) {
			return false
		}
	}
	return true
}

// patternWithin reports whether every audience that pattern p matches is
// also matched by one of the owner's patterns: an exact value is checked
// as a request would be; a prefix pattern must extend an owner prefix.
// Requested audiences contain no dot segments or encoded separators
// (validAudienceValue), so a longer prefix cannot lead outside a shorter.
func patternWithin(p string, owner []string) bool {
	prefix, isPattern := strings.CutSuffix(p, "*")
	if !isPattern {
		return audienceAllowed(p, owner)
	}
	for _, o := range owner {
		if op, ok := strings.CutSuffix(o, "*"); ok && strings.HasPrefix(prefix, op) {
			return true
		}
	}
	return false
}

// cidrWithin reports whether every address of c lies in one of owner (no
// owner CIDRs: anywhere).
func cidrWithin(c string, owner []string) bool {
	if len(owner) == 0 {
		return true
	}
	p, err := netip.ParsePrefix(c)
	if err != nil {
		return false
	}
	p = p.Masked()
	for _, o := range owner {
		op, err := netip.ParsePrefix(o)
		if err == nil && op.Bits() <= p.Bits() && op.Addr().Is4() == p.Addr().Is4() && op.Masked().Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// ValidAudience and ValidScope apply the rules of administrators' lists
// to the server-wide defaults (tokens.defaultAudiences, defaultScopes), so
// that a configured default is never something an administrator could
// not set.
func ValidAudience(s string) bool { return validAudience(s) }

// ValidScope: see ValidAudience.
func ValidScope(s string) bool { return validScope(s) }

// ValidRole: see ValidAudience (sso.roles maps groups to roles).
func ValidRole(s string) bool { return validRole(s) }

// UserAllowsAddress reports whether u may act from ip: the user's
// allowed networks bind their console sessions as they bind their
// personal access tokens on the admin API. An unknown address (no
// client IP) is not refused, as for tokens.
func (s *Service) UserAllowsAddress(u store.User, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return true
	}
	return s.ownerReach(nil, &u).AllowsAddress(addr)
}
