"""Verify tokenwright JWTs with PyJWT's PyJWKClient, one token per line.

  pyjwt_verify.py ISSUER AUDIENCE ALG[,ALG...]

The JWKS URL comes from the discovery document. TLS trust is the ssl
module's default (SSL_CERT_FILE): this PyJWT's PyJWKClient takes no TLS
context. Prints {"ready": true} once the client exists, then for each token
read on stdin one JSON line: {"ok": true} or {"ok": false, "reason":
"expired"|"audience"|"signature"|"other", "detail": ...}. The same
PyJWKClient instance serves every token, so its JWKS cache lives across a
key rotation. The line "!expire-cache" refreshes the JWK Set cache as its
lifespan running out would (the harness's stand-in for the time that
passes during a pre-publication window) and answers {"ok": true}.
"""
import json
import sys
import urllib.request

import jwt


def classify(e):
    if isinstance(e, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(e, jwt.InvalidAudienceError):
        return "audience"
    if isinstance(e, jwt.InvalidSignatureError):
        return "signature"
    return "other"


def main():
    issuer, audience, algs = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=30) as resp:
        disc = json.load(resp)
    client = jwt.PyJWKClient(disc["jwks_uri"])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        if token == "!expire-cache":
            client.get_jwk_set(refresh=True)
            print(json.dumps({"ok": True}), flush=True)
            continue
        try:
            key = client.get_signing_key_from_jwt(token)
            jwt.decode(token, key.key, algorithms=algs, audience=audience, issuer=issuer,
                       options={"require": ["exp", "iat", "iss", "aud"]})
            out = {"ok": True}
        except jwt.PyJWTError as e:
            out = {"ok": False, "reason": classify(e), "detail": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
