package main

import (
	"context"
	"net/http"

	"github.com/spf13/pflag"

	"github.com/tokenwright/tokenwright/pkg/client"
)

// federatedFlags choose where `token` and `proxy` read a federated token
// (a CI job's or a workload's own OIDC token) to exchange instead of
// sending an API key: workload identity federation, docs/federation.md.
type federatedFlags struct {
	file          string
	githubActions bool
	gitlabCI      bool
	gitlabVar     string
}

func (f *federatedFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.file, "federated-token-file", "", "exchange the OIDC token in this file (re-read at every request) instead of an API key; e.g. a Kubernetes projected service-account token")
	fs.BoolVar(&f.githubActions, "github-actions", false, "exchange this GitHub Actions job's OIDC token (needs permissions: id-token: write; its audience is the tokenwright server URL)")
	fs.BoolVar(&f.gitlabCI, "gitlab-ci", false, "exchange this GitLab CI job's ID token, from the variable --gitlab-id-token-variable names")
	fs.StringVar(&f.gitlabVar, "gitlab-id-token-variable", "TOKENWRIGHT_ID_TOKEN", "with --gitlab-ci: the job's id_tokens: entry holding the token")
}

// source returns the chosen token source, or nil when none was chosen (an
// API key is used). More than one is a usage error.
func (f *federatedFlags) source(getenv env, hc *http.Client, issuer string) (func(context.Context) (string, error), error) {
	n := 0
	for _, on := range []bool{f.file != "", f.githubActions, f.gitlabCI} {
		if on {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, usageErrorf("--federated-token-file, --github-actions and --gitlab-ci: give one")
	case f.file != "":
		return client.FederatedTokenFile(f.file), nil
	case f.githubActions:
		return client.GitHubActionsToken(getenv.Get, hc, issuer), nil
	case f.gitlabCI:
		return client.GitLabCIToken(getenv.Get, f.gitlabVar), nil
	}
	return nil, nil
}
