// Package client is the Go SDK for tokenwright: a typed client for the admin
// REST API, and TokenSource for scripts that exchange an API key for JWTs.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/pkg/buildinfo"
)

// Client calls the admin API with a personal access token.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the server at serverURL (e.g. https://idp.example.com).
func New(serverURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(serverURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("client: server URL must be absolute, got %q", serverURL)
	}
	// A copy whose requests say User-Agent: tokenwright/VERSION.
	return &Client{base: u, token: token, http: buildinfo.Client(httpClient, 30*time.Second)}, nil
}

// APIError is a non-2xx answer from the server, with the same stable code
// the server uses: errors.As(err, &apiErr) && apiErr.Code == api.CodeNotFound.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// IsNotFound reports whether err is the API's not_found.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == api.CodeNotFound
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_error", strings.TrimSpace(string(data))
		}
		return e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("client: decoding %s %s: %w", method, path, err)
		}
	}
	return nil
}

func p(parts ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1")
	for _, s := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// CreateServiceAccount creates an account.
func (c *Client) CreateServiceAccount(ctx context.Context, in api.CreateServiceAccount) (api.ServiceAccount, error) {
	var out api.ServiceAccount
	return out, c.do(ctx, http.MethodPost, p("service-accounts"), nil, in, &out)
}

// ListServiceAccounts lists the accounts the caller may see.
func (c *Client) ListServiceAccounts(ctx context.Context) ([]api.ServiceAccount, error) {
	var out api.List[api.ServiceAccount]
	return out.Items, c.do(ctx, http.MethodGet, p("service-accounts"), nil, nil, &out)
}

// GetServiceAccount returns one account.
func (c *Client) GetServiceAccount(ctx context.Context, name string) (api.ServiceAccount, error) {
	var out api.ServiceAccount
	return out, c.do(ctx, http.MethodGet, p("service-accounts", name), nil, nil, &out)
}

// CreateKey issues a key; the secret is in the result and nowhere else.
func (c *Client) CreateKey(ctx context.Context, account string, in api.CreateKey) (api.KeyWithSecret, error) {
	var out api.KeyWithSecret
	return out, c.do(ctx, http.MethodPost, p("service-accounts", account, "keys"), nil, in, &out)
}

// ListKeys lists an account's keys.
func (c *Client) ListKeys(ctx context.Context, account string) ([]api.Key, error) {
	return c.ListKeysByStatus(ctx, account, "")
}

// ListKeysByStatus lists an account's keys with status (api.KeyActive,
// api.KeyExpiringSoon, ...; "" for all). The server filters, so a status
// means what it means in the API.
func (c *Client) ListKeysByStatus(ctx context.Context, account, status string) ([]api.Key, error) {
	var out api.List[api.Key]
	return out.Items, c.do(ctx, http.MethodGet, p("service-accounts", account, "keys"), statusQuery(status), nil, &out)
}

// statusQuery is ?status=status, or no query for "".
func statusQuery(status string) url.Values {
	v := url.Values{}
	if status != "" {
		v.Set("status", status)
	}
	return v
}

// AuditQuery filters ListAudit.
type AuditQuery struct {
	Actor, Action, Target, Before string
	Since, Until                  time.Time
	Limit                         int
}

// ListAudit lists audit events, newest first.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) ([]api.AuditEvent, error) {
	v := url.Values{}
	for k, s := range map[string]string{"actor": q.Actor, "action": q.Action, "target": q.Target, "before": q.Before} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	var out api.List[api.AuditEvent]
	return out.Items, c.do(ctx, http.MethodGet, p("audit"), v, nil, &out)
}

// UpdateServiceAccount changes an account's settings.
func (c *Client) UpdateServiceAccount(ctx context.Context, name string, in api.UpdateServiceAccount) (api.ServiceAccount, error) {
	var out api.ServiceAccount
	return out, c.do(ctx, http.MethodPatch, p("service-accounts", name), nil, in, &out)
}

// SetServiceAccountActive activates or deactivates an account.
func (c *Client) SetServiceAccountActive(ctx context.Context, name string, active bool) (api.ServiceAccount, error) {
	action := ":deactivate"
	if active {
		action = ":activate"
	}
	var out api.ServiceAccount
	return out, c.do(ctx, http.MethodPost, p("service-accounts", name)+action, nil, nil, &out)
}

// DeleteServiceAccount deletes an account and its keys.
func (c *Client) DeleteServiceAccount(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, p("service-accounts", name), nil, nil, nil)
}

// AddOwner lets user manage the account's keys.
func (c *Client) AddOwner(ctx context.Context, account, user string) (api.ServiceAccount, error) {
	var out api.ServiceAccount
	return out, c.do(ctx, http.MethodPost, p("service-accounts", account, "owners"), nil, api.Owner{UserName: user}, &out)
}

// RemoveOwner ends user's delegation.
func (c *Client) RemoveOwner(ctx context.Context, account, user string) (api.ServiceAccount, error) {
	var out api.ServiceAccount
	return out, c.do(ctx, http.MethodDelete, p("service-accounts", account, "owners", user), nil, nil, &out)
}

// GetKey returns one key.
func (c *Client) GetKey(ctx context.Context, account, id string) (api.Key, error) {
	var out api.Key
	return out, c.do(ctx, http.MethodGet, p("service-accounts", account, "keys", id), nil, nil, &out)
}

// RevokeKey revokes a key.
func (c *Client) RevokeKey(ctx context.Context, account, id string) (api.Key, error) {
	var out api.Key
	return out, c.do(ctx, http.MethodPost, p("service-accounts", account, "keys", id)+":revoke", nil, nil, &out)
}

// RevokeAllKeys revokes every key of an account.
func (c *Client) RevokeAllKeys(ctx context.Context, account string) (int, error) {
	var out api.RevokeAllResult
	return out.Revoked, c.do(ctx, http.MethodPost, p("service-accounts", account, "keys")+":revokeAll", nil, nil, &out)
}

// RotateKey issues a new secret; grace nil means the server default (24 h).
func (c *Client) RotateKey(ctx context.Context, account, id string, grace *time.Duration) (api.KeyWithSecret, error) {
	var in api.RotateKey
	if grace != nil {
		secs := int64(grace.Seconds())
		in.GracePeriod = &secs
	}
	var out api.KeyWithSecret
	return out, c.do(ctx, http.MethodPost, p("service-accounts", account, "keys", id)+":rotate", nil, in, &out)
}

// DeleteKey deletes a key.
func (c *Client) DeleteKey(ctx context.Context, account, id string) error {
	return c.do(ctx, http.MethodDelete, p("service-accounts", account, "keys", id), nil, nil, nil)
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, in api.CreateUser) (api.User, error) {
	var out api.User
	return out, c.do(ctx, http.MethodPost, p("users"), nil, in, &out)
}

// ListUsers lists users.
func (c *Client) ListUsers(ctx context.Context) ([]api.User, error) {
	var out api.List[api.User]
	return out.Items, c.do(ctx, http.MethodGet, p("users"), nil, nil, &out)
}

// GetUser returns a user ("me" for the caller).
func (c *Client) GetUser(ctx context.Context, name string) (api.User, error) {
	var out api.User
	return out, c.do(ctx, http.MethodGet, p("users", name), nil, nil, &out)
}

// UpdateUser changes a user; changing roles revokes their PATs.
func (c *Client) UpdateUser(ctx context.Context, name string, in api.UpdateUser) (api.User, error) {
	var out api.User
	return out, c.do(ctx, http.MethodPatch, p("users", name), nil, in, &out)
}

// DeleteUser deletes a user and their PATs.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, p("users", name), nil, nil, nil)
}

// CreatePAT creates a personal access token for user ("me" for the caller).
func (c *Client) CreatePAT(ctx context.Context, user string, in api.CreateKey) (api.KeyWithSecret, error) {
	var out api.KeyWithSecret
	return out, c.do(ctx, http.MethodPost, p("users", user, "tokens"), nil, in, &out)
}

// ListPATs lists a user's personal access tokens, newest first; user ""
// lists everyone's (administrators). It follows the pages to the end.
func (c *Client) ListPATs(ctx context.Context, user string) ([]api.Key, error) {
	return c.ListPATsByStatus(ctx, user, "")
}

// ListPATsByStatus is ListPATs for the tokens with status only ("" for
// all); the server filters.
func (c *Client) ListPATsByStatus(ctx context.Context, user, status string) ([]api.Key, error) {
	all := []api.Key{}
	before := ""
	for {
		page, err := c.ListPATsPage(ctx, user, PageQuery{Before: before, Limit: MaxPageSize, Status: status})
		all = append(all, page...)
		if err != nil || len(page) < MaxPageSize {
			return all, err
		}
		before = page[len(page)-1].ID
	}
}

// MaxPageSize is the largest page the server returns.
const MaxPageSize = 1000

// PageQuery selects one page of a list: at most Limit items (0: the
// server's default, 100) after the item whose id is Before ("" for the
// first page), of those with Status ("" for all; the server filters before
// it cuts the page).
type PageQuery struct {
	Before string
	Limit  int
	Status string
}

// ListPATsPage returns one page of personal access tokens (see ListPATs);
// a page shorter than the limit is the last.
func (c *Client) ListPATsPage(ctx context.Context, user string, q PageQuery) ([]api.Key, error) {
	path := p("tokens")
	if user != "" {
		path = p("users", user, "tokens")
	}
	v := statusQuery(q.Status)
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	var out api.List[api.Key]
	return out.Items, c.do(ctx, http.MethodGet, path, v, nil, &out)
}

// RevokePAT revokes a personal access token.
func (c *Client) RevokePAT(ctx context.Context, user, id string) (api.Key, error) {
	var out api.Key
	return out, c.do(ctx, http.MethodPost, p("users", user, "tokens", id)+":revoke", nil, nil, &out)
}

// RevokeAllPATs revokes all of a user's personal access tokens.
func (c *Client) RevokeAllPATs(ctx context.Context, user string) (int, error) {
	var out api.RevokeAllResult
	return out.Revoked, c.do(ctx, http.MethodPost, p("users", user, "tokens")+":revokeAll", nil, nil, &out)
}

// DeletePAT deletes a personal access token.
func (c *Client) DeletePAT(ctx context.Context, user, id string) error {
	return c.do(ctx, http.MethodDelete, p("users", user, "tokens", id), nil, nil, nil)
}

// ListSigningKeys lists the JWT signing keys, newest first (administrators).
func (c *Client) ListSigningKeys(ctx context.Context) ([]api.SigningKey, error) {
	var out api.List[api.SigningKey]
	return out.Items, c.do(ctx, http.MethodGet, p("signing-keys"), nil, nil, &out)
}

// RotateSigningKey publishes a new signing key (administrators).
func (c *Client) RotateSigningKey(ctx context.Context, in api.RotateSigningKey) (api.SigningKey, error) {
	var out api.SigningKey
	return out, c.do(ctx, http.MethodPost, p("signing-keys")+":rotate", nil, in, &out)
}

// RemoveSigningKey removes a pending or retired signing key at once.
func (c *Client) RemoveSigningKey(ctx context.Context, kid string) error {
	return c.do(ctx, http.MethodDelete, p("signing-keys", kid), nil, nil, nil)
}
