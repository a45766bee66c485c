package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-jose/go-jose/v4"
	"github.com/gorilla/mux"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/signing"
)

// SigningKeys is what the API needs from the signing-key manager.
type SigningKeys interface {
	Current() *signing.State
	RotateTo(ctx context.Context, immediate bool, alg jose.SignatureAlgorithm) (signing.KeyInfo, error)
	Remove(ctx context.Context, kid string) error
}

// WithSigningKeys enables the signing-key routes (administrators only).
func (a *API) WithSigningKeys(m SigningKeys) *API {
	a.signing = m
	return a
}

var errNoSigning = &decodeError{http.StatusNotFound, api.CodeNotFound, "signing keys are not managed by this server"}

func (a *API) listSigningKeys(r *http.Request, actor accounts.Actor) (int, any, error) {
	if err := accounts.MayManageSigningKeys(actor); err != nil {
		return 0, nil, err
	}
	if a.signing == nil {
		return 0, nil, errNoSigning
	}
	st := a.signing.Current()
	out := api.List[api.SigningKey]{Items: []api.SigningKey{}}
	// Newest first, like every other list in the API.
	for i := len(st.Keys) - 1; i >= 0; i-- {
		out.Items = append(out.Items, toAPISigningKey(st.Keys[i]))
	}
	return http.StatusOK, out, nil
}

func (a *API) rotateSigningKey(r *http.Request, actor accounts.Actor) (int, any, error) {
	var req api.RotateSigningKey
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return 0, nil, err
		}
	}
	details := map[string]string{"immediate": boolString(req.Immediate)}
	if req.Algorithm != "" {
		details["algorithm"] = req.Algorithm
	}
	var k signing.KeyInfo
	err := a.accounts.ChangeSigningKeys(r.Context(), actor, accounts.SigningKeyRotate, "", details, func(ctx context.Context) (string, error) {
		if a.signing == nil {
			return "", errNoSigning
		}
		var err error
		k, err = a.signing.RotateTo(ctx, req.Immediate, jose.SignatureAlgorithm(req.Algorithm))
		return k.ID, err
	})
	if errors.Is(err, signing.ErrUnsupportedAlgorithm) {
		return 0, nil, &decodeError{http.StatusBadRequest, api.CodeInvalidRequest, "algorithm: " + err.Error()}
	}
	if errors.Is(err, signing.ErrRotationPending) {
		return 0, nil, &decodeError{http.StatusConflict, api.CodeConflict, err.Error()}
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, toAPISigningKey(k), nil
}

func (a *API) removeSigningKey(r *http.Request, actor accounts.Actor) (int, any, error) {
	kid := mux.Vars(r)["kid"]
	err := a.accounts.ChangeSigningKeys(r.Context(), actor, accounts.SigningKeyRemove, kid, nil, func(ctx context.Context) (string, error) {
		if a.signing == nil {
			return "", errNoSigning
		}
		return "", a.signing.Remove(ctx, kid)
	})
	if errors.Is(err, signing.ErrKeyInUse) {
		return 0, nil, &decodeError{http.StatusConflict, api.CodeConflict, err.Error()}
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func toAPISigningKey(k signing.KeyInfo) api.SigningKey {
	out := api.SigningKey{KID: k.ID, Algorithm: k.Algorithm, State: string(k.State), CreatedAt: k.CreatedAt,
		ActivateAt: k.ActivateAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, RemoveAfter: k.RemoveAfter}
	if k.ConfiguredAlgorithm != "" && k.ConfiguredAlgorithm != k.Algorithm {
		out.ConfiguredAlgorithm = k.ConfiguredAlgorithm
	}
	return out
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
