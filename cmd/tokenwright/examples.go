package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// examples are the Example sections of the commands' help, by command
// path without "tokenwright ". They live together so that they read as one
// style; applyConventions hands them out, and a test fails for a command
// without one.
var examples = map[string]string{
	"serve": `# Local trial: data in ./data, issuer derived from --listen
tokenwright serve --data ./data --listen 127.0.0.1:8080
# Production: a config file
tokenwright serve --config /etc/tokenwright/config.yaml`,
	"sa": `tokenwright sa create ci-bot --email ci-bot@example.com
tokenwright sa list -o yaml`,
	"sa create": `tokenwright sa create ci-bot --email ci-bot@example.com --notes-name "CN=ci-bot/O=Acme" \
  --scope Domino.user.all --audience https://domino.example.com`,
	"sa list": `tokenwright sa list
tokenwright sa list -o json | jq -r '.items[].userName'`,
	"sa get":        `tokenwright sa get ci-bot -o yaml`,
	"sa update":     `tokenwright sa update ci-bot --token-lifetime 5m --add-role deployer`,
	"sa activate":   `tokenwright sa activate ci-bot`,
	"sa deactivate": `tokenwright sa deactivate ci-bot`,
	"sa delete": `tokenwright sa delete ci-bot          # asks on a terminal
tokenwright sa delete ci-bot --yes    # in scripts`,
	"sa owners":        `tokenwright sa owners add ci-bot gina`,
	"sa owners add":    `tokenwright sa owners add ci-bot gina`,
	"sa owners remove": `tokenwright sa owners remove ci-bot gina`,
	"sa federation": `tokenwright sa federation add ci-bot --name deploy --github-repo acme/deploy --ref main
tokenwright sa federation list ci-bot`,
	"sa federation add": `# GitHub Actions jobs of acme/deploy on main (its ids are looked up once and pinned)
tokenwright sa federation add ci-bot --name deploy --github-repo acme/deploy --ref main
# ... of its production environment, ids given (no lookup)
tokenwright sa federation add ci-bot --name prod --github-repo acme/deploy --environment prod \
  --github-repository-id 123456789 --github-owner-id 987654
# GitLab CI jobs of project 4711 on protected refs
tokenwright sa federation add ci-bot --name gitlab --gitlab-project 4711 --protected
# Pods running as ci/deployer in a cluster
tokenwright sa federation add ci-bot --name k8s --kubernetes-service-account ci/deployer \
  --issuer https://oidc.prod.example.com
# Any issuer, with claims and a CEL condition
tokenwright sa federation add ci-bot --name custom --issuer https://issuer.example.com \
  --claim team=ops --claim tier=1 --claim tier=2 --condition 'claims.env.startsWith("prod")' --max-token-age 10m`,
	"sa federation list": `tokenwright sa federation list ci-bot
tokenwright sa federation list ci-bot -o json | jq -r '.items[] | .id + " " + .name'`,
	"sa federation remove": `tokenwright sa federation remove ci-bot deploy      # by name
tokenwright sa federation remove ci-bot 3f9c1e...   # or by id`,
	"key": `tokenwright key create ci-bot --name pipeline --expires-in 90d
tokenwright key list ci-bot`,
	"key create": `tokenwright key create ci-bot --name pipeline --expires-in 90d
tokenwright key create ci-bot --name signer --public-key-file signer.pub.pem
# The secret, for a script (shown once):
tokenwright key create ci-bot --name pipeline -o json | jq -r .clientSecret`,
	"key list": `tokenwright key list ci-bot
tokenwright key list ci-bot --status revoked -o yaml
tokenwright key list ci-bot --expiring`,
	"key rotate":     `tokenwright key rotate ci-bot pipeline --grace 1h`,
	"key revoke":     `tokenwright key revoke ci-bot pipeline`,
	"key revoke-all": `tokenwright key revoke-all ci-bot --yes`,
	"key delete":     `tokenwright key delete ci-bot pipeline --yes`,
	"user": `tokenwright user create gina --email gina@example.com --admin
tokenwright user list`,
	"user create": `tokenwright user create gina --email gina@example.com --role auditor`,
	"user list":   `tokenwright user list -o json`,
	"user get": `tokenwright user get gina
tokenwright user get me`,
	"user update": `tokenwright user update gina --status inactive
tokenwright user update gina --scope Domino.user.all --cidr 10.0.0.0/8`,
	"user delete":     `tokenwright user delete gina --yes`,
	"user deactivate": `tokenwright user deactivate gina`,
	"user activate":   `tokenwright user activate gina`,
	"pat": `tokenwright pat create --name laptop --expires-in 30d
tokenwright pat list`,
	"pat create": `tokenwright pat create --name laptop --expires-in 30d
tokenwright pat create --user gina --name ci -o json   # administrators`,
	"pat list": `tokenwright pat list
tokenwright pat list --all --expiring -o yaml`,
	"pat revoke":     `tokenwright pat revoke laptop`,
	"pat delete":     `tokenwright pat delete laptop`,
	"pat revoke-all": `tokenwright pat revoke-all --user gina --yes`,
	"token": `export TOKENWRIGHT_SERVER=https://tokens.example.com
tokenwright token --client-id ci-bot --client-secret-file /run/secrets/ci-bot
curl -H "$(tokenwright token --client-id ci-bot -o header)" https://domino.example.com/api/v1/
tokenwright token --client-id ci-bot --scope Domino.user.all -o json`,
	"proxy": `TOKENWRIGHT_CLIENT_SECRET=... tokenwright proxy --listen 127.0.0.1:9000 \
  --upstream https://domino.example.com --client-id ci-bot`,
	"audit": `tokenwright audit --action 'key.*' --limit 20
tokenwright audit --target ci-bot -o json`,
	"keys": `tokenwright keys list
tokenwright keys rotate`,
	"keys list": `tokenwright keys list -o yaml`,
	"keys rotate": `tokenwright keys rotate
tokenwright keys rotate --algorithm ES256
tokenwright keys rotate --now --yes   # the active key is compromised`,
	"keys remove": `tokenwright keys remove -- -Xq3...kid`,
	"kek":         `tokenwright kek rotate --data /var/lib/tokenwright --new-kek-file /etc/tokenwright/kek.new --generate`,
	"kek rotate":  `tokenwright kek rotate --data /var/lib/tokenwright --new-kek-file /etc/tokenwright/kek.new --generate`,
	"domino": `tokenwright domino config --site https://domino.example.com --account ci-bot
tokenwright domino check --server https://tokens.example.com --site https://domino.example.com --client-id ci-bot`,
	"domino check": `TOKENWRIGHT_CLIENT_SECRET=... tokenwright domino check --server https://tokens.example.com \
  --site https://domino.example.com --client-id ci-bot --rest-api jwt`,
	"domino config": `tokenwright domino config --site https://domino.example.com --account ci-bot`,
	"sso":           `tokenwright sso check --config /etc/tokenwright/tokenwright.yaml --sign-in`,
	"sso check":     `tokenwright sso check --config /etc/tokenwright/tokenwright.yaml --sign-in`,
	"backup":        `tokenwright backup /var/backups/tokenwright-$(date +%F).db`,
	"restore":       `tokenwright restore /var/backups/tokenwright-2026-01-31.db --data /var/lib/tokenwright`,
	"migrate":       `tokenwright migrate --from bolt:/var/lib/tokenwright/tokenwright.db --to etcd:https://etcd1:2379,https://etcd2:2379`,
	"login": `tokenwright login --server https://tokens.example.com
tokenwright login --server https://tokens.example.com --no-browser   # prints the URL`,
	"logout": `tokenwright logout --server https://tokens.example.com`,
	"whoami": `tokenwright whoami --server https://tokens.example.com
tokenwright whoami -o json | jq -r .expiresAt`,
}

// setExample gives c its example, indented as cobra's help expects.
func setExample(c *cobra.Command) {
	if c.Example != "" {
		return
	}
	path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), c.Root().Name()), " ")
	if ex, ok := examples[path]; ok {
		c.Example = "  " + strings.ReplaceAll(ex, "\n", "\n  ")
	}
}
