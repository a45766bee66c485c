package interop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	zclient "github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// goOIDC verifies with go-oidc, configured from discovery as its
// documentation shows: nothing but the audience.
type goOIDC struct{ v *oidc.IDTokenVerifier }

func newGoOIDC(ctx context.Context, e *env) (verifier, error) {
	// The provider keeps this context for its later JWKS fetches.
	ctx = oidc.ClientContext(context.WithoutCancel(ctx), e.HTTPClient)
	p, err := oidc.NewProvider(ctx, e.Issuer)
	if err != nil {
		return nil, err
	}
	return &goOIDC{v: p.VerifierContext(ctx, &oidc.Config{ClientID: e.Audience})}, nil
}

func (g *goOIDC) Verify(ctx context.Context, token string) (verdict, error) {
	_, err := g.v.Verify(ctx, token)
	if err == nil {
		return verdict{OK: true}, nil
	}
	// go-oidc types only the expiry error; the others are classified by
	// their text (for the reason check only).
	var expired *oidc.TokenExpiredError
	switch msg := err.Error(); {
	case errors.As(err, &expired):
		return verdict{Reason: reasonExpired, Detail: msg}, nil
	case strings.Contains(msg, "expected audience"):
		return verdict{Reason: reasonAudience, Detail: msg}, nil
	case strings.Contains(msg, "failed to verify signature"):
		return verdict{Reason: reasonSignature, Detail: msg}, nil
	default:
		return verdict{Reason: reasonOther, Detail: msg}, nil
	}
}

func (g *goOIDC) Close() {}

// keyfuncVerifier verifies with golang-jwt, keys from keyfunc's JWK Set
// storage (which refreshes on an unknown kid, rate-limited).
type keyfuncVerifier struct {
	kf     keyfunc.Keyfunc
	parser *jwt.Parser
	cancel context.CancelFunc
}

func newKeyfunc(ctx context.Context, e *env) (verifier, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{e.JWKSURI}, keyfunc.Override{Client: e.HTTPClient})
	if err != nil {
		cancel()
		return nil, err
	}
	return &keyfuncVerifier{kf: kf, cancel: cancel, parser: jwt.NewParser(jwt.WithAudience(e.Audience), jwt.WithIssuer(e.Issuer),
		jwt.WithValidMethods(suiteAlgorithms), jwt.WithExpirationRequired())}, nil
}

func (k *keyfuncVerifier) Verify(_ context.Context, token string) (verdict, error) {
	_, err := k.parser.Parse(token, k.kf.Keyfunc)
	switch {
	case err == nil:
		return verdict{OK: true}, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return verdict{Reason: reasonExpired, Detail: err.Error()}, nil
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return verdict{Reason: reasonAudience, Detail: err.Error()}, nil
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return verdict{Reason: reasonSignature, Detail: err.Error()}, nil
	default:
		return verdict{Reason: reasonOther, Detail: err.Error()}, nil
	}
}

func (k *keyfuncVerifier) Close() { k.cancel() }

// zitadelVerifier verifies with zitadel/oidc's access-token verifier and a
// remote key set (which refetches on an unknown kid). VerifyAccessToken
// checks issuer, signature and expiry but no audience, so the audience is
// compared here, as an application must.
type zitadelVerifier struct {
	v        *op.AccessTokenVerifier
	audience string
}

func newZitadelVerifier(ctx context.Context, e *env) (verifier, error) {
	disc, err := zclient.Discover(ctx, e.Issuer, e.HTTPClient)
	if err != nil {
		return nil, err
	}
	keys := rp.NewRemoteKeySet(e.HTTPClient, disc.JwksURI)
	// The default algorithm list (RS256, ES256, PS256) covers the suite's.
	return &zitadelVerifier{audience: e.Audience, v: op.NewAccessTokenVerifier(disc.Issuer, keys)}, nil
}

func (z *zitadelVerifier) Verify(ctx context.Context, token string) (verdict, error) {
	claims, err := op.VerifyAccessToken[*zoidc.AccessTokenClaims](ctx, token, z.v)
	switch {
	case err == nil && !slices.Contains(claims.Audience, z.audience):
		return verdict{Reason: reasonAudience, Detail: fmt.Sprintf("aud %v", claims.Audience)}, nil
	case err == nil:
		return verdict{OK: true}, nil
	case errors.Is(err, zoidc.ErrExpired):
		return verdict{Reason: reasonExpired, Detail: err.Error()}, nil
	case errors.Is(err, zoidc.ErrSignatureInvalid):
		return verdict{Reason: reasonSignature, Detail: err.Error()}, nil
	default:
		return verdict{Reason: reasonOther, Detail: err.Error()}, nil
	}
}

func (z *zitadelVerifier) Close() {}
