// Verify tokenwright JWTs with jose, one token per line on stdin.
//
//   node verify.mjs ISSUER AUDIENCE
//
// The JWKS URL comes from the discovery document; TLS trust from
// NODE_EXTRA_CA_CERTS. Prints {"ready": true}, then for each token one JSON
// line: {"ok": true} or {"ok": false, "reason": "expired"|"audience"|
// "signature"|"other", "detail": ...}. One createRemoteJWKSet instance serves
// every token, so its cache lives across a key rotation. The line
// "!expire-cache" reloads the set as cacheMaxAge running out would (the
// harness's stand-in for the time that passes during a pre-publication
// window) and answers {"ok": true}.
import * as jose from 'jose';
import * as readline from 'node:readline';

const [issuer, audience] = process.argv.slice(2);
const disc = await (await fetch(new URL(issuer + '/.well-known/openid-configuration'))).json();
// Default cache settings; only the fetch timeout is raised from 5 s, for
// test machines under load.
const jwks = jose.createRemoteJWKSet(new URL(disc.jwks_uri), { timeoutDuration: 30000 });

function classify(e) {
  if (e instanceof jose.errors.JWTExpired) return 'expired';
  if (e instanceof jose.errors.JWTClaimValidationFailed && e.claim === 'aud') return 'audience';
  if (e instanceof jose.errors.JWSSignatureVerificationFailed) return 'signature';
  return 'other';
}

console.log(JSON.stringify({ ready: true }));
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  const token = line.trim();
  if (!token) continue;
  if (token === '!expire-cache') {
    await jwks.reload();
    console.log(JSON.stringify({ ok: true }));
    continue;
  }
  let out;
  try {
    await jose.jwtVerify(token, jwks, { issuer, audience, requiredClaims: ['exp', 'iat'] });
    out = { ok: true };
  } catch (e) {
    out = { ok: false, reason: classify(e), detail: `${e.code || e.name}: ${e.message}` };
  }
  console.log(JSON.stringify(out));
}
