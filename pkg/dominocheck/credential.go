package dominocheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/pkg/client"
)

// Admin is what the check reads from the admin API when it was given an
// administrator's (or the account owner's) token: *client.Client.
type Admin interface {
	GetServiceAccount(ctx context.Context, name string) (api.ServiceAccount, error)
	GetKey(ctx context.Context, account, id string) (api.Key, error)
	ListSigningKeys(ctx context.Context) ([]api.SigningKey, error)
}

// refusal explains why the token endpoint refused the credentials. The
// endpoint itself answers every failure alike, so that nobody can probe
// which accounts and keys exist; the reason is read here from what the
// secret says about itself (its format, its key id) and, with a token,
// from the admin API, which shows the key to those allowed to see it.
func (c *checker) refusal(ctx context.Context) (detail, fix string) {
	id := c.opts.ClientID
	cred, err := apikey.Parse(c.opts.ClientSecret)
	if err != nil {
		return "the secret is not a tokenwright API key (twk_...): truncated, mistyped or something else",
			"use the whole secret printed by tokenwright key create (TOKENWRIGHT_CLIENT_SECRET or --secret-file)"
	}
	if cred.Kind == apikey.PersonalToken {
		return "the secret is a personal access token (twp_...), not a service-account key",
			fmt.Sprintf("create a key for the account: tokenwright key create %s --name NAME", id)
	}
	if c.opts.Admin == nil {
		return fmt.Sprintf("the token endpoint does not say why (nobody may learn from it which accounts and keys exist); one of: "+
				"the secret of key %s is wrong; the key expired, was revoked or deleted; the service account %s is deactivated or does not exist; "+
				"this host is outside the account's or key's allowed CIDRs", cred.ID, id),
			fmt.Sprintf("pass an administrator's token (--token-file or TOKENWRIGHT_TOKEN) and the check looks the key up; or see tokenwright key list %s", id)
	}
	sa, err := c.opts.Admin.GetServiceAccount(ctx, id)
	if client.IsNotFound(err) {
		return fmt.Sprintf("there is no service account %q", id), "check --client-id (tokenwright sa list)"
	}
	if err != nil {
		return fmt.Sprintf("looking the account up failed: %v", err), "use an administrator's token, or the account owner's"
	}
	key, err := c.opts.Admin.GetKey(ctx, id, cred.ID)
	if client.IsNotFound(err) {
		return fmt.Sprintf("key %s is not one of %s's keys: it was deleted, or belongs to another account", cred.ID, id),
			fmt.Sprintf("check --client-id; tokenwright key list %s shows its keys", id)
	}
	if err != nil {
		return fmt.Sprintf("looking the key up failed: %v", err), "use an administrator's token, or the account owner's"
	}
	name := fmt.Sprintf("key %q (%s)", key.Name, key.ID)
	var causes, fixes []string
	if sa.Status != api.StatusActive {
		causes = append(causes, fmt.Sprintf("service account %s is deactivated (status %s)", id, sa.Status))
		fixes = append(fixes, "tokenwright sa activate "+id)
	}
	switch {
	case key.Status == api.KeyRevoked && key.RevokedAt != nil:
		causes = append(causes, fmt.Sprintf("%s was revoked on %s", name, date(*key.RevokedAt)))
	case key.Status == api.KeyRevoked:
		causes = append(causes, name+" was revoked")
	case key.Status == api.KeyExpired && key.ExpiresAt != nil:
		causes = append(causes, fmt.Sprintf("%s expired on %s", name, date(*key.ExpiresAt)))
	case key.Status == api.KeyExpired:
		causes = append(causes, name+" expired")
	case key.AuthMethod != "" && key.AuthMethod != "client_secret":
		causes = append(causes, fmt.Sprintf("%s authenticates with %s (a registered public key), not a secret", name, key.AuthMethod))
	}
	if key.Status == api.KeyRevoked || key.Status == api.KeyExpired {
		fixes = append(fixes, fmt.Sprintf("create a new key: tokenwright key create %s --name NAME", id))
	}
	if len(causes) > 0 {
		return strings.Join(causes, "; "), strings.Join(fixes, "; ")
	}
	detail = fmt.Sprintf("%s and service account %s are active, so the secret itself is wrong", name, id)
	if key.RotatedAt != nil {
		detail += fmt.Sprintf(" (the key was rotated on %s", date(*key.RotatedAt))
		if key.PreviousSecretExpiresAt != nil {
			detail += fmt.Sprintf("; its previous secret stopped working on %s", date(*key.PreviousSecretExpiresAt))
		}
		detail += ")"
	}
	if cidrs := append(append([]string{}, sa.AllowedCIDRs...), key.CIDRs...); len(cidrs) > 0 {
		detail = fmt.Sprintf("%s and service account %s are active: the secret is wrong, or this host is outside the allowed CIDRs %s",
			name, id, strings.Join(cidrs, " "))
	}
	return detail, fmt.Sprintf("use the secret printed when the key was created or last rotated; tokenwright key rotate %s %s prints a new one", id, key.ID)
}
