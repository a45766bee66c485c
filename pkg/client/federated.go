package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// Sources of the federated token a TokenConfig.FederatedToken exchanges:
// where a CI system or a platform hands a job or a workload its own
// short-lived OIDC token.

// maxFederatedToken bounds what is read as a token (real ones are a few
// kilobytes).
const maxFederatedToken = 64 << 10

// ErrNoFederatedToken: the environment does not offer the token asked for
// (not running in GitHub Actions with `id-token: write`, an unset GitLab
// id_tokens variable, an empty file).
var ErrNoFederatedToken = errors.New("no federated token")

// FederatedTokenFile reads the token from path at every request: a
// Kubernetes projected service-account token, a SPIFFE JWT-SVID file or
// any file a platform keeps current.
func FederatedTokenFile(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxFederatedToken+1))
		if err != nil {
			return "", err
		}
		return checkToken(string(data), "the file "+path)
	}
}

// GitLabCIToken reads the job's ID token from the variable that the
// job's `id_tokens:` entry names (GitLab sets one variable per entry, each
// with its own aud).
func GitLabCIToken(getenv func(string) string, variable string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		if variable == "" {
			return "", fmt.Errorf("%w: name the id_tokens variable (for example TOKENWRIGHT_ID_TOKEN)", ErrNoFederatedToken)
		}
		return checkToken(getenv(variable), "the variable "+variable+" (is it an id_tokens: entry of this job?)")
	}
}

// GitHubActionsToken asks the Actions runtime for the job's OIDC token
// with audience as its aud: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…
// with the bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN, answered with
// {"value": JWT}. Both variables exist only in a job whose workflow has
// `permissions: id-token: write`.
func GitHubActionsToken(getenv func(string) string, hc *http.Client, audience string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		requestURL, bearer := getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
		if requestURL == "" || bearer == "" {
			return "", fmt.Errorf("%w: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (run in GitHub Actions with permissions: id-token: write)", ErrNoFederatedToken)
		}
		u, err := url.Parse(requestURL)
		if err != nil {
			return "", fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL: %w", err)
		}
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Accept", "application/json")
		resp, err := buildinfo.Client(hc, 0).Do(req)
		if err != nil {
			return "", fmt.Errorf("asking GitHub Actions for the job's ID token: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxFederatedToken+1))
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("asking GitHub Actions for the job's ID token: HTTP %d", resp.StatusCode)
		}
		var answer struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return "", fmt.Errorf("GitHub Actions' ID token answer: %w", err)
		}
		return checkToken(answer.Value, "GitHub Actions' answer")
	}
}

// checkToken trims what was read and refuses what cannot be a JWT, with
// where it came from; the token itself is never in the message.
func checkToken(s, from string) (string, error) {
	if len(s) > maxFederatedToken {
		return "", fmt.Errorf("%s holds over %d bytes: not a token", from, maxFederatedToken)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w in %s", ErrNoFederatedToken, from)
	}
	if strings.Count(s, ".") != 2 {
		return "", fmt.Errorf("%s does not hold a JWT", from)
	}
	return s, nil
}
