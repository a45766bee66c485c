package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// BackupPath is the online backup endpoint (GET, administrators only).
const BackupPath = Prefix + "/backup"

// Snapshotter writes a consistent database snapshot; size is called with
// its length before the first byte.
type Snapshotter func(ctx context.Context, w http.ResponseWriter, size func(int64)) (int64, error)

// BackupHandler streams a snapshot to an administrator. Register it before
// Register, so that the API's subrouter does not claim the path.
func (a *API) BackupHandler(snapshot Snapshotter) http.Handler {
	return a.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor := actorFrom(r.Context())
		if err := a.accounts.AuthorizeBackup(r.Context(), actor); err != nil {
			a.writeErr(w, r, err)
			return
		}
		// A large database can take longer than the server's write
		// timeout; the backup gets its own.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Minute))
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Disposition", `attachment; filename="tokenwright.db"`)
		n, err := snapshot(r.Context(), w, func(size int64) { h.Set("Content-Length", strconv.FormatInt(size, 10)) })
		if err != nil {
			// Headers are gone; the short body (Content-Length) tells
			// the client the copy is incomplete.
			a.log.Error().Err(err).Int64("bytes", n).Str("actor", actor.Name()).Msg("backup failed")
			return
		}
		a.log.Info().Int64("bytes", n).Str("actor", actor.Name()).Msg("backup streamed")
	}))
}
