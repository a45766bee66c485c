package apikey_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/pkg/apikey"
)

func TestRedact(t *testing.T) {
	cred, err := apikey.Generate(apikey.ServiceKey, "3kTMd9QpZr7W1xYb")
	if err != nil {
		t.Fatal(err)
	}
	pat, _ := apikey.Generate(apikey.PersonalToken, "3kTMd9QpZr7W1xYb")
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	for _, in := range []string{
		cred.String(),
		pat.String(),
		"scope " + cred.String() + " not allowed",
		`"` + cred.String()[:20] + `"`,         // truncated
		cred.String() + "x",                    // overlong, checksum broken
		"twk_" + strings.Repeat("A", 200),      // not a credential at all
		"Bearer " + jwt,                        // a JWT
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", // unsigned JWT
		"client_id=" + pat.String() + "&x=1",
		"Bearer " + apikey.SessionPrefix + "Vq3-_x9ZkTQ0bPz8y7mW2nA4cRdEfGhIjKlMnOpQrSt", // a CLI session credential
	} {
		out := apikey.Redact(in)
		if strings.Contains(out, "twk_") || strings.Contains(out, "twp_") || strings.Contains(out, apikey.SessionPrefix) || strings.Contains(out, "eyJ") {
			t.Errorf("Redact(%q) = %q", in, out)
		}
		if !strings.Contains(out, apikey.Redacted) {
			t.Errorf("Redact(%q) = %q lacks the marker", in, out)
		}
		var buf bytes.Buffer
		n, err := apikey.RedactWriter(&buf).Write([]byte(in + "\n"))
		if err != nil || n != len(in)+1 || buf.String() != out+"\n" {
			t.Errorf("RedactWriter: %d %v %q", n, err, buf.String())
		}
	}
	for _, keep := range []string{"", "client authentication failed", "twk", "tw_k", "eyJ without dots", "key 3kTMd9QpZr7W1xYb",
		"jti 9lFeyJab3glgSWQj.72bf1ae22c9f77b46333b2a2fc643a02"} {
		if out := apikey.Redact(keep); out != keep {
			t.Errorf("Redact(%q) = %q, want unchanged", keep, out)
		}
	}
}

func BenchmarkRedactClean(b *testing.B) {
	s := `{"level":"info","client_id":"ci-bot","method":"client_secret_basic","reason":"wrong_secret","message":"client authentication failed"}`
	for b.Loop() {
		_ = apikey.Redact(s)
	}
}
