package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokenwright/tokenwright/web"
)

// GET /ui/settings is its own route (not a missing console file), with
// the web routes' properties, and without sso says so: the page then
// shows the PAT form only.
func TestConsoleSettingsRoute(t *testing.T) {
	s := newTestServer(t, nil)
	if got := s.table.Props(httptest.NewRequest(http.MethodGet, web.SettingsPath, nil)); got != consoleSettingsRoute {
		t.Errorf("props %+v, want %+v", got, consoleSettingsRoute)
	}
	rec := httptest.NewRecorder()
	s.table.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, web.SettingsPath, nil))
	if rec.Code != http.StatusOK || rec.Body.String() != `{"sso":false,"patSignIn":true}`+"\n" ||
		rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("GET %s: %d %q %v", web.SettingsPath, rec.Code, rec.Body.String(), rec.Header())
	}
	rec = httptest.NewRecorder()
	s.table.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, web.SettingsPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", web.SettingsPath, rec.Code)
	}
}
