// Command example gets tokenwright JWTs with the Go SDK and calls a Domino
// REST API endpoint with them. The token source caches the JWT and renews
// it shortly before it expires, so a long-running program can keep one.
//
//	TOKENWRIGHT_SERVER=https://idp.example.com \
//	TOKENWRIGHT_CLIENT_ID=ci-bot TOKENWRIGHT_CLIENT_SECRET=twk_... \
//	DOMINO_URL=https://domino.example.com \
//	go run ./examples/go /api/v1/scopes
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/pkg/client"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stdout io.Writer, args []string) error {
	path := "/api/v1/scopes"
	if len(args) > 0 {
		path = args[0]
	}
	for _, name := range []string{"TOKENWRIGHT_SERVER", "TOKENWRIGHT_CLIENT_ID", "TOKENWRIGHT_CLIENT_SECRET", "DOMINO_URL"} {
		if os.Getenv(name) == "" {
			return fmt.Errorf("set %s", name)
		}
	}
	ts := client.TokenSource(ctx, client.TokenConfig{
		Issuer:        os.Getenv("TOKENWRIGHT_SERVER"),
		ClientID:      os.Getenv("TOKENWRIGHT_CLIENT_ID"),
		ClientSecret:  os.Getenv("TOKENWRIGHT_CLIENT_SECRET"),
		Audiences:     []string{"Domino"},
		RefreshMargin: time.Minute,
	})
	// Every request made with this client carries a valid bearer token.
	httpClient := oauth2.NewClient(ctx, ts)
	httpClient.Timeout = 30 * time.Second

	resp, err := httpClient.Get(strings.TrimSuffix(os.Getenv("DOMINO_URL"), "/") + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	_, err = stdout.Write(body)
	return err
}
