package domino_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenwright/tokenwright/server/domino"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/domino")

const goldenDir = "../../testdata/domino"

// golden compares got with testdata/domino/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./server/domino -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./server/domino -update, then review the diff)\n--- got:\n%s", name, got)
	}
}

func TestSetupGolden(t *testing.T) {
	good := domino.Account{Name: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme", Profile: "domino",
		Scopes: []string{"Domino.user.all", "$DATA", "MAIL"}, Audiences: []string{"https://domino.example.com", "Domino"},
		Lifetime: 10 * time.Minute}
	cases := map[string]domino.Input{
		"site-only": {Issuer: "https://idp.example.com", Site: "https://domino.example.com"},
		"account-rest": {Issuer: "https://idp.example.com", Site: "https://domino.example.com", RESTAPI: true,
			Account: "ci-bot", Accounts: []domino.Account{good}},
		"all-accounts": {Issuer: "https://idp.example.com", Site: "https://domino.example.com:8443", Accounts: []domino.Account{
			good,
			{Name: "etl", Email: "etl@example.com", NotesName: "CN=etl/O=Acme", Profile: "domino",
				Scopes: []string{"Domino.user.all", "$DATA"}, Audiences: []string{"https://domino.example.com:8443"}, Lifetime: time.Hour},
		}},
		"misconfigured": {Issuer: "http://127.0.0.1:8080", Site: "https://domino.example.com", Account: "legacy",
			Accounts: []domino.Account{{Name: "legacy", Email: "legacy@example.com", Profile: "generic",
				Scopes: []string{"read"}, Audiences: []string{"legacy"}, Lifetime: 2 * time.Hour}}},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			setup := domino.Setup(in)
			golden(t, name+".txt", domino.Render(setup))
			data, err := json.MarshalIndent(setup, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", string(data)+"\n")

			ids := []string{}
			for _, sec := range setup.Sections {
				ids = append(ids, sec.ID)
				if sec.Format == "json" && !json.Valid([]byte(sec.Content)) {
					t.Errorf("section %s is not valid JSON:\n%s", sec.ID, sec.Content)
				}
				if sec.Title == "" || sec.Where == "" || sec.Content == "" {
					t.Errorf("section %s incomplete: %+v", sec.ID, sec)
				}
				// The issuer is the Base URL and providerUrl, verbatim.
				if (sec.ID == "idpcat" || strings.HasPrefix(sec.ID, "keepconfig")) && !strings.Contains(sec.Content, in.Issuer) {
					t.Errorf("section %s lacks the issuer %s", sec.ID, in.Issuer)
				}
			}
			if strings.Join(ids, ",") != "idpcat,notes.ini,keepconfig,keepconfig-jwt,person" {
				t.Errorf("sections %v", ids)
			}
		})
	}
}

func TestSetupFlagsProblems(t *testing.T) {
	in := domino.Input{Issuer: "http://127.0.0.1:8080", Site: "https://domino.example.com",
		Accounts: []domino.Account{{Name: "legacy", Email: "legacy@example.com", Profile: "generic", Audiences: []string{"legacy"}}}}
	text := domino.Render(domino.Setup(in))
	for _, want := range []string{"WARNING: the issuer is not https", "--profile domino", "lack aud https://domino.example.com",
		"no Notes name", "lack scope $DATA"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	ok := domino.Input{Issuer: "https://idp.example.com", Site: "https://domino.example.com",
		Accounts: []domino.Account{{Name: "ok", Email: "ok@example.com", NotesName: "CN=ok/O=Acme", Profile: "domino",
			Scopes: []string{"Domino.user.all", "$DATA"}, Audiences: []string{"https://domino.example.com"}}}}
	if text := domino.Render(domino.Setup(ok)); strings.Contains(text, "FIX:") || strings.Contains(text, "WARNING") {
		t.Errorf("a correct account is flagged:\n%s", text)
	}
}

func TestValidateSite(t *testing.T) {
	for _, s := range []string{"https://domino.example.com", "https://domino.example.com:8443", "https://10.0.0.5"} {
		if err := domino.ValidateSite(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "domino.example.com", "http://domino.example.com", "https://domino.example.com/",
		"https://domino.example.com/names.nsf", "https://Domino.example.com", "https://domino.example.com?x=1", "https://u@domino.example.com"} {
		if err := domino.ValidateSite(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
