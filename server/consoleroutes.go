package server

import (
	"net/http"

	"github.com/tokenwright/tokenwright/server/edge"
	"github.com/tokenwright/tokenwright/web"
)

// consoleSettingsRoute: the console's sign-in settings, read by the
// sign-in page before anyone is signed in. The answer is a constant built
// at start (two booleans), so, like the console's static files, it has no
// rate limit of its own.
var consoleSettingsRoute = webRoute

// consoleSettings registers GET /ui/settings (before the console's
// prefix, which would otherwise answer it as a missing file).
func (s *Server) consoleSettings(t *edge.Table) {
	settings := web.Settings{SSO: s.sso != nil, PATSignIn: s.cfg.Console.PATSignIn}
	t.Handle(web.SettingsPath, consoleSettingsRoute, settings.Handler(), http.MethodGet, http.MethodHead)
}
