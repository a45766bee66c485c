package client

import (
	"context"
	"net/http"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// CreateFederationRule adds a federation rule to a service account: tokens
// of the rule's issuer that satisfy it are exchanged for the account's.
func (c *Client) CreateFederationRule(ctx context.Context, account string, in api.CreateFederationRule) (api.FederationRule, error) {
	var out api.FederationRule
	return out, c.do(ctx, http.MethodPost, p("service-accounts", account, "federation"), nil, in, &out)
}

// ListFederationRules lists an account's federation rules.
func (c *Client) ListFederationRules(ctx context.Context, account string) ([]api.FederationRule, error) {
	var out api.List[api.FederationRule]
	return out.Items, c.do(ctx, http.MethodGet, p("service-accounts", account, "federation"), nil, nil, &out)
}

// GetFederationRule returns one federation rule of an account.
func (c *Client) GetFederationRule(ctx context.Context, account, id string) (api.FederationRule, error) {
	var out api.FederationRule
	return out, c.do(ctx, http.MethodGet, p("service-accounts", account, "federation", id), nil, nil, &out)
}

// DeleteFederationRule removes a federation rule.
func (c *Client) DeleteFederationRule(ctx context.Context, account, id string) error {
	return c.do(ctx, http.MethodDelete, p("service-accounts", account, "federation", id), nil, nil, nil)
}
