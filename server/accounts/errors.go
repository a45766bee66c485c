package accounts

import (
	"errors"
	"fmt"

	"github.com/tokenwright/tokenwright/store"
)

// Errors of the business rules. The admin API maps them to HTTP statuses,
// the token endpoint to OAuth error codes.
var (
	// ErrInvalidClient is the one answer to every failed client
	// authentication, whatever the reason, so that callers cannot learn
	// whether an account or key exists.
	ErrInvalidClient = errors.New("client authentication failed")
	ErrInvalidScope  = errors.New("requested scope is not allowed")
	ErrInvalidTarget = errors.New("requested audience is not allowed")
	// ErrUnauthenticated: no or bad bearer credential on the admin API.
	ErrUnauthenticated = errors.New("authentication required")
	ErrForbidden       = errors.New("permission denied")
	ErrNotFound        = store.ErrNotFound
	ErrAlreadyExists   = store.ErrAlreadyExists
	ErrConflict        = store.ErrConflict
	// ErrQuota: a per-principal limit (keys.maxPATsPerUser) is reached.
	ErrQuota = errors.New("quota exceeded")
)

// ValidationError names the offending field of a request.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ConflictError is a refusal by one of this package's rules because of the
// state of other records (the last active administrator, a user changed
// meanwhile). errors.Is(err, ErrConflict) holds. It is told apart from the
// store's own conflict, an email address already taken (store.ErrConflict),
// by its type, never by its text.
type ConflictError struct {
	// Hint is the client-facing explanation.
	Hint string
}

func (e *ConflictError) Error() string { return ErrConflict.Error() + ": " + e.Hint }

// Is makes a ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func conflict(format string, args ...any) error {
	return &ConflictError{Hint: fmt.Sprintf(format, args...)}
}
