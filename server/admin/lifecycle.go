package admin

import (
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/tokenwright/tokenwright/pkg/api"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// --- service accounts ---

func (a *API) updateServiceAccount(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.UpdateServiceAccount
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	up := accounts.ServiceAccountUpdate{Email: in.Email, NotesName: in.NotesName, Description: in.Description,
		Roles: in.Roles, AddRoles: in.AddRoles, RemoveRoles: in.RemoveRoles, Owners: in.Owners,
		AllowedScopes: in.AllowedScopes, AllowedAudiences: in.AllowedAudiences, AllowedCIDRs: in.AllowedCIDRs,
		Profile: in.Profile, TokenType: in.TokenType, AudienceFormat: in.AudienceFormat,
		Claims: in.Claims, Permissions: in.Permissions}
	if in.TokenLifetime != nil {
		d := seconds(*in.TokenLifetime)
		up.TokenLifetime = &d
	}
	sa, err := a.accounts.UpdateServiceAccount(r.Context(), actor, mux.Vars(r)["name"], up)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, serviceAccountJSON(sa), nil
}

// seconds converts an API duration, mapping absurd values to -1 so that
// validation rejects them instead of overflowing.
func seconds(n int64) time.Duration {
	if n < 0 || n > int64(100*365*24*time.Hour/time.Second) {
		return -1
	}
	return time.Duration(n) * time.Second
}

func (a *API) deleteServiceAccount(r *http.Request, actor accounts.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.accounts.DeleteServiceAccount(r.Context(), actor, mux.Vars(r)["name"])
}

func (a *API) setStatus(status store.Status) handlerFunc {
	return func(r *http.Request, actor accounts.Actor) (int, any, error) {
		sa, err := a.accounts.SetServiceAccountStatus(r.Context(), actor, mux.Vars(r)["name"], status)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, serviceAccountJSON(sa), nil
	}
}

func (a *API) addOwner(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.Owner
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	sa, err := a.accounts.SetOwner(r.Context(), actor, mux.Vars(r)["name"], in.UserName, true)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, serviceAccountJSON(sa), nil
}

func (a *API) removeOwner(r *http.Request, actor accounts.Actor) (int, any, error) {
	sa, err := a.accounts.SetOwner(r.Context(), actor, mux.Vars(r)["name"], mux.Vars(r)["user"], false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, serviceAccountJSON(sa), nil
}

// --- keys ---

func (a *API) getKey(r *http.Request, actor accounts.Actor) (int, any, error) {
	k, err := a.accounts.GetKey(r.Context(), actor, mux.Vars(r)["name"], mux.Vars(r)["keyId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.keyJSON(k), nil
}

func (a *API) deleteKey(r *http.Request, actor accounts.Actor) (int, any, error) {
	v := mux.Vars(r)
	return http.StatusNoContent, nil, a.accounts.DeleteKey(r.Context(), actor, v["name"], v["keyId"])
}

func (a *API) revokeKey(r *http.Request, actor accounts.Actor) (int, any, error) {
	v := mux.Vars(r)
	k, err := a.accounts.RevokeKey(r.Context(), actor, v["name"], v["keyId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.keyJSON(k), nil
}

func (a *API) revokeAllKeys(r *http.Request, actor accounts.Actor) (int, any, error) {
	n, err := a.accounts.RevokeAllKeys(r.Context(), actor, mux.Vars(r)["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.RevokeAllResult{Revoked: n}, nil
}

func (a *API) rotateKey(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.RotateKey
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return 0, nil, err
		}
	}
	var grace *time.Duration
	if in.GracePeriod != nil {
		g := seconds(*in.GracePeriod)
		grace = &g
	}
	v := mux.Vars(r)
	k, secret, err := a.accounts.RotateKey(r.Context(), actor, v["name"], v["keyId"], grace)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.KeyWithSecret{Key: a.keyJSON(k), ClientSecret: secret}, nil
}

// --- users ---

func userJSON(u store.User) api.User {
	return api.User{ID: u.ID, UserName: u.Name, Email: u.Email, Roles: nonNil(u.Roles), Admin: u.Admin,
		AllowedScopes: nonNil(u.AllowedScopes), AllowedAudiences: nonNil(u.AllowedAudiences), AllowedCIDRs: nonNil(u.AllowedCIDRs),
		Status: string(u.Status), CreatedAt: u.CreatedAt, CreatedBy: u.CreatedBy, UpdatedAt: u.UpdatedAt}
}

// userVar resolves "me" to the caller.
func userVar(r *http.Request, actor accounts.Actor) string {
	if name := mux.Vars(r)["name"]; name != "me" {
		return name
	}
	return actor.Name()
}

func (a *API) createUser(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.CreateUser
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	u, err := a.accounts.CreateUser(r.Context(), actor, accounts.NewUser{Name: in.UserName, Email: in.Email, Roles: in.Roles, Admin: in.Admin})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, userJSON(u), nil
}

func (a *API) listUsers(r *http.Request, actor accounts.Actor) (int, any, error) {
	users, err := a.accounts.ListUsers(r.Context(), actor)
	if err != nil {
		return 0, nil, err
	}
	out := api.List[api.User]{Items: make([]api.User, 0, len(users))}
	for _, u := range users {
		out.Items = append(out.Items, userJSON(u))
	}
	return http.StatusOK, out, nil
}

func (a *API) getUser(r *http.Request, actor accounts.Actor) (int, any, error) {
	u, err := a.accounts.GetUser(r.Context(), actor, userVar(r, actor))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, userJSON(u), nil
}

func (a *API) updateUser(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.UpdateUser
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	up := accounts.UserUpdate{Email: in.Email, Roles: in.Roles, AddRoles: in.AddRoles, RemoveRoles: in.RemoveRoles, Admin: in.Admin,
		AllowedScopes: in.AllowedScopes, AllowedAudiences: in.AllowedAudiences, AllowedCIDRs: in.AllowedCIDRs}
	if in.Status != nil {
		st := store.Status(*in.Status)
		up.Status = &st
	}
	u, err := a.accounts.UpdateUser(r.Context(), actor, userVar(r, actor), up)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, userJSON(u), nil
}

func (a *API) deleteUser(r *http.Request, actor accounts.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.accounts.DeleteUser(r.Context(), actor, userVar(r, actor))
}

// --- personal access tokens ---

func (a *API) createPAT(r *http.Request, actor accounts.Actor) (int, any, error) {
	var in api.CreateKey
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	np := accounts.NewPAT{Name: in.Name, Description: in.Description, Never: in.NeverExpires,
		Scopes: in.Scopes, Audiences: in.Audiences, CIDRs: in.CIDRs}
	if in.ExpiresIn != nil {
		d := seconds(*in.ExpiresIn)
		np.ExpiresIn = &d
	}
	k, secret, err := a.accounts.CreatePAT(r.Context(), actor, userVar(r, actor), np)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, api.KeyWithSecret{Key: a.keyJSON(k), ClientSecret: secret}, nil
}

func (a *API) keysJSON(keys []store.Key) api.List[api.Key] {
	out := api.List[api.Key]{Items: make([]api.Key, 0, len(keys))}
	for _, k := range keys {
		out.Items = append(out.Items, a.keyJSON(k))
	}
	return out
}

func (a *API) listPATs(r *http.Request, actor accounts.Actor) (int, any, error) {
	keys, err := a.accounts.ListPATs(r.Context(), actor, userVar(r, actor))
	if err != nil {
		return 0, nil, err
	}
	return a.keyPage(r, keys)
}

func (a *API) listAllPATs(r *http.Request, actor accounts.Actor) (int, any, error) {
	keys, err := a.accounts.ListAllPATs(r.Context(), actor)
	if err != nil {
		return 0, nil, err
	}
	return a.keyPage(r, keys)
}

// keyPage pages a key list the way GET /audit pages events: newest first,
// ?limit=N (1-1000, default 100) items, and ?before=ID for the items after
// the one with that id (the last id of the previous page). A page shorter
// than the limit is the last. ?status= filters before the page is cut.
func (a *API) keyPage(r *http.Request, keys []store.Key) (int, any, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return 0, nil, err
	}
	if before := r.URL.Query().Get("before"); before != "" {
		i := slices.IndexFunc(keys, func(k store.Key) bool { return k.ID == before })
		if i < 0 {
			return 0, nil, &accounts.ValidationError{Field: "before", Message: "no token with this id here (deleted meanwhile?); list again from the first page"}
		}
		keys = keys[i+1:]
	}
	out := a.filterStatus(r, keys)
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
	}
	return http.StatusOK, out, nil
}

// filterStatus applies ?status=active|expiring_soon|expired|revoked.
func (a *API) filterStatus(r *http.Request, keys []store.Key) api.List[api.Key] {
	out := a.keysJSON(keys)
	if want := r.URL.Query().Get("status"); want != "" {
		kept := out.Items[:0]
		for _, k := range out.Items {
			if k.Status == want {
				kept = append(kept, k)
			}
		}
		out.Items = kept
	}
	return out
}

func (a *API) revokePAT(r *http.Request, actor accounts.Actor) (int, any, error) {
	k, err := a.accounts.RevokePAT(r.Context(), actor, userVar(r, actor), mux.Vars(r)["keyId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.keyJSON(k), nil
}

func (a *API) revokeAllPATs(r *http.Request, actor accounts.Actor) (int, any, error) {
	n, err := a.accounts.RevokeAllPATs(r.Context(), actor, userVar(r, actor))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, api.RevokeAllResult{Revoked: n}, nil
}

func (a *API) deletePAT(r *http.Request, actor accounts.Actor) (int, any, error) {
	return http.StatusNoContent, nil, a.accounts.DeletePAT(r.Context(), actor, userVar(r, actor), mux.Vars(r)["keyId"])
}
