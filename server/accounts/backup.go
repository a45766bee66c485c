package accounts

import "context"

// AuthorizeBackup allows administrators to take a database snapshot and
// records the attempt in the audit trail either way: a backup holds every
// account, key hash and sealed signing key.
func (s *Service) AuthorizeBackup(ctx context.Context, actor Actor) error {
	var err error
	if !actor.IsAdmin() {
		err = ErrForbidden
	}
	s.audit(ctx, actor, "backup.create", "database", err, nil)
	return err
}
