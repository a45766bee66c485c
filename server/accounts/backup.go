package accounts

import (
	"context"
	"fmt"
)

// AuthorizeBackup allows administrators to take a database snapshot and
// records the attempt in the audit trail either way: a backup holds every
// account, key hash and sealed signing key. A backup changes nothing, so
// its event has no change to ride on: it is written first, and if it
// cannot be written the backup is refused.
func (s *Service) AuthorizeBackup(ctx context.Context, actor Actor) error {
	if !actor.IsAdmin() {
		s.auditFailure(ctx, actor, "backup.create", "database", ErrForbidden, nil)
		return ErrForbidden
	}
	if _, err := s.store.AppendAudit(ctx, s.event(actor, "backup.create", "database", nil, nil)); err != nil {
		return fmt.Errorf("backup refused: its audit event could not be written: %w", err)
	}
	return nil
}
