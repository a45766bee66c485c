package cors_test

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokenwright/tokenwright/server/cors"
)

func TestAllowed(t *testing.T) {
	c := cors.Config{Origins: cors.Origins{"localhost": true, ".example.com": true, ".evil.example.com": false, "app.evil.example.com": true}}
	cases := map[string]bool{
		"http://localhost":                true,
		"http://localhost:8080":           true,
		"https://a.localhost":             true,
		"https://evillocalhost":           false,
		"https://www.example.com":         true,
		"https://EXAMPLE.com":             false,
		"https://x.evil.example.com":      false,
		"https://app.evil.example.com":    true, // the longest ending wins
		"https://www.example.com/path":    false,
		"ftp://www.example.com":           false,
		"null":                            false,
		"https://user@www.example.com":    false,
		"https://www.example.com.evil.io": false,
	}
	for origin, want := range cases {
		if got := c.Allowed(origin); got != want {
			t.Errorf("%s: %v, want %v", origin, got, want)
		}
	}
	if (cors.Config{}).Enabled() || (cors.Config{Origins: cors.Origins{"x.com": false}}).Enabled() {
		t.Error("enabled without an allowed origin")
	}
}

func TestConfigForms(t *testing.T) {
	var c cors.Config
	if err := yaml.Unmarshal([]byte("Localhost: true\n.example.com: false\ntokenEndpoint: true\n"), &c); err != nil {
		t.Fatal(err)
	}
	if !c.TokenEndpoint || !c.Origins["localhost"] || c.Origins[".example.com"] || len(c.Origins) != 2 {
		t.Fatalf("%+v", c)
	}
	if err := yaml.Unmarshal([]byte("[localhost]"), &c); err == nil {
		t.Error("a list accepted")
	}
	var o cors.Origins
	if err := o.Set("localhost=true, .example.com=false,.local"); err != nil || !o["localhost"] || o[".example.com"] || !o[".local"] {
		t.Fatalf("%v %v", o, err)
	}
	if err := o.Set("localhost=maybe"); err == nil {
		t.Error("bad boolean accepted")
	}
	if err := (cors.Config{Origins: cors.Origins{"*.example.com": true}}).Validate(); err == nil {
		t.Error("a wildcard accepted")
	}
}
