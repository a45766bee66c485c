package web

import (
	"encoding/json"
	"net/http"
)

// SettingsPath answers the console's settings: which ways of signing in
// the sign-in page offers. It is read before anyone is signed in, so it
// says nothing but that.
const SettingsPath = "/ui/settings"

// Settings is the answer of SettingsPath.
type Settings struct {
	// SSO: single sign-on is configured (the page shows the button to
	// /ui/login/sso).
	SSO bool `json:"sso"`
	// PATSignIn: console.patSignIn (the page shows the PAT form).
	PATSignIn bool `json:"patSignIn"`
}

// Handler answers the settings as JSON. They change only with the
// configuration, at a restart; no-store keeps a browser from showing a
// form the server no longer accepts.
func (s Settings) Handler() http.Handler {
	body, err := json.Marshal(s)
	if err != nil {
		panic(err) // two booleans: a failure is a build defect
	}
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})
}
