package sso

import "net/http"

// FromConsolePage reports whether a browser sent r from a page of this
// server (the console): the browser says so in Sec-Fetch-Site, which a
// page cannot set or remove, or the request carries the console's CSRF
// header (the console sends it on every call, so browsers without
// Fetch Metadata are covered too). With console.patSignIn: false the
// admin API refuses a bearer token on such a request; scripts and the CLI
// send neither and keep using their PATs.
func FromConsolePage(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Site") == "same-origin" || r.Header.Get(CSRFHeader) != ""
}
