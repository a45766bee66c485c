package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/config"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refusal is a file and environment (variables separated by NUL) that
// Load or Validate must refuse with an error naming want.
type refusal struct{ file, env, want string }

func checkRefused(t *testing.T, cases map[string]refusal) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			var env []string
			if tc.env != "" {
				env = strings.Split(tc.env, "\x00")
			}
			cfg, err := config.Load(path, env)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestConfigFileEnvAndDefaults(t *testing.T) {
	t.Parallel()
	p := writeFile(t, `
listen: 127.0.0.1:9000
issuer: https://idp.example.com
tokens:
  lifetime: 5m
  defaultAudiences: [https://domino.example.com]
keys:
  defaultLifetime: 90d
`)
	cfg, err := config.Load(p, []string{"TOKENWRIGHT_TOKENS_LIFETIME=15m", "TOKENWRIGHT_DATA=/srv/tw", "HOME=/root",
		"TOKENWRIGHT_TOKENS_DEFAULT_SCOPES=Domino.user.all, $DATA"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.Issuer != "https://idp.example.com" || cfg.DataDir != "/srv/tw" {
		t.Fatalf("%+v", cfg)
	}
	if cfg.Tokens.Lifetime.Std() != 15*time.Minute || cfg.Keys.DefaultLifetime.Std() != 90*24*time.Hour {
		t.Fatalf("durations: %v %v", cfg.Tokens.Lifetime.Std(), cfg.Keys.DefaultLifetime.Std())
	}
	if strings.Join(cfg.Tokens.DefaultScopes, "|") != "Domino.user.all|$DATA" || cfg.Signing.Algorithm != "RS256" {
		t.Fatalf("%+v", cfg.Tokens)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	cases := map[string]refusal{
		"unknown key":        {file: "tokens:\n  lifetme: 5m\n", want: "lifetme"},
		"bad duration":       {file: "tokens:\n  lifetime: soon\n", want: "soon"},
		"unknown env":        {env: "TOKENWRIGHT_LISTN=1", want: "TOKENWRIGHT_LISTN"},
		"plain http issuer":  {file: "issuer: http://idp.example.com\n", want: "issuer"},
		"issuer with query":  {file: "issuer: https://idp.example.com/?x=1\n", want: "issuer"},
		"lifetime over max":  {file: "tokens:\n  lifetime: 2h\n", want: "tokens.lifetime"},
		"unknown algorithm":  {file: "signing:\n  algorithm: HS256\n", want: "signing.algorithm"},
		"bad log format":     {file: "log:\n  format: xml\n", want: "log.format"},
		"bad listen":         {file: "listen: nowhere\n", want: "listen"},
		"max below default":  {file: "keys:\n  maxLifetime: 30d\n", want: "keys.maxLifetime"},
		"trailing slash iss": {file: "issuer: https://idp.example.com/\n", want: "issuer"},
		"dot-segment aud":    {file: "tokens:\n  defaultAudiences: [https://api.example.com/a/../*]\n", want: "tokens.defaultAudiences"},
		"http aud":           {file: "tokens:\n  defaultAudiences: [http://api.example.com]\n", want: "tokens.defaultAudiences"},
		"bad default scope":  {file: "tokens:\n  defaultScopes: [\"a\\\\b\"]\n", want: "tokens.defaultScopes"},
	}
	checkRefused(t, cases)
	// Loopback issuers may use http; an empty file is no settings.
	for _, iss := range []string{"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "https://idp.example.com/tw"} {
		cfg, err := config.Load(writeFile(t, ""), []string{"TOKENWRIGHT_ISSUER=" + iss})
		if err != nil || cfg.Validate() != nil {
			t.Fatalf("issuer %s refused: %v %v", iss, err, cfg.Validate())
		}
	}
}

// The example configuration shipped in testdata must always load and validate.
func TestExampleConfigIsValid(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(filepath.Join("..", "..", "testdata", "config", "tokenwright.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.MaxLifetime.Std() != 365*24*time.Hour || cfg.KEK.File != "/run/secrets/tokenwright-kek" {
		t.Fatalf("example not read as written: %+v", cfg)
	}
}

// keys.maxPATsPerUser: default 50, TOKENWRIGHT_KEYS_MAX_PATS_PER_USER (an
// acronym stays one word in the variable's name), validated.
func TestMaxPATsPerUserSetting(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", nil)
	if err != nil || cfg.Keys.MaxPATsPerUser != 50 {
		t.Fatalf("default %d, %v", cfg.Keys.MaxPATsPerUser, err)
	}
	cfg, err = config.Load("", []string{"TOKENWRIGHT_KEYS_MAX_PATS_PER_USER=7"})
	if err != nil || cfg.Keys.MaxPATsPerUser != 7 || cfg.Validate() != nil {
		t.Fatalf("from the environment: %d, %v", cfg.Keys.MaxPATsPerUser, err)
	}
	cfg, err = config.Load(writeFile(t, "keys:\n  maxPATsPerUser: 0\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "keys.maxPATsPerUser") {
		t.Fatalf("0 accepted or not named: %v", err)
	}
}

// Issue 16, finding 8: a misspelt setting is named by its path, with the
// nearest real setting, never by a Go type.
func TestConfigUnknownSettingNamesPath(t *testing.T) {
	cases := map[string]struct{ file, want string }{
		"nested typo":    {"tokens:\n  lifetme: 5m\n", "tokens.lifetme: unknown setting; did you mean tokens.lifetime?"},
		"top-level typo": {"listn: 127.0.0.1:1\n", "listn: unknown setting; did you mean listen?"},
		"deeper typo":    {"notifications:\n  webhook:\n    ulr: http://x\n", "notifications.webhook.ulr: unknown setting; did you mean notifications.webhook.url?"},
		"nothing close":  {"signing:\n  zzzzzzzz: 1\n", "signing.zzzzzzzz: unknown setting"},
		"case differs":   {"dataDIR: /x\n", "dataDIR: unknown setting; did you mean dataDir?"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(path, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "struct") {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if name == "nothing close" && strings.Contains(err.Error(), "did you mean") {
				t.Fatalf("suggested something for an unrelated key: %v", err)
			}
		})
	}
}
