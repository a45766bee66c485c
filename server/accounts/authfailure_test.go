package accounts

import (
	"errors"
	"fmt"
	"testing"
)

// A failure reason travels as a value: it matches ErrInvalidClient through
// any wrapping, is read back with errors.As, and never shows in the text a
// client could be given.
func TestAuthErrorCarriesItsReason(t *testing.T) {
	err := fmt.Errorf("token endpoint: %w", &AuthError{Reason: ReasonSourceAddress, Debug: "10.0.0.0/8"})
	if !errors.Is(err, ErrInvalidClient) || ReasonOf(err) != ReasonSourceAddress {
		t.Fatalf("errors.Is %v, reason %q", errors.Is(err, ErrInvalidClient), ReasonOf(err))
	}
	if got := (&AuthError{Reason: ReasonSourceAddress}).Error(); got != ErrInvalidClient.Error() {
		t.Errorf("Error() = %q, want the uniform %q", got, ErrInvalidClient.Error())
	}
	bearer := bearerFailure(ReasonKeyRevoked)
	if !errors.Is(bearer, ErrUnauthenticated) || errors.Is(bearer, ErrInvalidClient) || ReasonOf(bearer) != ReasonKeyRevoked ||
		bearer.Error() != ErrUnauthenticated.Error() {
		t.Errorf("bearer failure: %v", bearer)
	}
	if ReasonOf(ErrInvalidScope) != "" || errors.Is(ErrInvalidScope, ErrInvalidClient) {
		t.Error("another error reads as an authentication failure")
	}
}
