"""Obtain client-credentials tokens from tokenwright with Authlib.

Reads one JSON object on stdin (so that secrets stay off the command line):
  issuer, cafile, client_id, client_secret, assertion_client_id,
  assertion_key_pem, alg, cases: [{name, method}]
and prints one JSON object: {"results": {name: {"token": ...} | {"error": ...}}}.
The token endpoint comes from the discovery document.
"""
import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT


def main():
    cfg = json.load(sys.stdin)
    disc = requests.get(cfg["issuer"] + "/.well-known/openid-configuration",
                        verify=cfg["cafile"], timeout=30).json()
    token_url = disc["token_endpoint"]
    results = {}
    for case in cfg["cases"]:
        method = case["method"]
        if method == "private_key_jwt":
            session = OAuth2Session(cfg["assertion_client_id"], cfg["assertion_key_pem"],
                                    token_endpoint_auth_method="private_key_jwt")
            session.register_client_auth_method(PrivateKeyJWT(token_url, alg=cfg["alg"]))
        else:
            session = OAuth2Session(cfg["client_id"], cfg["client_secret"],
                                    token_endpoint_auth_method=method)
        try:
            # verify= on the request: requests lets REQUESTS_CA_BUNDLE and
            # CURL_CA_BUNDLE override a session.verify.
            token = session.fetch_token(token_url, grant_type="client_credentials",
                                        verify=cfg["cafile"], timeout=30)
            results[case["name"]] = {"token": token["access_token"]}
        except Exception as e:  # every failure is a result the Go test reports
            results[case["name"]] = {"error": "%s: %s" % (type(e).__name__, e)}
        finally:
            session.close()
    json.dump({"results": results}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
