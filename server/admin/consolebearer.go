package admin

import (
	"errors"
	"net/http"
)

// ErrConsoleBearer refuses a bearer token sent from the console when
// console.patSignIn is false.
var ErrConsoleBearer = errors.New("signing in to the console with a personal access token is switched off (console.patSignIn: false); " +
	"sign in with single sign-on. Personal access tokens still work for scripts and the CLI")

// WithoutConsoleBearer makes the API refuse (403) a bearer token on every
// request fromConsole marks as sent by the console's pages
// (sso.FromConsolePage), before the token is even looked at. It is the
// server half of console.patSignIn: false; the console hides its PAT form.
// It does not restrict PATs elsewhere: whoever holds one can still call
// the API with it from a script.
func (a *API) WithoutConsoleBearer(fromConsole func(*http.Request) bool) *API {
	a.fromConsole = fromConsole
	return a
}
