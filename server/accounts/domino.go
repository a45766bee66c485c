package accounts

import (
	"slices"

	"github.com/tokenwright/tokenwright/store"
)

// Domino-specific values the Domino profile guarantees (see
// docs/domino.md and the Domino trust reference).
const (
	// DominoUserAllScope is required by core Domino's bearer validation in
	// every token it accepts.
	DominoUserAllScope = "Domino.user.all"
	// DominoRESTAudience is the Domino REST API's default audience.
	DominoRESTAudience = "Domino"
)

// dominoAllowed widens what a Domino-profile principal may receive before
// a key narrows it: Domino.user.all always; the server-wide Domino sites
// when the account names no audiences of its own; "Domino" when the REST
// API is enabled. Other profiles are returned unchanged.
func (s *Service) dominoAllowed(profile string, ownAudiences bool, scopes, audiences []string) ([]string, []string) {
	if profile != ProfileDomino {
		return scopes, audiences
	}
	scopes = withFirst(scopes, DominoUserAllScope)
	audiences = slices.Clone(audiences)
	if !ownAudiences {
		for _, site := range s.policy.DominoSites {
			if !slices.Contains(audiences, site) {
				audiences = append(audiences, site)
			}
		}
	}
	if s.policy.DominoRESTAPI && !slices.Contains(audiences, DominoRESTAudience) {
		audiences = append(audiences, DominoRESTAudience)
	}
	return scopes, audiences
}

// withFirst returns list with v at the front (moved there if present), so
// the scope string reads "Domino.user.all ..." as in HCL's examples.
func withFirst(list []string, v string) []string {
	out := make([]string, 0, len(list)+1)
	out = append(out, v)
	for _, it := range list {
		if it != v {
			out = append(out, it)
		}
	}
	return out
}

// DefaultGrant is what a token request without scope or audience
// parameters would grant sa (for the guided Domino setup): Grant itself,
// for a key that narrows nothing, except that an audienceFormat of
// "string" with several default audiences is described rather than
// refused (the setup names that as a problem).
func (s *Service) DefaultGrant(sa store.ServiceAccount) (Grant, error) {
	return s.grant(&Principal{Key: store.Key{Owner: sa.Name}, Account: &sa}, nil, nil)
}
