#!/bin/sh
# Get a tokenwright JWT with curl (OAuth 2.0 client credentials) and call a
# Domino REST API endpoint with it. Needs curl and sed only.
#
#   TOKENWRIGHT_SERVER=https://idp.example.com \
#   TOKENWRIGHT_CLIENT_ID=ci-bot TOKENWRIGHT_CLIENT_SECRET=twk_... \
#   DOMINO_URL=https://domino.example.com \
#   sh call-domino.sh /api/v1/scopes
#
# With the tokenwright CLI installed, the first step is simply
#   TOKEN=$(tokenwright token --audience Domino)
# which also caches the token between runs.
set -eu
: "${TOKENWRIGHT_SERVER:?set TOKENWRIGHT_SERVER}"
: "${TOKENWRIGHT_CLIENT_ID:?set TOKENWRIGHT_CLIENT_ID}"
: "${TOKENWRIGHT_CLIENT_SECRET:?set TOKENWRIGHT_CLIENT_SECRET}"
: "${DOMINO_URL:?set DOMINO_URL}"
path="${1:-/api/v1/scopes}"

# The credentials go to curl on stdin (a config file), not on its command
# line, where other users could read them in ps.
response=$(printf 'user = "%s:%s"\n' "$TOKENWRIGHT_CLIENT_ID" "$TOKENWRIGHT_CLIENT_SECRET" |
  curl --silent --show-error --fail-with-body --config - \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "audience=${TOKENWRIGHT_AUDIENCE:-Domino}" \
    "$TOKENWRIGHT_SERVER/oauth/token")

# The token response is JSON; a JWT contains no quotes, so sed suffices.
token=$(printf '%s' "$response" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
if [ -z "$token" ]; then
  echo "no access_token in the token response" >&2
  exit 1
fi

# Likewise, the bearer header goes through stdin.
printf 'header = "Authorization: Bearer %s"\n' "$token" |
  curl --silent --show-error --fail-with-body --config - \
    -H 'Accept: application/json' "${DOMINO_URL%/}$path"
echo
