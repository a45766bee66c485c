package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

func (a *API) createServiceAccount(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.CreateServiceAccount
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	sa, err := a.accounts.CreateServiceAccount(r.Context(), actor, accounts.NewServiceAccount{
		Name: in.UserName, Email: in.Email, NotesName: in.NotesName, Description: in.Description,
		Roles: in.Roles, Owners: in.Owners, AllowedScopes: in.AllowedScopes, AllowedAudiences: in.AllowedAudiences,
		AllowedCIDRs: in.AllowedCIDRs, TokenLifetime: seconds(in.TokenLifetime),
		Profile: in.Profile, TokenType: in.TokenType, AudienceFormat: in.AudienceFormat,
		Claims: in.Claims, Permissions: in.Permissions,
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, serviceAccountJSON(sa), nil
}

func (a *API) listServiceAccounts(r *http.Request, actor accounts.Actor) (int, any, error) {
	all, err := a.accounts.ListServiceAccounts(r.Context(), actor)
	if err != nil {
		return 0, nil, err
	}
	out := api.List[api.ServiceAccount]{Items: make([]api.ServiceAccount, 0, len(all))}
	for _, sa := range all {
		out.Items = append(out.Items, serviceAccountJSON(sa))
	}
	return http.StatusOK, out, nil
}

func (a *API) getServiceAccount(r *http.Request, actor accounts.Actor) (int, any, error) {
	sa, err := a.accounts.GetServiceAccount(r.Context(), actor, mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, serviceAccountJSON(sa), nil
}

func (a *API) createKey(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.CreateKey
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	nk := accounts.NewKey{Name: in.Name, Description: in.Description, Never: in.NeverExpires,
		Scopes: in.Scopes, Audiences: in.Audiences, CIDRs: in.CIDRs, PublicKey: in.PublicKey}
	if in.ExpiresIn != nil {
		d := seconds(*in.ExpiresIn)
		nk.ExpiresIn = &d
	}
	k, secret, err := a.accounts.CreateKey(r.Context(), actor, mux.Vars(r)["name"], nk)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, api.KeyWithSecret{Key: a.keyJSON(k), ClientSecret: secret}, nil
}

func (a *API) listKeys(r *http.Request, actor accounts.Actor) (int, any, error) {
	keys, err := a.accounts.ListKeys(r.Context(), actor, mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.filterStatus(r, keys), nil
}

func (a *API) listAudit(r *http.Request, actor accounts.Actor) (int, any, error) {
	q := r.URL.Query()
	query := store.AuditQuery{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Before: q.Get("before")}
	for name, dst := range map[string]*time.Time{"since": &query.Since, "until": &query.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return 0, nil, &accounts.ValidationError{Field: name, Message: "must be an RFC 3339 time"}
			}
			*dst = t
		}
	}
	if q.Get("limit") != "" {
		n, err := pageLimit(r)
		if err != nil {
			return 0, nil, err
		}
		query.Limit = n
	}
	events, err := a.accounts.Audit(r.Context(), actor, query)
	if err != nil {
		return 0, nil, err
	}
	items := make([]api.AuditEvent, len(events))
	for i, e := range events {
		items[i] = auditJSON(e)
	}
	return http.StatusOK, api.List[api.AuditEvent]{Items: items}, nil
}

// auditJSON is the wire form of a stored audit event.
func auditJSON(e store.AuditEvent) api.AuditEvent {
	return api.AuditEvent{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target,
		SourceIP: e.SourceIP, Result: e.Result, Details: e.Details}
}

// defaultPageSize and maxPageSize are the paged lists' (audit, tokens)
// ?limit default and bound.
const defaultPageSize, maxPageSize = 100, 1000

// pageLimit reads ?limit (1-1000; absent: 100).
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, &accounts.ValidationError{Field: "limit", Message: "must be between 1 and 1000"}
	}
	return n, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func serviceAccountJSON(sa store.ServiceAccount) api.ServiceAccount {
	tokenType, audienceFormat := accounts.TokenShape(&sa)
	return api.ServiceAccount{
		TokenType: tokenType, AudienceFormat: audienceFormat,
		ID: sa.ID, UserName: sa.Name, Email: sa.Email, NotesName: sa.NotesName, Description: sa.Description,
		Roles: nonNil(sa.Roles), Owners: nonNil(sa.Owners), AllowedScopes: nonNil(sa.AllowedScopes),
		AllowedAudiences: nonNil(sa.AllowedAudiences), AllowedCIDRs: nonNil(sa.AllowedCIDRs),
		TokenLifetime: int64(sa.TokenLifetime / time.Second), Profile: sa.Profile, Claims: sa.Claims,
		Permissions: nonNil(sa.Permissions),
		Status:      string(sa.Status), CreatedAt: sa.CreatedAt, CreatedBy: sa.CreatedBy, UpdatedAt: sa.UpdatedAt,
	}
}

func (a *API) keyJSON(k store.Key) api.Key {
	status := a.accounts.KeyStatus(k)
	out := api.Key{
		ID: k.ID, Name: k.Name, Description: k.Description, ClientID: k.Owner, Kind: string(k.Kind),
		Roles: nonNil(k.Roles), Scopes: nonNil(k.Scopes), Audiences: nonNil(k.Audiences), CIDRs: nonNil(k.CIDRs),
		CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, ExpiresAt: timePtr(k.ExpiresAt),
		LastUsedAt: timePtr(k.LastUsedAt), LastUsedIP: k.LastUsedIP, RotatedAt: timePtr(k.RotatedAt),
		RevokedAt: timePtr(k.RevokedAt), Status: string(status),
		IsValid:    status.Usable(),
		AuthMethod: "client_secret", PublicKey: accounts.PublicKeyOf(k),
	}
	if out.PublicKey != nil {
		out.AuthMethod = "private_key_jwt"
	}
	if !k.PreviousExpiresAt.IsZero() && len(k.PreviousSecretHash) > 0 {
		out.PreviousSecretExpiresAt = timePtr(k.PreviousExpiresAt)
	}
	return out
}
