// Obtain client-credentials tokens from tokenwright with openid-client.
//
// Reads one JSON object on stdin (secrets stay off the command line):
//   issuer, client_id, client_secret, assertion_client_id,
//   assertion_key_pem, alg, cases: [{name, method}]
// and prints {"results": {name: {"token": ...} | {"error": ...}}}.
// Endpoints come from discovery; TLS trust from NODE_EXTRA_CA_CERTS.
import * as oidc from 'openid-client';
import * as jose from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cfg = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = {};
for (const c of cfg.cases) {
  try {
    let config;
    switch (c.method) {
      case 'client_secret_basic':
        config = await oidc.discovery(new URL(cfg.issuer), cfg.client_id, undefined, oidc.ClientSecretBasic(cfg.client_secret));
        break;
      case 'client_secret_post':
        config = await oidc.discovery(new URL(cfg.issuer), cfg.client_id, undefined, oidc.ClientSecretPost(cfg.client_secret));
        break;
      case 'private_key_jwt': {
        const key = await jose.importPKCS8(cfg.assertion_key_pem, cfg.alg);
        config = await oidc.discovery(new URL(cfg.issuer), cfg.assertion_client_id, undefined, oidc.PrivateKeyJwt(key));
        break;
      }
      default:
        throw new Error(`unknown method ${c.method}`);
    }
    const tokens = await oidc.clientCredentialsGrant(config);
    results[c.name] = { token: tokens.access_token };
  } catch (e) {
    results[c.name] = { error: `${e.name}: ${e.message}${e.error ? ` (${e.error})` : ''}` };
  }
}
console.log(JSON.stringify({ results }));
