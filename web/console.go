package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// ConsolePath is where the web console is mounted.
const ConsolePath = "/ui/"

//go:embed console
var consoleFiles embed.FS

// consoleCSP allows only the console's own files: no inline script or style,
// no eval, no third-party origin, no framing (clickjacking). API data is
// rendered with DOM text APIs, so this is defence in depth against XSS, not
// the only line.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Console serves the administration console's static assets at /ui/. The
// console is a client of the admin REST API only: it signs in with a
// personal access token held in memory (a bearer token, no cookie), or,
// with single sign-on, with the server's session cookie plus the CSRF
// header (server/sso). These files carry no credential and change no
// state, so serving them has no CSRF surface.
func Console() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the directory is embedded: a failure is a build defect
	}
	files := http.FileServer(http.FS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidate every time: an upgraded binary must not run with
		// yesterday's cached scripts.
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == strings.TrimSuffix(ConsolePath, "/") {
			http.Redirect(w, r, ConsolePath, http.StatusMovedPermanently)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, ConsolePath)
		if name != "" && !exists(sub, name) {
			notFound(w)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		files.ServeHTTP(w, r2)
	})
}

// exists reports whether name is a regular embedded file; directories other
// than the root would otherwise get a listing.
func exists(fsys fs.FS, name string) bool {
	name = path.Clean(name)
	if !fs.ValidPath(name) {
		return false
	}
	st, err := fs.Stat(fsys, name)
	return err == nil && !st.IsDir()
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":"not_found","message":"no such endpoint"}` + "\n"))
}
