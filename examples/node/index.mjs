// Get a tokenwright JWT with openid-client (OAuth 2.0 client credentials,
// endpoints from OpenID discovery), verify it locally with jose against the
// server's JWKS, and call a Domino REST API endpoint with it.
//
//   TOKENWRIGHT_SERVER=https://idp.example.com \
//   TOKENWRIGHT_CLIENT_ID=ci-bot TOKENWRIGHT_CLIENT_SECRET=twk_... \
//   DOMINO_URL=https://domino.example.com DOMINO_PATH=/api/v1/scopes \
//   node index.mjs
//
// Prints one JSON line: the token's subject and audience, and the Domino
// answer's status. The secret is never printed.
import * as oidc from 'openid-client';
import * as jose from 'jose';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
};

const issuer = new URL(need('TOKENWRIGHT_SERVER'));
const clientId = need('TOKENWRIGHT_CLIENT_ID');
const clientSecret = need('TOKENWRIGHT_CLIENT_SECRET');
const audience = process.env.TOKENWRIGHT_AUDIENCE || 'Domino';
const scope = process.env.TOKENWRIGHT_SCOPE; // optional: default is all the key allows
const dominoURL = process.env.DOMINO_URL;
const dominoPath = process.env.DOMINO_PATH || '/api/v1/scopes';

// Plain http is only acceptable on loopback (development, tests).
const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname);
const options = issuer.protocol === 'http:' && loopback ? { execute: [oidc.allowInsecureRequests] } : undefined;

const config = await oidc.discovery(issuer, clientId, undefined, oidc.ClientSecretBasic(clientSecret), options);

const params = { audience };
if (scope) params.scope = scope;
const tokens = await oidc.clientCredentialsGrant(config, params);

// Relying parties verify like this: signature from the published JWKS,
// issuer and audience.
const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
const { payload } = await jose.jwtVerify(tokens.access_token, jwks, {
  issuer: config.serverMetadata().issuer,
  audience,
});

const result = { sub: payload.sub, aud: payload.aud, expiresIn: tokens.expiresIn() };
if (dominoURL) {
  const res = await fetch(new URL(dominoPath, dominoURL), {
    headers: { Authorization: `Bearer ${tokens.access_token}`, Accept: 'application/json' },
  });
  result.status = res.status;
  result.body = await res.text();
}
console.log(JSON.stringify(result));
