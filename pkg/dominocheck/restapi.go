package dominocheck

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// RESTAPIMode is how the Domino REST API (KEEP) is configured to trust
// tokenwright in keepconfig.d.
type RESTAPIMode string

const (
	// RESTAPINone checks core Domino only; REST API rules are warnings.
	RESTAPINone RESTAPIMode = ""
	// RESTAPIJWT is "jwt" mode (Domino 12.0.2): RS256 only, keys read
	// once when the REST API starts.
	RESTAPIJWT RESTAPIMode = "jwt"
	// RESTAPIOIDCIdpcat is "oidc-idpcat" mode (Domino 14+): core Domino's
	// idpcat provider and key cache, plus the configured scope and aud.
	RESTAPIOIDCIdpcat RESTAPIMode = "oidc-idpcat"
)

// ParseRESTAPIMode accepts "", "jwt" and "oidc-idpcat".
func ParseRESTAPIMode(s string) (RESTAPIMode, error) {
	switch m := RESTAPIMode(s); m {
	case RESTAPINone, RESTAPIJWT, RESTAPIOIDCIdpcat:
		return m, nil
	}
	return "", fmt.Errorf("--rest-api must be jwt or oidc-idpcat, got %q", s)
}

// The REST API's defaults: its "aud" (keepconfig "aud") and the scope
// `tokenwright domino config` writes into keepconfig.d.
const (
	restAudience     = "Domino"
	DefaultRESTScope = "$DATA"
)

// checkRESTAPIAlg applies the mode's algorithm rule to the token's alg.
func (c *checker) checkRESTAPIAlg(alg string) {
	switch c.opts.RESTAPI {
	case RESTAPIJWT:
		if alg == "RS256" {
			c.pass("REST API jwt mode: alg RS256", alg)
		} else {
			c.fail("REST API jwt mode: alg RS256", alg+": the REST API's jwt mode verifies RS256 only",
				"set signing.algorithm: RS256 and rotate (tokenwright keys rotate), or use oidc-idpcat mode (Domino 14+)")
		}
	case RESTAPIOIDCIdpcat:
		if alg != "RS256" {
			c.warn("REST API oidc-idpcat mode: alg", alg+": HCL documents RS256; oidc-idpcat uses core Domino's validation, which accepts "+alg,
				"use RS256 if the REST API refuses the token")
		}
	default:
		if alg != "RS256" {
			c.warn("alg for the REST API", alg+": the REST API's jwt mode documents RS256 only", "use RS256 if the REST API must accept the token")
		}
	}
}

// checkRESTAPIClaims applies the REST API's claim rules: all of them fail
// the check in a REST API mode, and only the CN rule warns otherwise.
func (c *checker) checkRESTAPIClaims(cl map[string]any) {
	id := c.opts.ClientID
	cn, _ := cl["CN"].(string)
	cnOK := strings.HasPrefix(strings.ToUpper(cn), "CN=")
	cnFix := fmt.Sprintf("for the REST API: tokenwright sa update %s --notes-name 'CN=%s/O=Org'", id, id)
	if c.opts.RESTAPI == RESTAPINone {
		if cnOK {
			c.pass("CN is a Notes name (REST API)", cn)
		} else {
			c.warn("CN is a Notes name (REST API)", "no CN claim", cnFix)
		}
		return
	}
	if cnOK {
		c.pass("REST API: CN is a Notes name", cn)
	} else {
		c.fail("REST API: CN is a Notes name", fmt.Sprintf("CN %q: the REST API takes the user from CN, a Domino name", cn), cnFix)
	}
	if sub, _ := cl["sub"].(string); sub != "" {
		c.pass("REST API: sub present", sub)
	} else {
		c.fail("REST API: sub present", "no sub claim", "use the domino profile")
	}
	aud := strs(cl["aud"])
	if slices.Contains(aud, restAudience) {
		c.pass("REST API: aud contains Domino", strings.Join(aud, " "))
	} else {
		c.fail("REST API: aud contains Domino", fmt.Sprintf("aud [%s] lacks %s (the REST API's default aud)", strings.Join(aud, " "), restAudience),
			"set domino.restApi: true (adds Domino to aud), or match keepconfig's aud")
	}
	scope, _ := cl["scope"].(string)
	want := c.opts.RESTScope
	switch {
	case slices.Contains(strings.Fields(scope), want):
		c.pass("REST API: scope has "+want, scope)
	case c.opts.RESTAPI == RESTAPIOIDCIdpcat:
		c.fail("REST API: scope has "+want, fmt.Sprintf("scope %q: oidc-idpcat mode requires its configured scope", scope),
			fmt.Sprintf("tokenwright sa update %s --scope '%s' (plus its other scopes), or pass the keepconfig scope as --rest-api-scope", id, want))
	default:
		c.warn("REST API: scope has "+want, fmt.Sprintf("scope %q: without it the REST API gives no access to data", scope),
			fmt.Sprintf("tokenwright sa update %s --scope '%s' (plus its other scopes)", id, want))
	}
}

// checkRESTAPIKeys warns about what jwt mode's key handling means: it reads
// the JWKS once, when it starts, so every signing-key rotation needs
// restapi restarted while the new key is published and not yet signing.
func (c *checker) checkRESTAPIKeys(ctx context.Context, keys jose.JSONWebKeySet, kid string) {
	if c.opts.RESTAPI != RESTAPIJWT {
		return
	}
	const rule = "REST API jwt mode: keys read once at start"
	restart := "tell restapi quit, then load restapi"
	for _, k := range keys.Keys {
		if k.KeyID != kid && k.Algorithm != "RS256" {
			c.warn("REST API jwt mode: JWKS keys are RS256", fmt.Sprintf("the JWKS also publishes %s key %s", k.Algorithm, k.KeyID),
				"jwt mode verifies RS256 only: if that key is the next to sign, it will refuse every token; keep signing.algorithm: RS256")
		}
	}
	if c.opts.Admin == nil {
		c.warn(rule, "every signing-key rotation needs the REST API restarted (pass an administrator's token to see when the next one is)",
			"after each new key is published (tokenwright keys list: pending) and before it activates: "+restart)
		return
	}
	list, err := c.opts.Admin.ListSigningKeys(ctx)
	if err != nil {
		c.warn(rule, fmt.Sprintf("every signing-key rotation needs the REST API restarted (the signing-key list is not readable: %v)", err),
			"after each new key is published and before it activates: "+restart)
		return
	}
	var active *api.SigningKey
	for i, k := range list {
		switch k.State {
		case api.SigningKeyActive:
			active = &list[i]
		case api.SigningKeyPending:
			if k.Algorithm != "RS256" {
				c.fail("REST API jwt mode: next signing key is RS256", fmt.Sprintf("key %s (%s) signs from %s", k.KID, k.Algorithm, date(k.ActivateAt)),
					"jwt mode verifies RS256 only: from then it refuses every token; keep signing.algorithm: RS256")
			}
			c.warn(rule, fmt.Sprintf("the next signing-key rotation is planned for %s (key %s is published and signs from then)", date(k.ActivateAt), k.KID),
				fmt.Sprintf("restart the REST API after this check and before %s: %s", date(k.ActivateAt), restart))
			return
		}
	}
	// No successor is published yet. The rotation period is a server
	// setting the API does not show: name the default's date.
	detail := "no new signing key is published yet"
	if active != nil && !active.ActivatedAt.IsZero() {
		detail += fmt.Sprintf("; the active key %s signs since %s, and automatic rotation replaces it after signing.rotationPeriod (by default 30 days: %s)",
			active.KID, date(active.ActivatedAt), date(active.ActivatedAt.Add(defaultRotationPeriod)))
	}
	c.warn(rule, detail+"; each rotation publishes the new key signing.jwksMaxAge + 30m before it signs",
		"each time, restart the REST API while tokenwright keys list shows the new key pending, before it activates: "+restart)
}

// defaultRotationPeriod is signing.rotationPeriod's default.
const defaultRotationPeriod = 30 * 24 * time.Hour
