package sso

import (
	"context"
	"net/url"
	"strings"

	"github.com/tokenwright/tokenwright/store"
)

// LogoutResponse is POST /ui/logout's answer when the provider's session
// is to be ended too: the console navigates to EndSessionURL.
type LogoutResponse struct {
	EndSessionURL string `json:"endSessionUrl"`
}

// PostLogoutRedirectURI is where the provider sends the browser back
// after ending its session (register it at the provider as a post-logout
// redirect URI): the console.
func (m *Manager) PostLogoutRedirectURI() string {
	return strings.TrimSuffix(m.opts.PublicURL, "/") + landing
}

// endSessionURL is the provider's end_session_endpoint with
// id_token_hint (the session's ID token, which tells the provider whose
// session to end without asking), client_id and post_logout_redirect_uri
// (OpenID Connect RP-Initiated Logout 1.0), or "" when the provider
// advertises none or cannot be reached (the tokenwright session is ended
// either way).
func (m *Manager) endSessionURL(ctx context.Context, se store.Session) string {
	party, err := m.relyingParty(ctx)
	if err != nil {
		m.opts.Log.Warn().Err(err).Msg("single sign-on: the provider's session is not ended (discovery failed)")
		return ""
	}
	endpoint := party.GetEndSessionEndpoint()
	if endpoint == "" {
		return ""
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		m.opts.Log.Warn().Err(err).Str("endpoint", endpoint).Msg("single sign-on: the provider's end_session_endpoint is not a URL")
		return ""
	}
	q := u.Query()
	if se.IDToken != "" {
		q.Set("id_token_hint", se.IDToken)
	}
	q.Set("client_id", m.opts.SSO.ClientID)
	q.Set("post_logout_redirect_uri", m.PostLogoutRedirectURI())
	u.RawQuery = q.Encode()
	return u.String()
}
