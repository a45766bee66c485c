package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Size caps of the fetched documents: an issuer's discovery document is a
// few KiB and its JWKS a few keys; more is a mistake or an attack on
// memory.
const (
	maxDiscoverySize = 64 << 10
	maxJWKSSize      = 256 << 10
)

// Why a fetch was refused; wrapped in the *Invalid of ReasonKeys.
var (
	errInsecureURL     = errors.New("not an https URL (plain http only for loopback hosts)")
	errRedirect        = errors.New("answered with a redirect, which is not followed")
	errStatus          = errors.New("answered with an unexpected status")
	errTooLarge        = errors.New("document exceeds the size cap")
	errIssuerMismatch  = errors.New("discovery document names another issuer")
	errNoKeys          = errors.New("no usable public key")
	errDiscoveryNoJWKS = errors.New("discovery document has no jwks_uri")
)

// fetchKeys fetches the issuer's public signing keys: from jwksURI, or
// from the jwks_uri of the issuer's discovery document, which must name
// the issuer exactly. It returns how long to cache them.
func (i *Issuers) fetchKeys(ctx context.Context, issuer, jwksURI string) ([]jose.JSONWebKey, time.Duration, error) {
	if jwksURI == "" {
		var err error
		if jwksURI, err = i.discover(ctx, issuer); err != nil {
			return nil, 0, err
		}
	}
	body, header, err := i.get(ctx, jwksURI, maxJWKSSize)
	if err != nil {
		return nil, 0, err
	}
	keys, err := i.parseJWKS(body)
	if err != nil {
		return nil, 0, fmt.Errorf("JWKS %s: %w", jwksURI, err)
	}
	return keys, keysTTL(header.Get("Cache-Control")), nil
}

// discover returns the jwks_uri of issuer's OpenID discovery document.
func (i *Issuers) discover(ctx context.Context, issuer string) (string, error) {
	where := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := i.get(ctx, where, maxDiscoverySize)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery %s: %w", where, err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the
	// one it was fetched for, exactly, or keys of one issuer could vouch
	// for tokens claiming another.
	if doc.Issuer != issuer {
		return "", fmt.Errorf("%w: %q, want %q", errIssuerMismatch, doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("discovery %s: %w", where, errDiscoveryNoJWKS)
	}
	return doc.JWKSURI, nil
}

// get fetches where with a GET, refusing insecure URLs, redirects, other
// statuses than 200 and bodies over limit bytes.
func (i *Issuers) get(ctx context.Context, where string, limit int64) ([]byte, http.Header, error) {
	// The same rule ValidateRule applies to a rule's issuer and jwksUri,
	// applied again to every URL fetched (a discovery document's jwks_uri).
	if err := checkFetchURL(where, false); err != nil {
		return nil, nil, fmt.Errorf("%w: %q %v", errInsecureURL, where, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := i.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, nil, fmt.Errorf("%s %w (%d to %q)", where, errRedirect, resp.StatusCode, resp.Header.Get("Location"))
	case resp.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("%s %w %d", where, errStatus, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("%s: %w (cap %d)", where, errTooLarge, limit)
	}
	return body, resp.Header, nil
}

// parseJWKS returns the public keys of a JWKS (whether a key may verify a
// given token is keyAllows's question). A key go-jose cannot read, or a
// private or symmetric one, is skipped (and logged), so that one odd key
// does not disable the others.
func (i *Issuers) parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			i.log.Debug().Err(err).Msg("federation: skipping a JWK that does not parse")
			continue
		}
		if !k.IsPublic() || !k.Valid() {
			i.log.Debug().Str("kid", k.KeyID).Msg("federation: skipping a JWK that is not a public key")
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errNoKeys
	}
	return keys, nil
}

// keysTTL is how long to cache a JWKS given its response's Cache-Control:
// its max-age (no-store and no-cache count as 0), defaultKeysTTL without
// one, clamped to [minKeysTTL, maxKeysTTL].
func keysTTL(cacheControl string) time.Duration {
	ttl := defaultKeysTTL
	noCache := false
	for _, d := range strings.Split(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 {
				ttl = time.Duration(min(n, int64(maxKeysTTL/time.Second))) * time.Second
			}
		case "no-store", "no-cache":
			noCache = true
		}
	}
	if noCache {
		ttl = 0
	}
	return min(max(ttl, minKeysTTL), maxKeysTTL)
}
