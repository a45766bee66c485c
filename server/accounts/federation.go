package accounts

import (
	"context"
	"errors"
	"slices"

	"github.com/tokenwright/tokenwright/server/federation"
	"github.com/tokenwright/tokenwright/store"
)

// CreateFederationRule adds a federation rule to a service account: who
// may manage its keys (administrators, owners) may manage its rules, as a
// rule is a credential too. in's ID, Account, CreatedAt, CreatedBy and
// LastUsedAt are set here; federation.ValidateRule checks the rest and
// defaults the audience to tokenwright's issuer; AllowedScopes and
// AllowedAudiences may only narrow the account's, like a key's.
func (s *Service) CreateFederationRule(ctx context.Context, actor Actor, account string, in store.FederationRule) (r store.FederationRule, err error) {
	act := s.begin(actor, "federation.create", account, map[string]string{"name": in.Name, "issuer": in.Issuer})
	defer func() { act.finish(ctx, err) }()
	sa, err := s.GetServiceAccount(ctx, actor, account)
	if err != nil {
		return r, err
	}
	r = in
	r.ID, r.Account, r.CreatedAt, r.CreatedBy, r.LastUsedAt = newID(), sa.Name, s.now().UTC(), actor.Name(), nil
	if err := federation.ValidateRule(&r, s.policy.Issuer); err != nil {
		var re *federation.RuleError
		if errors.As(err, &re) {
			return r, &ValidationError{Field: re.Field, Message: re.Message}
		}
		return r, err
	}
	reach, err := s.ownerReach(&sa, nil).narrowing(in.AllowedScopes, in.AllowedAudiences, nil)
	if err != nil {
		var verr *ValidationError
		if errors.As(err, &verr) {
			// The rule's fields have the names of the account's lists.
			field := map[string]string{"scopes": "allowedScopes", "audiences": "allowedAudiences"}[verr.Field]
			return r, &ValidationError{Field: field, Message: verr.Message}
		}
		return r, err
	}
	r.AllowedScopes, r.AllowedAudiences = slices.Clone(reach.keyScopes), slices.Clone(reach.keyAudiences)
	act.details["ruleId"] = r.ID
	if err := s.store.CreateFederationRule(act.change(ctx), r); err != nil {
		return r, err
	}
	return r, nil
}

// ListFederationRules lists an account's rules (administrators, owners).
func (s *Service) ListFederationRules(ctx context.Context, actor Actor, account string) ([]store.FederationRule, error) {
	if _, err := s.GetServiceAccount(ctx, actor, account); err != nil {
		return nil, err
	}
	return s.store.ListFederationRules(ctx, account)
}

// GetFederationRule returns one rule of an account (administrators, owners).
func (s *Service) GetFederationRule(ctx context.Context, actor Actor, account, id string) (store.FederationRule, error) {
	if _, err := s.GetServiceAccount(ctx, actor, account); err != nil {
		return store.FederationRule{}, err
	}
	return s.store.GetFederationRule(ctx, account, id)
}

// DeleteFederationRule removes a rule: its issuer's tokens no longer act
// as the account from the moment the API answers.
func (s *Service) DeleteFederationRule(ctx context.Context, actor Actor, account, id string) (err error) {
	act := s.begin(actor, "federation.delete", account, map[string]string{"ruleId": id})
	defer func() { act.finish(ctx, err) }()
	r, err := s.GetFederationRule(ctx, actor, account, id)
	if err != nil {
		return err
	}
	act.details["name"], act.details["issuer"] = r.Name, r.Issuer
	return s.store.DeleteFederationRule(act.change(ctx), account, id)
}
