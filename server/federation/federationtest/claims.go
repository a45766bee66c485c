package federationtest

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Lifetime is how long the minted claim sets are valid (exp - iat), about
// what GitHub and GitLab give a job's ID token.
const Lifetime = 5 * time.Minute

// The identities the claim sets describe, for tests that write rules
// matching them.
const (
	GitHubRepository      = "acme/deploy"
	GitHubRepositoryID    = "892374610"
	GitHubOwnerID         = "118237465"
	GitHubRef             = "refs/heads/main"
	GitLabProjectPath     = "acme/deploy"
	GitLabProjectID       = "4817"
	KubernetesNamespace   = "payments"
	KubernetesAccount     = "deployer"
	SPIFFEID              = "spiffe://acme.example/ns/payments/sa/deployer"
	kubernetesDefaultNode = "node-1"
)

// times returns the registered time claims, issued now and valid for
// Lifetime.
func (i *Issuer) times() (iat, nbf, exp int64) {
	now := i.now()
	return now.Unix(), now.Unix(), now.Add(Lifetime).Unix()
}

// GitHub is a GitHub Actions ID token's claim set for a push to main of
// GitHubRepository, with aud as given (a string or a []string), issued by
// this issuer. Change or delete entries to make the token a test needs.
func (i *Issuer) GitHub(aud any) map[string]any {
	iat, nbf, exp := i.times()
	return map[string]any{
		"jti": newJTI(), "iss": i.URL, "aud": aud, "iat": iat, "nbf": nbf, "exp": exp,
		"sub":                   "repo:" + GitHubRepository + ":ref:" + GitHubRef,
		"ref":                   GitHubRef,
		"ref_type":              "branch",
		"sha":                   "2f1a3b9c0d4e5f60718293a4b5c6d7e8f9012345",
		"repository":            GitHubRepository,
		"repository_id":         GitHubRepositoryID,
		"repository_owner":      "acme",
		"repository_owner_id":   GitHubOwnerID,
		"repository_visibility": "private",
		"run_id":                "7412398765",
		"run_number":            "42",
		"run_attempt":           "1",
		"actor":                 "octocat",
		"actor_id":              "583231",
		"workflow":              "deploy",
		"event_name":            "push",
		"job_workflow_ref":      GitHubRepository + "/.github/workflows/deploy.yml@" + GitHubRef,
		"runner_environment":    "github-hosted",
	}
}

// GitLab is a GitLab CI id_tokens entry's claim set for a pipeline on the
// protected branch main of GitLabProjectPath.
func (i *Issuer) GitLab(aud any) map[string]any {
	iat, nbf, exp := i.times()
	return map[string]any{
		"jti": newJTI(), "iss": i.URL, "aud": aud, "iat": iat, "nbf": nbf, "exp": exp,
		"sub":                   "project_path:" + GitLabProjectPath + ":ref_type:branch:ref:main",
		"namespace_id":          "1022",
		"namespace_path":        "acme",
		"project_id":            GitLabProjectID,
		"project_path":          GitLabProjectPath,
		"user_id":               "31",
		"user_login":            "deployer",
		"user_email":            "deployer@acme.example",
		"pipeline_id":           "99812",
		"pipeline_source":       "push",
		"job_id":                "551020",
		"ref":                   "main",
		"ref_type":              "branch",
		"ref_path":              "refs/heads/main",
		"ref_protected":         "true",
		"runner_id":             12,
		"runner_environment":    "gitlab-hosted",
		"sha":                   "714a629c0b401fdce83e847fc9589983fc6f46bc",
		"project_visibility":    "private",
		"ci_config_ref_uri":     "gitlab.example/" + GitLabProjectPath + "//.gitlab-ci.yml@refs/heads/main",
		"ci_config_sha":         "714a629c0b401fdce83e847fc9589983fc6f46bc",
		"deployment_tier":       "production",
		"environment":           "production",
		"environment_protected": "true",
	}
}

// Kubernetes is a projected service-account token's claim set for
// KubernetesNamespace/KubernetesAccount (bound to a pod, with the jti
// Kubernetes 1.29 and later add).
func (i *Issuer) Kubernetes(aud any) map[string]any {
	iat, nbf, exp := i.times()
	return map[string]any{
		"jti": newJTI(), "iss": i.URL, "aud": aud, "iat": iat, "nbf": nbf, "exp": exp,
		"sub": "system:serviceaccount:" + KubernetesNamespace + ":" + KubernetesAccount,
		"kubernetes.io": map[string]any{
			"namespace":      KubernetesNamespace,
			"node":           map[string]any{"name": kubernetesDefaultNode, "uid": "5f0e0a8b-7d2c-4b8e-9d57-2f7f0c1a9e11"},
			"pod":            map[string]any{"name": "deployer-7c9d8f6b5-x2x7q", "uid": "0b3c5a0e-31c4-4f1e-8d33-7f4c1e2a6d55"},
			"serviceaccount": map[string]any{"name": KubernetesAccount, "uid": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"},
			"warnafter":      iat + 60,
		},
	}
}

// SPIFFE is a JWT-SVID's claim set for SPIFFEID. JWT-SVIDs carry no jti.
func (i *Issuer) SPIFFE(aud any) map[string]any {
	iat, _, exp := i.times()
	return map[string]any{"iss": i.URL, "sub": SPIFFEID, "aud": aud, "iat": iat, "exp": exp}
}

func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	return hex.EncodeToString(b)
}
