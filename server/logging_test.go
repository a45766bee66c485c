package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tokenwright/tokenwright/server"
)

// Every format of the process logger redacts credentials and JWTs.
func TestLoggerRedactsInEveryFormat(t *testing.T) {
	t.Parallel()
	const secret = "twk_3kTMd9QpZr7W1xYb_c79pXEasAw4D6PDaisvngUJXhnnzYMBuLdcngLPXw4r4fWMdV"
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	for _, format := range []string{"json", "console", "auto"} {
		var buf bytes.Buffer
		log, err := server.NewLogger(&buf, format, "info")
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Str("client_id", secret).Str("scope", "a "+jwt).Msg("refused " + secret)
		out := buf.String()
		if strings.Contains(out, "twk_") || strings.Contains(out, "eyJ") || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s: %s", format, out)
		}
	}
}
