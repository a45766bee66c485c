package sso_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
	"github.com/tokenwright/tokenwright/server/servertest"
	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
)

// startJWT runs the provider with its private_key_jwt client and a
// tokenwright server authenticating as that client with keyFile.
func startJWT(t *testing.T, keyFile func(*ssotest.Provider) string, users ...ssotest.User) env {
	t.Helper()
	op := ssotest.StartWith(t, ssotest.Options{JWTClient: true}, users...)
	tw := servertest.Start(t, servertest.Options{
		Configure: func(c *config.Config) {
			c.SSO.Issuer, c.SSO.ClientID = op.Issuer, op.JWTClientID
			c.SSO.ClientKeyFile, c.SSO.ClientKeyID = keyFile(op), op.JWTKeyID
		},
		Environ: func(string) string { return "" }, // no client secret anywhere
	})
	op.Register(t, tw.URL+sso.CallbackPath)
	return env{op: op, tw: tw}
}

// A whole sign-in where tokenwright authenticates to the provider with
// private_key_jwt (sso.clientKeyFile, an EC P-256 key) and no secret.
func TestPrivateKeyJWTSignIn(t *testing.T) {
	e := startJWT(t, func(op *ssotest.Provider) string { return op.JWTKeyFile }, alice)
	browser := e.signIn(t, alice)
	if status, me := e.me(t, browser); status != http.StatusOK || me.UserName != "alice" {
		t.Fatalf("users/me: %d %+v", status, me)
	}
}

// A key the provider does not know for the client is refused at the
// token endpoint: no session, and the refusal is audited.
func TestPrivateKeyJWTWrongKeyRefused(t *testing.T) {
	e := startJWT(t, func(*ssotest.Provider) string {
		path := filepath.Join(t.TempDir(), "other-key.pem")
		ssotest.WriteKeyPair(t, path, "")
		return path
	}, alice)
	e.refused(t, alice, http.StatusUnauthorized, "the code exchange")
	ev := e.audit(t, "sso.signin")
	if len(ev) != 1 || ev[0].Result != store.ResultDenied || !strings.Contains(ev[0].Details["error"], "invalid_client") {
		t.Fatalf("sso.signin events %+v", ev)
	}
}

// The client credential is given exactly one way; the key file must hold
// an RSA (2048+) or EC private key; each error names the setting.
func TestLoadClientAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, block *pem.Block) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	shortRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	pub, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"rsa":   write("rsa.pem", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}),
		"short": write("short.pem", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(shortRSA)}),
		"ec":    write("ec.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"pub":   write("pub.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
	}
	for _, tc := range []struct {
		name            string
		env, file, key  string
		method, wantErr string
	}{
		{name: "env", env: "s3cret", method: "client_secret_basic"},
		{name: "secret file", file: secretFile, method: "client_secret_basic"},
		{name: "rsa key", key: files["rsa"], method: "private_key_jwt"},
		{name: "sec1 ec key", key: files["ec"], method: "private_key_jwt"},
		{name: "none", wantErr: "sso.clientKeyFile (private_key_jwt)"},
		{name: "env and key", env: "s3cret", key: files["ec"], wantErr: "not TOKENWRIGHT_SSO_CLIENT_SECRET and sso.clientKeyFile"},
		{name: "env and file", env: "s3cret", file: secretFile, wantErr: "not TOKENWRIGHT_SSO_CLIENT_SECRET and sso.clientSecretFile"},
		{name: "short rsa", key: files["short"], wantErr: "sso.clientKeyFile: " + files["short"] + ": an RSA key of 1024 bits is too short"},
		{name: "public key", key: files["pub"], wantErr: "sso.clientKeyFile: " + files["pub"] + `: a PEM "PUBLIC KEY" block is not a private key`},
		{name: "missing key", key: filepath.Join(dir, "nope.pem"), wantErr: "sso.clientKeyFile: open"},
	} {
		c := config.Default().SSO
		c.ClientSecretFile, c.ClientKeyFile = tc.file, tc.key
		a, err := sso.LoadClientAuth(c, func(k string) string {
			if k == config.SSOClientSecretEnv {
				return tc.env
			}
			return ""
		})
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || a.Method() != tc.method):
			t.Errorf("%s: got %v %q, want %s", tc.name, err, a.Method(), tc.method)
		}
	}
}
