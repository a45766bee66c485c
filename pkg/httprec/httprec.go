// Package httprec records what a handler wrote to an http.ResponseWriter:
// the status and the number of body bytes. The request log, the rate
// limiter (which charges by status) and the proxies' access log all wrap
// their writer in one Recorder rather than each keeping its own.
package httprec

import "net/http"

// Recorder passes everything through to the writer it wraps and remembers
// the first status written (200 if the handler wrote a body or flushed
// without one) and the body bytes written.
type Recorder struct {
	http.ResponseWriter
	// Status is 0 until the handler wrote a header, a body or flushed.
	Status int
	// Bytes counts the body bytes the wrapped writer accepted.
	Bytes int
}

// New wraps w.
func New(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// WriteHeader records the first status (later calls are ignored by
// net/http too, with a warning).
func (r *Recorder) WriteHeader(code int) {
	if r.Status == 0 {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += n
	return n, err
}

// Flush reaches the connection through every wrapper beneath (which need
// only Unwrap), so that a streaming handler behind several recorders is
// still flushed. Flushing sends the header, so an unset status becomes 200.
func (r *Recorder) Flush() {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (the backup
// extends its write deadline; ReverseProxy flushes streamed answers).
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
