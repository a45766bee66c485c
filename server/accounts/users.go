package accounts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/store"
)

// patNameRE: personal access token names are lowercased, then must be
// letters, digits, '-' and '.'.
var patNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,63}$`)

// NewUser is the input to CreateUser.
type NewUser struct {
	Name  string
	Email string
	Roles []string
	Admin bool
}

// CreateUser creates a human user (administrators only).
func (s *Service) CreateUser(ctx context.Context, actor Actor, in NewUser) (u store.User, err error) {
	act := s.begin(actor, "user.create", in.Name, nil)
	defer func() { act.finish(ctx, err) }()
	if !actor.IsAdmin() {
		return u, ErrForbidden
	}
	if err := validateName("userName", in.Name); err != nil {
		return u, err
	}
	email, err := normalizeEmail("email", in.Email)
	if err != nil {
		return u, err
	}
	roles, err := validateList("roles", in.Roles, validRole, "a valid role name")
	if err != nil {
		return u, err
	}
	now := s.now().UTC()
	u = store.User{ID: newID(), Name: in.Name, Email: email, Roles: roles, Admin: in.Admin, Status: store.StatusActive,
		CreatedAt: now, UpdatedAt: now, CreatedBy: actor.Name()}
	return u, s.store.CreateUser(act.change(ctx), u)
}

// canSeeUser: administrators see everyone, users see themselves.
func canSeeUser(actor Actor, name string) bool { return actor.IsAdmin() || actor.Name() == name }

// GetUser returns a user (administrators, or the user themself; others 404).
func (s *Service) GetUser(ctx context.Context, actor Actor, name string) (store.User, error) {
	if !canSeeUser(actor, name) {
		return store.User{}, ErrNotFound
	}
	return s.store.GetUser(ctx, name)
}

// ListUsers lists users by name (administrators only).
func (s *Service) ListUsers(ctx context.Context, actor Actor) ([]store.User, error) {
	if !actor.IsAdmin() {
		return nil, ErrForbidden
	}
	users, err := s.store.ListUsers(ctx)
	slices.SortFunc(users, func(a, b store.User) int { return strings.Compare(a.Name, b.Name) })
	return users, err
}

// UserUpdate is a partial update of a user; nil fields are left alone.
type UserUpdate struct {
	Email       *string
	Roles       *[]string
	AddRoles    []string
	RemoveRoles []string
	Admin       *bool
	Status      *store.Status
	// AllowedScopes, AllowedAudiences and AllowedCIDRs replace the lists
	// that bound the user's personal access tokens.
	AllowedScopes    *[]string
	AllowedAudiences *[]string
	AllowedCIDRs     *[]string
}

// patRevocationReason says why a change of a user must revoke all of their
// personal access tokens, or "" if it need not. This is the one rule: a
// token keeps no power its user loses, and a user who gets a power back
// (re-promotion, re-activation) must create new tokens to use it, so that
// an old token that leaked meanwhile never regains it.
func patRevocationReason(old, updated store.User) string {
	switch {
	case old.Admin && !updated.Admin:
		return "demoted"
	case old.Status == store.StatusActive && updated.Status != store.StatusActive:
		return "deactivated"
	case !slices.Equal(old.Roles, updated.Roles):
		return "roles changed"
	}
	return ""
}

// UpdateUser changes a user (administrators only). When the change takes
// a power away (patRevocationReason: demotion, deactivation, a change of
// roles), every personal access token of the user is revoked first: the
// user must create new tokens, which then reflect the new permissions.
func (s *Service) UpdateUser(ctx context.Context, actor Actor, name string, up UserUpdate) (u store.User, err error) {
	act := s.begin(actor, "user.update", name, nil)
	defer func() { act.finish(ctx, err) }()
	if !actor.IsAdmin() {
		if canSeeUser(actor, name) {
			return u, ErrForbidden
		}
		return u, ErrNotFound
	}
	old, err := s.store.GetUser(ctx, name)
	if err != nil {
		return u, err
	}
	var email string
	if up.Email != nil {
		if email, err = normalizeEmail("email", *up.Email); err != nil {
			return u, err
		}
	}
	roles := old.Roles
	setIf(&roles, up.Roles)
	if roles, err = validateList("roles", editList(roles, up.AddRoles, up.RemoveRoles), validRole, "a valid role name"); err != nil {
		return u, err
	}
	if up.Status != nil && *up.Status != store.StatusActive && *up.Status != store.StatusInactive {
		return u, invalid("status", "must be active or inactive")
	}
	// The same validators as a service account's allowed lists.
	allowed := []struct {
		field string
		list  **[]string
		check func(string) bool
		what  string
	}{
		{"allowedScopes", &up.AllowedScopes, validScope, "a valid scope"},
		{"allowedAudiences", &up.AllowedAudiences, validAudience, "an absolute URI, URI prefix ending in '*', or audience name"},
		{"allowedCidrs", &up.AllowedCIDRs, validCIDR, "a CIDR such as 10.0.0.0/8"},
	}
	for _, a := range allowed {
		if *a.list == nil {
			continue
		}
		clean, err := validateList(a.field, **a.list, a.check, a.what)
		if err != nil {
			return u, err
		}
		*a.list = &clean
	}
	losesAdmin := old.Admin && old.Status == store.StatusActive &&
		(up.Admin != nil && !*up.Admin || up.Status != nil && *up.Status == store.StatusInactive)
	if losesAdmin {
		if err := s.keepOneAdmin(ctx, name); err != nil {
			return u, err
		}
	}
	now := s.now().UTC()
	apply := func(u store.User) (store.User, error) {
		if up.Email != nil {
			u.Email = email
		}
		u.Roles = roles
		setIf(&u.Admin, up.Admin)
		setIf(&u.Status, up.Status)
		setIf(&u.AllowedScopes, up.AllowedScopes)
		setIf(&u.AllowedAudiences, up.AllowedAudiences)
		setIf(&u.AllowedCIDRs, up.AllowedCIDRs)
		u.UpdatedAt = now
		return u, nil
	}
	planned, _ := apply(old)
	if reason := patRevocationReason(old, planned); reason != "" {
		// Revoke before the change is stored: a crash in between leaves
		// tokens revoked and the user unchanged, never the reverse.
		if err := s.revokeUserPATs(ctx, actor, name, reason); err != nil {
			return u, err
		}
	}
	return s.store.UpdateUser(act.change(ctx), name, func(cur store.User) (store.User, error) {
		if reason := patRevocationReason(old, planned); reason == "" && patRevocationReason(cur, planned) != "" {
			// Someone else changed the user since we read it (e.g.
			// promoted them) and this update would take that power away
			// without the revocation: refuse rather than keep old tokens.
			return cur, conflict("user %s changed meanwhile; try again", name)
		}
		return apply(cur)
	})
}

// revokeUserPATs revokes every personal access token of user and records
// why (the audit event pat.revoke_all with a reason, in the same
// transaction as the revocation).
func (s *Service) revokeUserPATs(ctx context.Context, actor Actor, user, reason string) error {
	act := s.begin(actor, "pat.revoke_all", user, map[string]string{"reason": reason})
	_, err := s.revokeAll(ctx, act, store.KeyQuery{Kind: store.KindPersonalToken, Owner: user})
	act.finish(ctx, err)
	return err
}

// keepOneAdmin refuses to remove the last active administrator, which
// would leave nobody able to administer the server.
func (s *Service) keepOneAdmin(ctx context.Context, leaving string) error {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.Name != leaving && u.Admin && u.Status == store.StatusActive {
			return nil
		}
	}
	return conflict("%s is the last active administrator", leaving)
}

// DeleteUser removes a user, their personal access tokens and their place
// in every service account's owners, in one store transaction (so a new
// user given the same name later inherits nothing). The audit event says
// how many tokens went with the user.
func (s *Service) DeleteUser(ctx context.Context, actor Actor, name string) (err error) {
	act := s.begin(actor, "user.delete", name, nil)
	defer func() { act.finish(ctx, err) }()
	if !actor.IsAdmin() {
		return ErrForbidden
	}
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		return err
	}
	if u.Admin && u.Status == store.StatusActive {
		if err := s.keepOneAdmin(ctx, name); err != nil {
			return err
		}
	}
	if pats, err := s.store.ListKeys(ctx, store.KeyQuery{Kind: store.KindPersonalToken, Owner: name}); err == nil {
		act.details["tokensDeleted"] = fmt.Sprint(len(pats))
	}
	return s.store.DeleteUser(act.change(ctx), name)
}

// DropUnknownOwners removes, from every service account, owners that are
// not users: what deleting a user left behind before DeleteUser removed
// the user from owner lists itself. Such a name would make a different
// person later created with it an owner. The server runs it at start; it
// returns how many accounts it changed and audits each change.
func (s *Service) DropUnknownOwners(ctx context.Context) (int, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return 0, err
	}
	isUser := map[string]bool{}
	for _, u := range users {
		isUser[u.Name] = true
	}
	accounts, err := s.store.ListServiceAccounts(ctx)
	if err != nil {
		return 0, err
	}
	system := Actor{User: store.User{Name: "system"}}
	changed := 0
	for _, sa := range accounts {
		var stale []string
		for _, o := range sa.Owners {
			if !isUser[o] {
				stale = append(stale, o)
			}
		}
		if len(stale) == 0 {
			continue
		}
		act := s.begin(system, "service_account.update", sa.Name,
			map[string]string{"reason": "owners that are no longer users removed", "removed": strings.Join(stale, ",")})
		_, err := s.store.UpdateServiceAccount(act.change(ctx), sa.Name, func(a store.ServiceAccount) (store.ServiceAccount, error) {
			a.Owners = slices.DeleteFunc(slices.Clone(a.Owners), func(o string) bool { return slices.Contains(stale, o) })
			return a, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		act.finish(ctx, err)
		if err != nil {
			return changed, err
		}
		changed++
	}
	return changed, nil
}

// NewPAT is the input to CreatePAT.
type NewPAT struct {
	Name        string
	Description string
	ExpiresIn   *time.Duration
	Never       bool
	Scopes      []string
	Audiences   []string
	CIDRs       []string
}

// patOwner resolves whose tokens are addressed: the user themself, or
// anyone for an administrator; others get ErrNotFound.
func (s *Service) patOwner(ctx context.Context, actor Actor, user string) (store.User, error) {
	if !canSeeUser(actor, user) {
		return store.User{}, ErrNotFound
	}
	return s.store.GetUser(ctx, user)
}

// CreatePAT issues a personal access token to user (the user, or an
// administrator). The name is lowercased and must be unique for the user.
func (s *Service) CreatePAT(ctx context.Context, actor Actor, user string, in NewPAT) (k store.Key, secret string, err error) {
	act := s.begin(actor, "pat.create", user, nil)
	defer func() { act.finish(ctx, err) }()
	owner, err := s.patOwner(ctx, actor, user)
	if err != nil {
		return k, "", err
	}
	name := strings.ToLower(in.Name)
	if !patNameRE.MatchString(name) {
		return k, "", invalid("name", "must be 1-64 letters, digits, '-' and '.'")
	}
	if err := validateText("description", in.Description, 1024); err != nil {
		return k, "", err
	}
	now := s.now().UTC()
	expires, err := s.expiry(now, in.ExpiresIn, in.Never)
	if err != nil {
		return k, "", err
	}
	key, cred, err := s.newKey(now, apikey.PersonalToken, user, name, in.Description, expires)
	if err != nil {
		return k, "", err
	}
	key.CreatedBy = actor.Name()
	// A PAT can only narrow its user's reach (reach.go).
	r, err := s.ownerReach(nil, &owner).narrowing(in.Scopes, in.Audiences, in.CIDRs)
	if err != nil {
		return k, "", err
	}
	key.Scopes, key.Audiences, key.CIDRs = r.keyScopes, r.keyAudiences, r.keyCIDRs
	if err := checkPATSize(key); err != nil {
		return k, "", err
	}
	act.details["keyId"], act.details["name"] = key.ID, key.Name
	if err := s.store.CreateKey(act.change(ctx), key, store.MaxKeysPerOwner(s.policy.MaxPATsPerUser)); errors.Is(err, store.ErrLimitExceeded) {
		return k, "", fmt.Errorf("%w: user %s already has %d personal access tokens, the most this server allows (keys.maxPATsPerUser); delete revoked or expired ones first",
			ErrQuota, user, s.policy.MaxPATsPerUser)
	} else if err != nil {
		return k, "", err
	}
	return key, cred.String(), nil
}

// maxPATReach bounds the bytes of a personal access token's scopes,
// audiences and CIDRs together. With the 1 KiB description and the
// keys.maxPATsPerUser quota it bounds what one user can make the server
// store (a list of 100 entries of 512 bytes each would be 50 KiB per token).
const maxPATReach = 8 << 10

func checkPATSize(k store.Key) error {
	n := 0
	for _, list := range [][]string{k.Scopes, k.Audiences, k.CIDRs} {
		for _, it := range list {
			n += len(it) + 1
		}
	}
	if n > maxPATReach {
		return invalid("scopes", "a token's scopes, audiences and CIDRs may hold at most %d bytes together", maxPATReach)
	}
	return nil
}

// ListPATs lists a user's personal access tokens, newest first.
func (s *Service) ListPATs(ctx context.Context, actor Actor, user string) ([]store.Key, error) {
	if _, err := s.patOwner(ctx, actor, user); err != nil {
		return nil, err
	}
	return s.listKeys(ctx, store.KeyQuery{Kind: store.KindPersonalToken, Owner: user})
}

// ListAllPATs lists every personal access token (administrators only).
func (s *Service) ListAllPATs(ctx context.Context, actor Actor) ([]store.Key, error) {
	if !actor.IsAdmin() {
		return nil, ErrForbidden
	}
	return s.listKeys(ctx, store.KeyQuery{Kind: store.KindPersonalToken})
}

// listKeys lists keys newest first; keys created in the same instant are
// ordered by id, so the order is total and a paging cursor (a key id)
// names one position.
func (s *Service) listKeys(ctx context.Context, q store.KeyQuery) ([]store.Key, error) {
	keys, err := s.store.ListKeys(ctx, q)
	slices.SortFunc(keys, func(a, b store.Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return keys, err
}

// RevokePAT revokes one personal access token.
func (s *Service) RevokePAT(ctx context.Context, actor Actor, user, id string) (k store.Key, err error) {
	act := s.begin(actor, "pat.revoke", user, map[string]string{"keyId": id})
	defer func() { act.finish(ctx, err) }()
	if _, err := s.patOwner(ctx, actor, user); err != nil {
		return k, err
	}
	return s.revoke(ctx, act, store.KindPersonalToken, user, id)
}

// RevokeAllPATs revokes all of a user's personal access tokens.
func (s *Service) RevokeAllPATs(ctx context.Context, actor Actor, user string) (n int, err error) {
	act := s.begin(actor, "pat.revoke_all", user, nil)
	defer func() { act.finish(ctx, err) }()
	if _, err := s.patOwner(ctx, actor, user); err != nil {
		return 0, err
	}
	return s.revokeAll(ctx, act, store.KeyQuery{Kind: store.KindPersonalToken, Owner: user})
}

// DeletePAT removes a personal access token.
func (s *Service) DeletePAT(ctx context.Context, actor Actor, user, id string) (err error) {
	act := s.begin(actor, "pat.delete", user, map[string]string{"keyId": id})
	defer func() { act.finish(ctx, err) }()
	if _, err := s.patOwner(ctx, actor, user); err != nil {
		return err
	}
	if _, err := s.ownedKey(ctx, store.KindPersonalToken, user, id); err != nil {
		return err
	}
	return s.store.DeleteKey(act.change(ctx), id)
}
