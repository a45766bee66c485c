package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/client"
)

// The examples read TOKENWRIGHT_SERVER and TOKENWRIGHT_TOKEN, as a real
// program would; TestMain (main_test.go) starts a real server and sets them.

// Create a service account and an API key with the admin API.
func Example() {
	ctx := context.Background()
	admin, err := client.New(os.Getenv("TOKENWRIGHT_SERVER"), os.Getenv("TOKENWRIGHT_TOKEN"), nil)
	if err != nil {
		panic(err)
	}
	sa, err := admin.CreateServiceAccount(ctx, api.CreateServiceAccount{
		UserName: "ci-bot", Email: "ci-bot@example.com", NotesName: "CN=ci-bot/O=Acme",
		AllowedScopes: []string{"Domino.user.all"}, AllowedAudiences: []string{"Domino"},
	})
	if err != nil {
		panic(err)
	}
	key, err := admin.CreateKey(ctx, sa.UserName, api.CreateKey{Name: "pipeline"})
	if err != nil {
		panic(err)
	}
	fmt.Println(sa.UserName, sa.Status)
	fmt.Println(key.ClientID, key.Name, key.Status, strings.HasPrefix(key.ClientSecret, "twk_"))
	// Output:
	// ci-bot active
	// ci-bot pipeline active true
}

// Exchange an API key for JWTs. The TokenSource caches the token and
// fetches a new one shortly before it expires; oauth2.NewClient puts it on
// every request.
func ExampleTokenSource() {
	ctx := context.Background()
	secret := newKey("etl-job") // in real life: os.Getenv("TOKENWRIGHT_CLIENT_SECRET")
	ts := client.TokenSource(ctx, client.TokenConfig{
		Issuer:       os.Getenv("TOKENWRIGHT_SERVER"),
		ClientID:     "etl-job",
		ClientSecret: secret,
		Scopes:       []string{"Domino.user.all"},
	})
	tok, err := ts.Token()
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.TokenType, strings.Count(tok.AccessToken, "."), tok.Extra("scope"))

	// An HTTP client that authenticates every request to Domino:
	httpClient := oauth2.NewClient(ctx, ts)
	_ = httpClient // httpClient.Get("https://domino.example.com/api/v1/...")
	// Output: Bearer 2 Domino.user.all
}

// Errors carry the server's stable error code.
func ExampleAPIError() {
	admin, err := client.New(os.Getenv("TOKENWRIGHT_SERVER"), os.Getenv("TOKENWRIGHT_TOKEN"), nil)
	if err != nil {
		panic(err)
	}
	_, err = admin.GetServiceAccount(context.Background(), "no-such-account")
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code, client.IsNotFound(err))
	}
	// Output: 404 not_found true
}

// Find keys that expire soon, e.g. from a nightly job.
func ExampleClient_ListKeysByStatus() {
	ctx := context.Background()
	admin, err := client.New(os.Getenv("TOKENWRIGHT_SERVER"), os.Getenv("TOKENWRIGHT_TOKEN"), nil)
	if err != nil {
		panic(err)
	}
	mustAccount(admin, "nightly")
	inTwoDays := int64(2 * 24 * 3600)
	for _, in := range []api.CreateKey{{Name: "old", ExpiresIn: &inTwoDays}, {Name: "fresh"}} {
		if _, err := admin.CreateKey(ctx, "nightly", in); err != nil {
			panic(err)
		}
	}
	keys, err := admin.ListKeysByStatus(ctx, "nightly", api.KeyExpiringSoon)
	if err != nil {
		panic(err)
	}
	for _, k := range keys {
		fmt.Println(k.Name, k.Status)
	}
	// Output: old expiring_soon
}

// newKey creates an account and returns a fresh key's secret.
func newKey(account string) string {
	admin, err := client.New(os.Getenv("TOKENWRIGHT_SERVER"), os.Getenv("TOKENWRIGHT_TOKEN"), nil)
	if err != nil {
		panic(err)
	}
	mustAccount(admin, account)
	key, err := admin.CreateKey(context.Background(), account, api.CreateKey{Name: "example"})
	if err != nil {
		panic(err)
	}
	return key.ClientSecret
}

func mustAccount(admin *client.Client, name string) {
	_, err := admin.CreateServiceAccount(context.Background(), api.CreateServiceAccount{UserName: name, Email: name + "@example.com",
		AllowedScopes: []string{"Domino.user.all"}})
	if err != nil {
		panic(err)
	}
}
