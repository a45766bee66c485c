package oauth

import (
	"errors"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokenwright/tokenwright/store"
)

// errServerOrUnavailable answers 503 when the store cannot be trusted right
// now (store.ErrUnavailable: an etcd replica that can neither prove its
// memory fresh nor read the record from a quorum, or one cut off for longer
// than etcd.maxStaleness), so that clients and load balancers retry
// elsewhere; any other failure stays a 500.
func errServerOrUnavailable(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return op.NewStatusError(oidc.ErrServerError().WithDescription("temporarily unavailable; try again"), http.StatusServiceUnavailable)
	}
	return errServer()
}
