package api

import "time"

// CreateFederationRule is the body of POST
// /api/v1/service-accounts/{name}/federation.
type CreateFederationRule struct {
	Name string `json:"name"`
	// Issuer is the foreign issuer's URL, exactly as its tokens' iss.
	Issuer string `json:"issuer"`
	// Audience the foreign tokens must carry; empty: tokenwright's issuer.
	Audience string                 `json:"audience,omitempty"`
	Subject  string                 `json:"subject,omitempty"`
	Claims   map[string]ClaimValues `json:"claims,omitempty"`
	// Condition is a CEL expression over the map claims.
	Condition string `json:"condition,omitempty"`
	// JWKSURI overrides the keys named by the issuer's discovery.
	JWKSURI string `json:"jwksUri,omitempty"`
	// MaxTokenAge in seconds bounds the foreign token's iat; 0: no bound.
	MaxTokenAge     int64    `json:"maxTokenAge,omitempty"`
	AllowMissingJTI bool     `json:"allowMissingJti,omitempty"`
	AllowedScopes   []string `json:"allowedScopes,omitempty"`
	// AllowedAudiences narrow the account's (empty: the account's).
	AllowedAudiences []string `json:"allowedAudiences,omitempty"`
}

// FederationRule as returned by the API.
type FederationRule struct {
	ID               string                 `json:"id"`
	Account          string                 `json:"account"`
	Name             string                 `json:"name"`
	Issuer           string                 `json:"issuer"`
	Audience         string                 `json:"audience"`
	Subject          string                 `json:"subject,omitempty"`
	Claims           map[string]ClaimValues `json:"claims"`
	Condition        string                 `json:"condition,omitempty"`
	JWKSURI          string                 `json:"jwksUri,omitempty"`
	MaxTokenAge      int64                  `json:"maxTokenAge,omitempty"` // seconds
	AllowMissingJTI  bool                   `json:"allowMissingJti"`
	AllowedScopes    []string               `json:"allowedScopes"`
	AllowedAudiences []string               `json:"allowedAudiences"`
	CreatedAt        time.Time              `json:"createdAt"`
	CreatedBy        string                 `json:"createdBy,omitempty"`
	LastUsedAt       *time.Time             `json:"lastUsedAt"`
}
