package server

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/tokenwright/tokenwright/pkg/apikey"
)

// redactErrorBodies redacts credentials and JWTs in error answers of next.
// The OAuth endpoints answer through zitadel's op package, whose error
// descriptions quote request values (grant_type, client_assertion_type,
// and our own scope and audience refusals): a secret sent in such a field
// must not come back in the body, which clients and proxies log. Success
// bodies pass through untouched (they carry the issued token on purpose).
func redactErrorBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &redactingWriter{ResponseWriter: w}
		next.ServeHTTP(rw, r)
		rw.flush()
	})
}

// redactingWriter holds back the body of a response whose status is 400 or
// more until the handler is done, then writes it redacted.
type redactingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *redactingWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	if status < http.StatusBadRequest {
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *redactingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.status < http.StatusBadRequest {
		return w.ResponseWriter.Write(p)
	}
	return w.body.Write(p)
}

func (w *redactingWriter) flush() {
	if w.status < http.StatusBadRequest {
		return
	}
	body := []byte(apikey.Redact(w.body.String()))
	if w.Header().Get("Content-Length") != "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(body)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *redactingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
