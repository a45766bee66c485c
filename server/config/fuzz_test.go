package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/config"
)

// The seed corpus lives in testdata/fuzz/FuzzLoadConfig (see
// docs/hardening.md).

// FuzzLoadConfig feeds arbitrary files and environment values to the
// configuration loader and validator: errors are fine, panics are not, and
// a configuration that validates must be usable.
func FuzzLoadConfig(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "config", "tokenwright.yaml")); err == nil {
		f.Add(string(data), "")
	}
	f.Add("listen: 127.0.0.1:9000\ntokens:\n  lifetime: 5m\n", "TOKENWRIGHT_TOKENS_LIFETIME=10m")
	f.Add("limits:\n  clientRate: 1e308\n  maxKeys: -1\n", "TOKENWRIGHT_LIMITS_ENABLED=maybe")
	f.Add("{\"issuer\": \"https://idp.example.com\", \"keys\": {\"defaultLifetime\": \"90d\"}}", "")
	f.Add("tokens: &a\n  lifetime: *a\n", "TOKENWRIGHT_LIMITS_MAX_KEYS=99999999999999999999")
	f.Add("a: [[[[[[[[[[", "TOKENWRIGHT_DATA=")
	// One file per fuzzing process (inputs run one at a time in each): a
	// temp dir per input would cost more than the loader.
	path := filepath.Join(f.TempDir(), "c.yaml")
	f.Fuzz(func(t *testing.T, file, env string) {
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, strings.Split(env, "\n"))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		if cfg.Tokens.Lifetime.Std() <= 0 || cfg.DataDir == "" || cfg.Listen == "" {
			t.Fatalf("a configuration that validates is unusable: %+v", cfg)
		}
	})
}
