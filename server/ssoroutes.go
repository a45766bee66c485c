package server

import (
	"context"
	"net/http"
	"time"

	"github.com/tokenwright/tokenwright/server/admin"
	"github.com/tokenwright/tokenwright/server/edge"
	"github.com/tokenwright/tokenwright/server/sso"
)

// ssoRoute: the console's sign-in routes. The callback makes outbound
// calls to the provider (code exchange, userinfo), so failures are charged
// to the caller's address like the OAuth endpoints'.
var ssoRoute = edge.Props{Label: edge.LabelWeb, CORS: edge.CORSOff, Limit: edge.LimitOAuthFailures, Errors: edge.ErrorsAPI, CSP: edge.CSPStrict}

// ssoSecret reads the single sign-on client credential (a secret or a
// private key; none without sso), before anything is written to the data
// directory.
func (s *Server) ssoSecret(environ func(string) string) (sso.ClientAuth, error) {
	if !s.cfg.SSO.Enabled() {
		return sso.ClientAuth{}, nil
	}
	return sso.LoadClientAuth(s.cfg.SSO, environ)
}

// setupSSO builds the sign-in manager and lets the admin API accept its
// sessions; without sso.issuer it does nothing, and the admin API accepts
// bearer tokens only, as before.
func (s *Server) setupSSO(adminAPI *admin.API, client sso.ClientAuth, now func() time.Time) error {
	if !s.cfg.SSO.Enabled() {
		return nil
	}
	m, err := sso.New(sso.Options{SSO: s.cfg.SSO, Console: s.cfg.Console, PublicURL: s.cfg.Issuer, Client: client,
		Store: s.store, Accounts: s.accounts, Log: s.log, Now: now})
	if err != nil {
		return err
	}
	s.sso = m
	adminAPI.WithSessions(m)
	if !s.cfg.Console.PATSignIn {
		adminAPI.WithoutConsoleBearer(sso.FromConsolePage) // console.patSignIn: false
	}
	return nil
}

// runSSOPruner deletes expired console sessions every sso.PruneEvery
// until bg ends (a background job, joined by Close).
func (s *Server) runSSOPruner(bg context.Context) {
	if s.sso == nil {
		return
	}
	tick := time.NewTicker(sso.PruneEvery)
	s.background.Go(func() {
		defer tick.Stop()
		s.sso.RunPruner(bg, tick.C)
	})
}

// ssoRoutes registers the sign-in routes when single sign-on is on.
func (s *Server) ssoRoutes(t *edge.Table) {
	if s.sso == nil {
		return
	}
	t.Handle(sso.LoginPath, ssoRoute, http.HandlerFunc(s.sso.Login), http.MethodGet, http.MethodHead)
	t.Handle(sso.CallbackPath, ssoRoute, http.HandlerFunc(s.sso.Callback), http.MethodGet)
	t.Handle(sso.LogoutPath, ssoRoute, http.HandlerFunc(s.sso.Logout), http.MethodPost)
	// `tokenwright login` / `logout` (server/sso/cli.go).
	t.Handle(sso.CLISessionPath, ssoRoute, http.HandlerFunc(s.sso.CLISession), http.MethodPost, http.MethodDelete)
	t.Handle(sso.CLIDevicePath, ssoRoute, http.HandlerFunc(s.sso.CLIDevice), http.MethodPost)
}
