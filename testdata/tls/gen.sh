#!/usr/bin/env bash
# Regenerates the test PKI used by the TLS and Domino tests. The outputs are
# committed; run this only to replace them (e.g. before they expire in 2126):
#
#   cd testdata/tls && ./gen.sh
#
# Needs openssl (1.1 or 3.x) and keytool (any JDK). Produces:
#   ca.pem / ca.key              test CA (tests trust only this)
#   server.pem / server.key      server certificate for 127.0.0.1, ::1 and localhost
#   server.p12                   the same key and chain as PKCS#12 (password below)
#   server.jks                   the same as a Java keystore, alias "tokenwright"
#   server2.pem / server2.key    a second certificate (reload tests swap to it)
#   server2.p12 / server2.jks    the same as PKCS#12 and JKS
#   password.txt                 the PKCS#12/JKS password
# These keys are public test material: never use them anywhere else.
set -euo pipefail
cd "$(dirname "$0")"
PASS=tokenwright-test
DAYS=36500

rm -f ca.* server*.* password.txt
printf '%s\n' "$PASS" > password.txt

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$DAYS" \
  -keyout ca.key -out ca.pem -subj "/O=tokenwright tests/CN=tokenwright test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

for name in server server2; do
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$name.key" -out "$name.csr" \
    -subj "/O=tokenwright tests/CN=$name.localhost"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$DAYS" \
    -out "$name.pem" -extfile <(printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost")
  rm -f "$name.csr"
  openssl pkcs12 -export -in "$name.pem" -inkey "$name.key" -certfile ca.pem \
    -name tokenwright -out "$name.p12" -passout "pass:$PASS"
  keytool -importkeystore -noprompt -srckeystore "$name.p12" -srcstoretype PKCS12 -srcstorepass "$PASS" \
    -destkeystore "$name.jks" -deststoretype JKS -deststorepass "$PASS" -destkeypass "$PASS" \
    -srcalias tokenwright -destalias tokenwright 2>/dev/null
done
rm -f ca.srl
echo "generated test PKI in $(pwd)"
