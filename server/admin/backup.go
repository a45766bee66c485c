package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// Snapshotter writes a consistent database snapshot; size is called with
// its length before the first byte.
type Snapshotter func(ctx context.Context, w http.ResponseWriter, size func(int64)) (int64, error)

// SetSnapshotter enables GET /api/v1/backup. Call before serving.
func (a *API) SetSnapshotter(s Snapshotter) { a.snapshot = s }

// serveBackup streams a snapshot to an administrator (behind authenticate).
func (a *API) serveBackup(w http.ResponseWriter, r *http.Request) {
	actor := actorFrom(r.Context())
	if err := a.accounts.AuthorizeBackup(r.Context(), actor); err != nil {
		a.writeErr(w, r, err)
		return
	}
	if a.snapshot == nil {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "backups are not available on this server")
		return
	}
	// A large database can take longer than the server's write timeout;
	// the backup gets its own.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Minute))
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="tokenwright.db"`)
	n, err := a.snapshot(r.Context(), w, func(size int64) { h.Set("Content-Length", strconv.FormatInt(size, 10)) })
	if err != nil {
		// The headers are gone; the short body (Content-Length) tells the
		// client the copy is incomplete.
		a.log.Error().Err(err).Int64("bytes", n).Str("actor", actor.Name()).Msg("backup failed")
		return
	}
	a.log.Info().Int64("bytes", n).Str("actor", actor.Name()).Msg("backup streamed")
}
