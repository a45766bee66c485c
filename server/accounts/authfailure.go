package accounts

import "errors"

// FailureReason says why a client authentication failed. The set is closed
// (the constants below): it is written to the server log and the audit
// trail, never to the client, which always gets the same "client
// authentication failed" so that it cannot learn whether an account or key
// exists or which check it failed.
type FailureReason string

// The reasons. Their values are stable: operators search logs for them.
const (
	ReasonNoSecret            FailureReason = "no_secret"
	ReasonMalformedCredential FailureReason = "malformed_credential"
	ReasonUnknownKey          FailureReason = "unknown_key"
	ReasonWrongSecret         FailureReason = "wrong_secret"
	ReasonKindMismatch        FailureReason = "credential_kind_mismatch"
	ReasonKeyRevoked          FailureReason = "key_revoked"
	ReasonKeyExpired          FailureReason = "key_expired"
	ReasonOwnerMissing        FailureReason = "owner_missing"
	ReasonOwnerInactive       FailureReason = "owner_inactive"
	ReasonClientMismatch      FailureReason = "client_id_does_not_own_the_key"
	ReasonSourceAddress       FailureReason = "source_address_not_allowed"

	ReasonAssertionTooLarge  FailureReason = "assertion_too_large"
	ReasonAssertionMalformed FailureReason = "assertion_malformed"
	ReasonAssertionIssuer    FailureReason = "assertion_issuer_mismatch"
	ReasonUnknownClient      FailureReason = "unknown_client"
	ReasonAssertionSignature FailureReason = "assertion_signature_invalid"
	ReasonAssertionClaims    FailureReason = "assertion_claims_invalid"
	ReasonAssertionLifetime  FailureReason = "assertion_lifetime_too_long"
	ReasonAssertionReplayed  FailureReason = "assertion_replayed"
)

// AuthError is a failed authentication: errors.Is(err, ErrInvalidClient)
// holds (ErrUnauthenticated for an admin bearer token), and errors.As yields
// the reason. Its Error text is the uniform client-facing one; Reason and
// Debug are for the log only (fosite's Hint/Debug split).
type AuthError struct {
	Reason FailureReason
	// Debug is server-side detail (a JOSE validation error), or "".
	Debug string
	// bearer: a failed admin bearer token (ErrUnauthenticated).
	bearer bool
}

func (e *AuthError) Error() string { return e.sentinel().Error() }

// Is makes an AuthError match its sentinel.
func (e *AuthError) Is(target error) bool { return target == e.sentinel() }

func (e *AuthError) sentinel() error {
	if e.bearer {
		return ErrUnauthenticated
	}
	return ErrInvalidClient
}

// ReasonOf returns the reason of a failed authentication, or "" if err is
// not one.
func ReasonOf(err error) FailureReason {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

func fail(reason FailureReason) error { return &AuthError{Reason: reason} }

// bearerFailure is the admin API's form of a failed authentication.
func bearerFailure(reason FailureReason) error { return &AuthError{Reason: reason, bearer: true} }
