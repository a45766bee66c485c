package etcd

import (
	"context"
	"time"
)

// EndWatch ends the mirror's current watch, as a lost member or a broken
// stream would; the watch loop then resumes it. Tests only.
func (s *Store) EndWatch() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.cancelWatch != nil {
		s.cancelWatch()
	}
}

// RequestProgressOnMirror asks etcd for a progress notification on the
// mirror's own watch stream (what tokenwright once did on every probe).
// Tests only.
func (s *Store) RequestProgressOnMirror() error {
	// A child of the stream's context has the same stream key; the timeout
	// keeps a busy stream from blocking the caller.
	ctx, cancel := context.WithTimeout(s.watchStream(), 100*time.Millisecond)
	defer cancel()
	return s.cli.RequestProgress(ctx)
}
