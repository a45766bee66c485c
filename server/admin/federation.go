package admin

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// ruleVar is a federation rule's id.
const ruleVar = "{ruleId:[0-9A-Za-z]+}"

func (a *API) createFederationRule(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.CreateFederationRule
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	if in.MaxTokenAge < 0 || in.MaxTokenAge > maxTokenAgeSeconds {
		return 0, nil, &accounts.ValidationError{Field: "maxTokenAge", Message: "must be between 0 and 31536000 seconds"}
	}
	claims := make(map[string][]string, len(in.Claims))
	for k, v := range in.Claims {
		claims[k] = v
	}
	if len(claims) == 0 {
		claims = nil
	}
	rule, err := a.accounts.CreateFederationRule(r.Context(), actor, mux.Vars(r)["name"], store.FederationRule{
		Name: in.Name, Issuer: in.Issuer, Audience: in.Audience, Subject: in.Subject, Claims: claims,
		Condition: in.Condition, JWKSURI: in.JWKSURI, MaxTokenAge: seconds(in.MaxTokenAge),
		AllowMissingJTI: in.AllowMissingJTI, AllowedScopes: in.AllowedScopes, AllowedAudiences: in.AllowedAudiences,
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, federationRuleJSON(rule), nil
}

// maxTokenAgeSeconds (a year) keeps the seconds within a time.Duration.
const maxTokenAgeSeconds = 365 * 24 * 3600

func (a *API) listFederationRules(r *http.Request, actor accounts.Actor) (int, any, error) {
	rules, err := a.accounts.ListFederationRules(r.Context(), actor, mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	out := api.List[api.FederationRule]{Items: make([]api.FederationRule, 0, len(rules))}
	for _, fr := range rules {
		out.Items = append(out.Items, federationRuleJSON(fr))
	}
	return http.StatusOK, out, nil
}

func (a *API) getFederationRule(r *http.Request, actor accounts.Actor) (int, any, error) {
	v := mux.Vars(r)
	rule, err := a.accounts.GetFederationRule(r.Context(), actor, v["name"], v["ruleId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, federationRuleJSON(rule), nil
}

func (a *API) deleteFederationRule(r *http.Request, actor accounts.Actor) (int, any, error) {
	v := mux.Vars(r)
	if err := a.accounts.DeleteFederationRule(r.Context(), actor, v["name"], v["ruleId"]); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// federationRuleJSON is the wire form of a stored rule.
func federationRuleJSON(r store.FederationRule) api.FederationRule {
	claims := make(map[string]api.ClaimValues, len(r.Claims))
	for k, v := range r.Claims {
		claims[k] = nonNil(v)
	}
	return api.FederationRule{
		ID: r.ID, Account: r.Account, Name: r.Name, Issuer: r.Issuer, Audience: r.Audience, Subject: r.Subject,
		Claims: claims, Condition: r.Condition, JWKSURI: r.JWKSURI, MaxTokenAge: int64(r.MaxTokenAge / time.Second),
		AllowMissingJTI: r.AllowMissingJTI, AllowedScopes: nonNil(r.AllowedScopes),
		AllowedAudiences: nonNil(r.AllowedAudiences), CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		LastUsedAt: r.LastUsedAt,
	}
}
