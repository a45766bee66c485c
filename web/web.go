// Package web serves tokenwright's browser-facing pages from assets embedded
// in the binary (no CDN; works offline).
package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
)

//go:embed static
var assets embed.FS

var index = template.Must(template.ParseFS(assets, "static/index.html"))

// Handler serves the landing page at "/" (which links discovery, JWKS and
// the API for whoever opens the server in a browser); other paths are 404.
func Handler(issuer string) http.Handler {
	var buf bytes.Buffer
	if err := index.Execute(&buf, map[string]string{"Issuer": issuer}); err != nil {
		panic(err) // the template is embedded: a failure is a build defect
	}
	page := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"not_found","message":"no such endpoint"}` + "\n"))
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(page)
	})
}
