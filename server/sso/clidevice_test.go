package sso_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server/sso"
	"github.com/tokenwright/tokenwright/server/sso/ssotest"
	"github.com/tokenwright/tokenwright/store"
)

func (e env) post(t *testing.T, path string, in any) (int, []byte) {
	t.Helper()
	data, _ := json.Marshal(in)
	resp, err := http.Post(e.tw.URL+path, "application/json", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// The device authorization grant, brokered by the server for
// `tokenwright login --no-browser`: the server starts it at the provider,
// a poll before the person approved is authorization_pending, the person
// signs in at the provider's device page, the next poll gives a CLI
// session (after the same identity checks and accounts.SignIn as the
// browser flow), and the device code gives no second session even though
// the example provider would redeem it again.
func TestCLIDeviceFlow(t *testing.T) {
	e := start(t, nil, alice)
	status, body := e.post(t, sso.CLIDevicePath, map[string]string{})
	var dev sso.CLIDeviceResponse
	if status != http.StatusOK || json.Unmarshal(body, &dev) != nil || dev.DeviceCode == "" || dev.UserCode == "" ||
		!strings.HasPrefix(dev.VerificationURI, e.op.Issuer) || dev.Interval < 1 || dev.ExpiresIn < 60 {
		t.Fatalf("device start: %d %s", status, body)
	}
	poll := func() (int, string) {
		status, body := e.post(t, sso.CLISessionPath, map[string]string{"deviceCode": dev.DeviceCode})
		return status, string(body)
	}
	if status, body := poll(); status != http.StatusBadRequest || !strings.Contains(body, `"error":"authorization_pending"`) {
		t.Fatalf("poll before approval: %d %s", status, body)
	}
	if page := ssotest.DeviceSignIn(t, dev.VerificationURI, dev.UserCode, alice.Username, alice.Password); !strings.Contains(page, "allowed") {
		t.Fatalf("the provider's device confirmation: %s", page)
	}
	status, got := poll()
	var s sso.CLISessionResponse
	if status != http.StatusOK || json.Unmarshal([]byte(got), &s) != nil || !strings.HasPrefix(s.Token, "tws_") || s.User != "alice" {
		t.Fatalf("poll after approval: %d %s", status, got)
	}
	if st := e.meWith(t, withBearer(s.Token)); st != http.StatusOK {
		t.Fatalf("users/me with the device flow's credential: %d", st)
	}
	if status, body := poll(); status != http.StatusBadRequest || !strings.Contains(body, "already redeemed") {
		t.Fatalf("a second redemption of the device code: %d %s", status, body)
	}
	var granted bool
	for _, ev := range e.audit(t, "sso.signin") {
		granted = granted || ev.Result == store.ResultSuccess && ev.Details["grant"] == "device" && ev.Actor == "alice"
	}
	if !granted {
		t.Fatalf("no sso.signin event of the device grant: %+v", e.audit(t, "sso.signin"))
	}
}
