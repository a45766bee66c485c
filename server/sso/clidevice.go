package sso

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// `tokenwright login --no-browser` uses the provider's device
// authorization grant (RFC 8628) when the provider offers one, brokered
// by the server, which alone holds the client secret:
//
//  1. POST CLIDevicePath: the server starts a device authorization at the
//     provider and answers its device code, user code and verification
//     URI (or unsupported_grant_type when the provider's discovery names
//     no device endpoint; the CLI then falls back to the browser URL).
//  2. The person opens the verification URI on any device and signs in.
//  3. The CLI polls POST CLISessionPath with {"deviceCode"}; each poll is
//     one token request at the provider (authorization_pending and
//     slow_down are passed on). When the provider answers tokens, the ID
//     token is verified (issuer, audience, signature, expiry), the claims
//     completed from userinfo, the identity checked and accounts.SignIn
//     run exactly as for the browser; the device code is then recorded as
//     redeemed (a SessionCLIDevice record under the hash of the device
//     code: a second redemption is refused even if the provider allowed
//     it) and a CLI session issued.
//
// The device code is the CLI's secret as in RFC 8628 (it is useless
// without the client secret, which stays on the server).

// CLIDevicePath starts a device authorization for the CLI (POST).
const CLIDevicePath = "/ui/cli/device"

// CLIDeviceResponse is the answer to POST CLIDevicePath.
type CLIDeviceResponse struct {
	DeviceCode              string `json:"deviceCode"`
	UserCode                string `json:"userCode"`
	VerificationURI         string `json:"verificationUri"`
	VerificationURIComplete string `json:"verificationUriComplete,omitempty"`
	ExpiresIn               int    `json:"expiresIn"`
	Interval                int    `json:"interval"`
}

// ErrorUnsupportedGrant is the error code of POST CLIDevicePath when the
// provider offers no device authorization.
const ErrorUnsupportedGrant = "unsupported_grant_type"

// CLIDevice serves CLIDevicePath.
func (m *Manager) CLIDevice(w http.ResponseWriter, r *http.Request) {
	party, err := m.relyingParty(r.Context())
	if err != nil {
		m.opts.Log.Error().Err(err).Msg("single sign-on: the provider cannot be used")
		writeCLIJSON(w, http.StatusBadGateway, cliError{Error: "temporarily_unavailable", Description: "the identity provider cannot be reached; try again later"})
		return
	}
	if party.GetDeviceAuthorizationEndpoint() == "" {
		writeCLIJSON(w, http.StatusBadRequest, cliError{Error: ErrorUnsupportedGrant,
			Description: "the identity provider offers no device authorization (its discovery names no device_authorization_endpoint)"})
		return
	}
	resp, err := rp.DeviceAuthorization(r.Context(), m.opts.SSO.Scopes, party, nil)
	if err != nil {
		m.opts.Log.Error().Err(err).Msg("single sign-on: starting a device authorization failed")
		writeCLIJSON(w, http.StatusBadGateway, cliError{Error: "temporarily_unavailable", Description: "the identity provider refused to start a device authorization"})
		return
	}
	writeCLIJSON(w, http.StatusOK, CLIDeviceResponse{DeviceCode: resp.DeviceCode, UserCode: resp.UserCode, VerificationURI: resp.VerificationURI,
		VerificationURIComplete: resp.VerificationURIComplete, ExpiresIn: resp.ExpiresIn, Interval: resp.Interval})
}

// tokenCaller lets zitadel's client call the provider's token endpoint
// once (rp.DeviceAccessToken would poll itself; the CLI polls us).
type tokenCaller struct{ rp.RelyingParty }

func (c tokenCaller) TokenEndpoint() string { return c.OAuthConfig().Endpoint.TokenURL }

// redeemDevice is one poll of the CLI: one token request at the provider.
func (m *Manager) redeemDevice(w http.ResponseWriter, r *http.Request, deviceCode string) {
	ctx := r.Context()
	ip := sourceIP(r)
	party, err := m.relyingParty(ctx)
	if err != nil {
		writeCLIJSON(w, http.StatusBadGateway, cliError{Error: "temporarily_unavailable", Description: "the identity provider cannot be reached; try again later"})
		return
	}
	cfg := party.OAuthConfig()
	req := &client.DeviceAccessTokenRequest{
		DeviceAccessTokenRequest: oidc.DeviceAccessTokenRequest{GrantType: oidc.GrantTypeDeviceCode, DeviceCode: deviceCode},
		ClientCredentialsRequest: &oidc.ClientCredentialsRequest{},
	}
	// The client authenticates as in the code exchange: a private_key_jwt
	// assertion when the relying party signs, otherwise the secret by
	// client_secret_basic (RFC 6749's default, and what the code exchange
	// tries first) unless the provider takes it only in the body.
	var authFn any
	switch {
	case party.Signer() != nil:
		assertion, err := client.SignedJWTProfileAssertion(cfg.ClientID, []string{party.Issuer()}, time.Hour, party.Signer())
		if err != nil {
			m.opts.Log.Error().Err(err).Msg("single sign-on: signing the client assertion failed")
			writeCLIJSON(w, http.StatusServiceUnavailable, cliError{Error: "temporarily_unavailable", Description: "try again"})
			return
		}
		req.ClientAssertion, req.ClientAssertionType = assertion, oidc.ClientAssertionTypeJWTAssertion
	case cfg.Endpoint.AuthStyle == oauth2.AuthStyleInParams:
		req.ClientID, req.ClientSecret = cfg.ClientID, cfg.ClientSecret
	default:
		authFn = httphelper.AuthorizeBasic(cfg.ClientID, cfg.ClientSecret)
	}
	resp, err := client.CallDeviceAccessTokenEndpointWithAuthFn(ctx, req, tokenCaller{party}, authFn)
	var oerr *oidc.Error
	switch {
	case errors.As(err, &oerr) && (oerr.ErrorType == oidc.AuthorizationPending || oerr.ErrorType == oidc.SlowDown):
		writeCLIJSON(w, http.StatusBadRequest, cliError{Error: string(oerr.ErrorType)})
		return
	case errors.As(err, &oerr):
		m.refuseCLI(ctx, w, "anonymous", ip, "the identity provider refused the device authorization: "+string(oerr.ErrorType))
		return
	case err != nil:
		m.opts.Log.Error().Err(err).Msg("single sign-on: redeeming a device code failed")
		writeCLIJSON(w, http.StatusBadGateway, cliError{Error: "temporarily_unavailable", Description: "the identity provider cannot be reached; try again"})
		return
	}
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, resp.IDToken, party.IDTokenVerifier())
	if err != nil {
		m.refuseCLI(ctx, w, "anonymous", ip, "the provider's ID token is not valid: "+err.Error())
		return
	}
	tokens := &oidc.Tokens[*oidc.IDTokenClaims]{Token: &oauth2.Token{AccessToken: resp.AccessToken, TokenType: resp.TokenType},
		IDTokenClaims: claims, IDToken: resp.IDToken}
	merged, err := m.mergedClaims(ctx, party, tokens)
	if err != nil {
		m.refuseCLI(ctx, w, "anonymous", ip, "the provider's userinfo could not be used")
		return
	}
	id, reason := m.identity(claims, merged)
	id.IP = ip
	if reason != "" {
		m.refuseCLI(ctx, w, firstNonEmpty(id.Name, "anonymous"), ip, reason)
		return
	}
	u, err := m.opts.Accounts.SignIn(ctx, id)
	if refusal := (*accounts.SignInRefusal)(nil); errors.As(err, &refusal) {
		writeCLIJSON(w, http.StatusBadRequest, cliError{Error: "access_denied", Description: refusal.Reason}) // audited by SignIn
		return
	}
	if err != nil {
		m.opts.Log.Error().Err(err).Str("user", id.Name).Msg("single sign-on: applying the sign-in failed")
		writeCLIJSON(w, http.StatusServiceUnavailable, cliError{Error: "temporarily_unavailable", Description: "the sign-in could not be recorded; try again"})
		return
	}
	now := m.opts.Now().UTC()
	redeemed := store.Session{ID: HashSessionSecret("device:" + deviceCode), User: u.Name, Subject: id.Subject, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(flowMaxAge), SourceIP: ip, Kind: store.SessionCLIDevice}
	ev := store.AuditEvent{Time: now, Actor: u.Name, Action: "sso.signin", Target: u.Name, SourceIP: ip, Result: store.ResultSuccess,
		Details: map[string]string{"groups": strings.Join(id.Groups, ","), "subject": id.Subject, "client": "cli", "grant": "device"}}
	err = m.opts.Store.CreateSession(store.WithAudit(ctx, ev, nil), redeemed)
	if errors.Is(err, store.ErrAlreadyExists) {
		m.refuseCLI(ctx, w, u.Name, ip, "the device code was already redeemed")
		return
	}
	if err != nil {
		m.opts.Log.Error().Err(err).Str("user", u.Name).Msg("single sign-on: recording a device sign-in failed")
		writeCLIJSON(w, http.StatusServiceUnavailable, cliError{Error: "temporarily_unavailable", Description: "the sign-in could not be recorded; try again"})
		return
	}
	m.issueCLISession(ctx, w, store.Session{User: u.Name, Subject: id.Subject}, ip)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
