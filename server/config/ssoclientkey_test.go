package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
)

// sso.clientKeyFile (private_key_jwt) excludes sso.clientSecretFile, and
// sso.clientKeyId needs it; each error names its setting.
func TestSSOClientKeyValidation(t *testing.T) {
	t.Parallel()
	base := "sso:\n  issuer: https://login.example.com/\n  clientId: tw\n"
	for _, tc := range []struct{ yaml, want string }{
		{base + "  clientKeyFile: /k.pem\n  clientSecretFile: /s\n", "sso.clientKeyFile: set either sso.clientSecretFile"},
		{base + "  clientKeyId: k1\n", "sso.clientKeyId: is the key id of sso.clientKeyFile"},
		{"sso:\n  clientKeyFile: /k.pem\n", "sso.issuer: must be set"},
		{base + "  clientKeyFile: /k.pem\n  clientKeyId: k1\n", ""},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, nil)
		if err == nil {
			err = c.Validate()
		}
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
