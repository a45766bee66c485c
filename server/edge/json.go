package edge

import (
	"encoding/json"
	"net/http"
)

// WriteJSON answers status with body as JSON: the edge's own refusals and
// the server's small JSON answers (probes, the side listeners).
func WriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// oauthError is a refusal in the format of RFC 6749 §5.2.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// NotFound is the JSON 404 of a path no route serves.
func NotFound(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such endpoint"})
}

func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "method not allowed"})
}
