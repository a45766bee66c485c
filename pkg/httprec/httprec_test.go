package httprec_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/httprec"
)

func TestRecorder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		handler    func(w http.ResponseWriter)
		wantStatus int // recorded
		wantBytes  int
	}{
		{"nothing written", func(w http.ResponseWriter) {}, 0, 0},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("hello")) }, 200, 5},
		{"first status wins", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusTeapot)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("ab"))
			_, _ = w.Write([]byte("cd"))
		}, http.StatusTeapot, 4},
		{"flush sends the header", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			under := httptest.NewRecorder()
			// Two recorders deep, as the request log and the rate limiter
			// nest: the inner one must reach the real writer.
			outer := httprec.New(under)
			inner := httprec.New(outer)
			tc.handler(inner)
			for _, r := range []*httprec.Recorder{inner, outer} {
				if r.Status != tc.wantStatus || r.Bytes != tc.wantBytes {
					t.Errorf("recorded %d/%d bytes, want %d/%d", r.Status, r.Bytes, tc.wantStatus, tc.wantBytes)
				}
			}
			if tc.name == "flush sends the header" && !under.Flushed {
				t.Error("Flush did not reach the underlying writer")
			}
		})
	}
}

func TestResponseControllerReachesTheConnection(t *testing.T) {
	under := httptest.NewRecorder()
	rec := httprec.New(httprec.New(under))
	if err := http.NewResponseController(rec).Flush(); err != nil || !under.Flushed {
		t.Fatalf("ResponseController.Flush through two recorders: %v, flushed %v", err, under.Flushed)
	}
}
