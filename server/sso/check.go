package sso

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tokenwright/tokenwright/server/accounts"
)

// checkMode marks a flow started with /ui/login/sso?check=1 (tokenwright
// sso check --sign-in): its callback shows what tokenwright reads from the
// provider and would do, and changes nothing — no user is created or
// updated, no session is made, no token is revoked.
const checkMode = "check"

// CheckSignInURL is the sign-in of `tokenwright sso check --sign-in` on
// the tokenwright at publicURL.
func CheckSignInURL(publicURL string) string {
	return strings.TrimSuffix(publicURL, "/") + LoginPath + "?check=1"
}

// checkReport answers a check-mode callback: the claims read, the mapping
// applied, and the outcome (accounts.PlanSignIn), as plain text. The
// person sees only their own claims and what they would get.
func (m *Manager) checkReport(w http.ResponseWriter, r *http.Request, idt *oidc.IDTokenClaims, claims map[string]any) {
	c := m.opts.SSO
	id, reason := m.identity(idt, claims)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("tokenwright single sign-on check: nothing was changed (no user created or updated, no session).")
	p("")
	p("provider:      %s", idt.Issuer)
	p("subject:       %s", idt.Subject)
	p("user name:     from claim %s = %s -> %q", c.UsernameClaim, claimText(claims, c.UsernameClaim), id.Name)
	verified := "not stated"
	if v, ok := claims["email_verified"].(bool); ok {
		verified = fmt.Sprint(v)
	}
	p("email:         from claim %s = %s (email_verified: %s)", c.EmailClaim, claimText(claims, c.EmailClaim), verified)
	p("groups:        from claim %s = %s", c.GroupsClaim, claimText(claims, c.GroupsClaim))
	var adminBy, roleBy []string
	for _, g := range id.Groups {
		if slices.Contains(c.AdminGroups, g) {
			adminBy = append(adminBy, g)
		}
		if role, ok := c.Roles[g]; ok {
			roleBy = append(roleBy, g+" -> "+role)
		}
	}
	if id.Admin {
		p("administrator: yes (sso.adminGroups: %s)", strings.Join(adminBy, ", "))
	} else {
		p("administrator: no (in none of sso.adminGroups)")
	}
	if len(id.Roles) > 0 {
		p("roles:         %s (sso.roles: %s)", strings.Join(id.Roles, ", "), strings.Join(roleBy, "; "))
	} else {
		p("roles:         none (no group in sso.roles)")
	}
	p("")
	outcome, status := m.checkOutcome(r, id, reason)
	p("%s", outcome)
	p("")
	p("all claims (the ID token's, completed from userinfo where it lacked the username, email or groups claim):")
	names := make([]string, 0, len(claims))
	for k := range claims {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p("  %s: %s", k, claimText(claims, k))
	}
	m.opts.Log.Info().Str("user", id.Name).Str("outcome", status).Msg("single sign-on check sign-in (nothing changed)")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// checkOutcome is what a real sign-in would do, as a sentence, and
// "allowed" or "refused".
func (m *Manager) checkOutcome(r *http.Request, id accounts.ProviderIdentity, reason string) (string, string) {
	if reason != "" {
		return "outcome:       REFUSED: " + reason, "refused"
	}
	plan, err := m.opts.Accounts.PlanSignIn(r.Context(), id)
	if refusal := (*accounts.SignInRefusal)(nil); errors.As(err, &refusal) {
		return "outcome:       REFUSED: " + refusal.Reason, "refused"
	}
	if err != nil {
		return "outcome:       UNKNOWN: reading the user failed: " + err.Error(), "unknown"
	}
	var what string
	switch {
	case plan.Create:
		what = fmt.Sprintf("would create the user %q (email %s, administrator %v, roles [%s])", plan.User.Name, plan.User.Email,
			plan.User.Admin, strings.Join(plan.User.Roles, ", "))
	case plan.Change:
		what = fmt.Sprintf("would update the user %q: email %s -> %s, administrator %v -> %v, roles [%s] -> [%s]", plan.User.Name,
			plan.Old.Email, plan.User.Email, plan.Old.Admin, plan.User.Admin, strings.Join(plan.Old.Roles, ", "), strings.Join(plan.User.Roles, ", "))
		if plan.RevokeReason != "" {
			what += "; their personal access tokens would be revoked first (" + plan.RevokeReason + ")"
		}
	default:
		what = fmt.Sprintf("would sign in the user %q (no change)", plan.User.Name)
	}
	return "outcome:       ALLOWED: " + what, "allowed"
}

// claimText shows a claim's value as JSON ("(absent)" when missing).
func claimText(claims map[string]any, name string) string {
	v, ok := claims[name]
	if !ok {
		return "(absent)"
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}
