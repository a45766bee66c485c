package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/duration"
)

// Issuers the presets assume unless --issuer names another (GitHub
// Enterprise Server, a self-managed GitLab).
const (
	githubActionsIssuer = "https://token.actions.githubusercontent.com"
	gitlabIssuer        = "https://gitlab.com"
	// githubAPI is where --github-repo looks up the repository's ids;
	// TOKENWRIGHT_GITHUB_API replaces it (tests, GitHub Enterprise Server).
	githubAPI = "https://api.github.com"
)

// noJTIMaxAge is the max token age the Kubernetes and SPIFFE presets set
// when --max-token-age is not given. Their tokens may lack jti (Kubernetes
// before 1.29's ServiceAccountTokenJTI; SPIFFE JWT-SVIDs, whose spec does
// not require it), so the rule allows that, and only the age then bounds
// how long a copied token can be exchanged. An hour is the Kubernetes
// default expirationSeconds, which the kubelet refreshes at 80 %.
const noJTIMaxAge = time.Hour

// federationFlags are the flags of `sa federation add`.
type federationFlags struct {
	name, issuer, audience, subject, condition, jwksURI, maxTokenAge string
	claims                                                           []string
	allowMissingJTI                                                  bool
	scopes, audiences                                                []string

	githubRepo, githubRepoID, githubOwnerID, ref, environment string
	gitlabProject                                             string
	protected                                                 bool
	kubernetesSA, spiffeID                                    string
}

// presetsUsed lists the presets given (at most one may be).
func (f *federationFlags) presetsUsed() []string {
	var used []string
	for flag, v := range map[string]string{"--github-repo": f.githubRepo, "--gitlab-project": f.gitlabProject,
		"--kubernetes-service-account": f.kubernetesSA, "--spiffe-id": f.spiffeID} {
		if v != "" {
			used = append(used, flag)
		}
	}
	return used
}

// rule builds the API request from the flags: the preset's issuer,
// subject and pinned claims first, then what the flags add (--claim
// values join a preset's; --subject, --audience and --jwks-uri replace).
// lookupRepo resolves a GitHub repository's ids when they are not given.
func (f *federationFlags) rule(ctx context.Context, lookupRepo func(ctx context.Context, ownerName string) (githubRepo, error)) (api.CreateFederationRule, error) {
	in := api.CreateFederationRule{Name: f.name, Issuer: f.issuer, Audience: f.audience, Subject: f.subject,
		Condition: f.condition, JWKSURI: f.jwksURI, AllowMissingJTI: f.allowMissingJTI,
		AllowedScopes: f.scopes, AllowedAudiences: f.audiences, Claims: map[string]api.ClaimValues{}}
	pin := func(k string, v ...string) { in.Claims[k] = append(in.Claims[k], v...) }
	if used := f.presetsUsed(); len(used) > 1 {
		return in, usageErrorf("%s cannot be combined: one preset per rule", strings.Join(used, " and "))
	}
	if (f.ref != "" || f.environment != "") && f.githubRepo == "" && f.gitlabProject == "" {
		return in, usageErrorf("--ref and --environment go with --github-repo or --gitlab-project")
	}
	if f.protected && f.gitlabProject == "" {
		return in, usageErrorf("--protected goes with --gitlab-project")
	}
	if (f.githubRepoID != "" || f.githubOwnerID != "") && f.githubRepo == "" {
		return in, usageErrorf("--github-repository-id and --github-owner-id go with --github-repo")
	}
	defaultAge := time.Duration(0)
	switch {
	case f.githubRepo != "":
		// One issuer serves every repository on github.com: the rule pins
		// the numeric ids, which stay with the repository and its owner,
		// because a name can be deleted and registered again by anyone.
		owner, name, ok := strings.Cut(f.githubRepo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return in, usageErrorf("--github-repo must be OWNER/NAME, got %q", f.githubRepo)
		}
		repo := githubRepo{FullName: f.githubRepo, ID: f.githubRepoID, OwnerID: f.githubOwnerID}
		if repo.ID == "" || repo.OwnerID == "" {
			found, err := lookupRepo(ctx, f.githubRepo)
			if err != nil {
				return in, err
			}
			if repo.ID != "" && repo.ID != found.ID || repo.OwnerID != "" && repo.OwnerID != found.OwnerID {
				return in, fmt.Errorf("GitHub says %s has repository id %s and owner id %s, not the ids given", found.FullName, found.ID, found.OwnerID)
			}
			repo = found
		}
		for flag, id := range map[string]string{"--github-repository-id": repo.ID, "--github-owner-id": repo.OwnerID} {
			if _, err := strconv.ParseUint(id, 10, 64); err != nil {
				return in, usageErrorf("%s must be a number, got %q", flag, id)
			}
		}
		in.Issuer = firstOf(in.Issuer, githubActionsIssuer)
		pin("repository_id", repo.ID)
		pin("repository_owner_id", repo.OwnerID)
		pin("repository", repo.FullName) // for the reader: the ids decide
		if f.ref != "" {
			pin("ref", githubRef(f.ref))
		}
		if f.environment != "" {
			pin("environment", f.environment)
		}
	case f.gitlabProject != "":
		// project_id, not project_path: a path can be taken over by
		// another project after a rename or deletion.
		if _, err := strconv.ParseUint(f.gitlabProject, 10, 64); err != nil {
			return in, usageErrorf("--gitlab-project must be the project's numeric ID (Settings > General), got %q", f.gitlabProject)
		}
		in.Issuer = firstOf(in.Issuer, gitlabIssuer)
		pin("project_id", f.gitlabProject)
		if f.ref != "" {
			pin("ref", f.ref)
		}
		if f.environment != "" {
			pin("environment", f.environment)
		}
		if f.protected {
			pin("ref_protected", "true")
		}
	case f.kubernetesSA != "":
		ns, name, ok := strings.Cut(f.kubernetesSA, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return in, usageErrorf("--kubernetes-service-account must be NAMESPACE/NAME, got %q", f.kubernetesSA)
		}
		if in.Issuer == "" {
			return in, usageErrorf("--kubernetes-service-account needs --issuer: the cluster's service-account issuer (kubectl get --raw /.well-known/openid-configuration | jq -r .issuer)")
		}
		in.Subject = firstOf(in.Subject, "system:serviceaccount:"+ns+":"+name)
		in.AllowMissingJTI, defaultAge = true, noJTIMaxAge
	case f.spiffeID != "":
		if !strings.HasPrefix(f.spiffeID, "spiffe://") {
			return in, usageErrorf("--spiffe-id must be a SPIFFE ID (spiffe://TRUST-DOMAIN/PATH), got %q", f.spiffeID)
		}
		if in.Issuer == "" {
			return in, usageErrorf("--spiffe-id needs --issuer: the issuer of the trust domain's JWT-SVIDs (and --jwks-uri for its bundle endpoint if it serves no discovery)")
		}
		in.Subject = firstOf(in.Subject, f.spiffeID)
		in.AllowMissingJTI, defaultAge = true, noJTIMaxAge
	default:
		if in.Issuer == "" {
			return in, usageErrorf("--issuer is required (or a preset: --github-repo, --gitlab-project, --kubernetes-service-account, --spiffe-id)")
		}
	}
	for _, c := range f.claims {
		k, v, ok := strings.Cut(c, "=")
		if !ok || k == "" {
			return in, usageErrorf("--claim must be KEY=VALUE, got %q", c)
		}
		pin(k, v)
	}
	if len(in.Claims) == 0 {
		in.Claims = nil
	}
	if f.maxTokenAge != "" {
		d, err := duration.Parse(f.maxTokenAge)
		if err != nil {
			return in, usageErrorf("--max-token-age: %w", err)
		}
		if d%time.Second != 0 || d < 0 {
			return in, usageErrorf("--max-token-age must be whole seconds, got %s", d)
		}
		in.MaxTokenAge = int64(d / time.Second)
	} else {
		in.MaxTokenAge = int64(defaultAge / time.Second)
	}
	return in, nil
}

// githubRef is --ref as GitHub's ref claim writes it: a branch name
// becomes refs/heads/NAME; a full ref (refs/tags/v1) stays.
func githubRef(ref string) string {
	if strings.HasPrefix(ref, "refs/") {
		return ref
	}
	return "refs/heads/" + ref
}

// githubRepo is what --github-repo pins.
type githubRepo struct {
	FullName    string // OWNER/NAME as GitHub spells it
	ID, OwnerID string
}

// errRepoMoved is a repository lookup GitHub answered with a redirect:
// the name now belongs to a renamed or transferred repository, and the
// ids to pin are a person's decision, not the CLI's.
var errRepoMoved = errors.New("GitHub redirects this name to another repository (renamed or transferred): give the intended repository's name, or its ids with --github-repository-id and --github-owner-id")

// lookupGitHubRepo asks the GitHub API (base, or TOKENWRIGHT_GITHUB_API)
// for a repository's ids, once, at rule creation: GET /repos/OWNER/NAME,
// with GITHUB_TOKEN as bearer when set (private repositories). No
// redirect is followed (see errRepoMoved); the answer is bounded.
func lookupGitHubRepo(getenv env) func(ctx context.Context, ownerName string) (githubRepo, error) {
	return func(ctx context.Context, ownerName string) (githubRepo, error) {
		base := strings.TrimSuffix(firstOf(getenv.Get("TOKENWRIGHT_GITHUB_API"), githubAPI), "/")
		u, err := url.Parse(base)
		if err != nil || u.Host == "" || u.Scheme != "https" && !(u.Scheme == "http" && loopbackHostname(u.Hostname())) {
			return githubRepo{}, fmt.Errorf("TOKENWRIGHT_GITHUB_API must be an https URL (http only for loopback), got %q", base)
		}
		owner, name, _ := strings.Cut(ownerName, "/")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name), nil)
		if err != nil {
			return githubRepo{}, err
		}
		req.Header.Set("Accept", "application/vnd.github+json")
		if tok := getenv.Get("GITHUB_TOKEN"); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		hc := &http.Client{Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := hc.Do(req)
		if err != nil {
			return githubRepo{}, fmt.Errorf("looking up %s on GitHub (or give --github-repository-id and --github-owner-id): %w", ownerName, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return githubRepo{}, fmt.Errorf("looking up %s on GitHub: %w", ownerName, err)
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			return githubRepo{}, fmt.Errorf("%s: %w", ownerName, errRepoMoved)
		case resp.StatusCode == http.StatusNotFound:
			return githubRepo{}, fmt.Errorf("GitHub knows no repository %s (a private one needs GITHUB_TOKEN, or give --github-repository-id and --github-owner-id)", ownerName)
		case resp.StatusCode != http.StatusOK:
			return githubRepo{}, fmt.Errorf("looking up %s on GitHub: HTTP %d (give --github-repository-id and --github-owner-id instead)", ownerName, resp.StatusCode)
		}
		var r struct {
			ID       json.Number `json:"id"`
			FullName string      `json:"full_name"`
			Owner    struct {
				ID json.Number `json:"id"`
			} `json:"owner"`
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil || r.ID == "" || r.Owner.ID == "" {
			return githubRepo{}, fmt.Errorf("looking up %s on GitHub: the answer has no repository and owner id", ownerName)
		}
		if !strings.EqualFold(r.FullName, ownerName) {
			return githubRepo{}, fmt.Errorf("%s: GitHub answered for %s: %w", ownerName, r.FullName, errRepoMoved)
		}
		return githubRepo{FullName: r.FullName, ID: r.ID.String(), OwnerID: r.Owner.ID.String()}, nil
	}
}

// loopbackHostname reports whether host is localhost or a loopback address.
func loopbackHostname(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "localhost" || err == nil && a.IsLoopback()
}
