package sso

import (
	"bytes"
	"html/template"
	"net/http"
)

// refusalPage is what a browser shows when a sign-in is refused: the
// reason (the one docs/console.md lists, also in the audit event) and a
// way back to the console. It is plain HTML under the server's strict
// Content-Security-Policy (no script, no style); html/template escapes the
// reason, which may quote what the provider sent (an email address, an
// error_description).
var refusalPage = template.Must(template.New("refusal").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in failed · tokenwright</title></head>
<body>
<main>
<h1>Sign-in failed</h1>
<p id="reason">{{.}}</p>
<p><a id="back" href="` + landing + `">Back to the tokenwright sign-in page</a></p>
</main>
</body>
</html>
`))

// refusePage answers a refused or failed sign-in with refusalPage.
func refusePage(w http.ResponseWriter, status int, msg string) {
	var buf bytes.Buffer
	if err := refusalPage.Execute(&buf, msg); err != nil {
		panic(err) // a fixed template and a string: a failure is a build defect
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
