package accounts

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/tokenwright/tokenwright/store"
)

// ProviderIdentity is what a verified sign-in at the single sign-on
// provider says about a person (server/sso maps the provider's claims and
// groups to it).
type ProviderIdentity struct {
	Issuer, Subject string
	// Name is the tokenwright user name (from the username claim).
	Name  string
	Email string
	// Admin and Roles are what the provider's groups grant; Groups are
	// those groups, for the audit trail.
	Admin  bool
	Roles  []string
	Groups []string
	// ManagesAdmin and ManagesRoles say whether the provider is the
	// source of truth for the admin flag (sso.adminGroups set) and for
	// the roles (sso.roles set). What it does not manage stays as
	// administrators set it in tokenwright: a provider without groups
	// (Google) must not strip, at every sign-in, roles given by hand.
	ManagesAdmin, ManagesRoles bool
	// AutoCreate allows creating the user on first sign-in.
	AutoCreate bool
	IP         string
}

// SignInRefusal is a sign-in the rules refuse; Reason is safe to show to
// the person signing in and is recorded in the audit trail.
type SignInRefusal struct{ Reason string }

func (e *SignInRefusal) Error() string { return "sign-in refused: " + e.Reason }

// Is makes a refusal match ErrForbidden (audited as denied).
func (e *SignInRefusal) Is(target error) bool { return target == ErrForbidden }

func refuse(reason string) error { return &SignInRefusal{Reason: reason} }

// signInRevocationReason is patRevocationReason for a sign-in, which
// refreshes the admin flag and roles from the provider's groups: any
// change of either revokes the user's tokens (the rule: a
// promotion too, so that a token never spans two sets of powers).
func signInRevocationReason(old, updated store.User) string {
	if r := patRevocationReason(old, updated); r != "" {
		return r
	}
	if !old.Admin && updated.Admin {
		return "promoted"
	}
	return ""
}

// SignIn applies a verified provider identity: it creates the user on
// first sign-in (when id.AutoCreate), links the user to the provider's
// subject, and refreshes email, admin flag and roles. When the admin flag
// or roles change, the user's personal access tokens are revoked first,
// audited with the groups that caused the change. A refusal is a
// *SignInRefusal (audited as action sso.signin, denied).
func (s *Service) SignIn(ctx context.Context, id ProviderIdentity) (u store.User, err error) {
	actor := Actor{User: store.User{Name: id.Name, Status: store.StatusActive}, IP: id.IP}
	details := map[string]string{"issuer": id.Issuer, "subject": id.Subject, "groups": strings.Join(id.Groups, ",")}
	act := s.begin(actor, "sso.signin", id.Name, details)
	defer func() { act.finish(ctx, err) }()
	plan, err := s.PlanSignIn(ctx, id)
	if err != nil {
		return u, err
	}
	if plan.Create {
		now := s.now().UTC()
		u = plan.User
		u.ID, u.CreatedAt, u.UpdatedAt, u.CreatedBy = newID(), now, now, "sso"
		create := s.begin(actor, "user.create", id.Name, map[string]string{"source": "sso", "groups": details["groups"]})
		err := s.store.CreateUser(create.change(ctx), u)
		create.finish(ctx, err)
		if errors.Is(err, store.ErrEmailTaken) {
			return u, refuse("the email address " + quote(u.Email) + " belongs to another tokenwright account")
		}
		return u, err
	}
	if !plan.Change {
		return plan.Old, nil
	}
	planned, reason := plan.User, plan.RevokeReason
	if reason != "" {
		act := s.begin(actor, "pat.revoke_all", id.Name, map[string]string{"reason": reason, "source": "sso", "groups": details["groups"]})
		_, err := s.revokeAll(ctx, act, store.KeyQuery{Kind: store.KindPersonalToken, Owner: id.Name})
		act.finish(ctx, err)
		if err != nil {
			return u, err
		}
	}
	update := s.begin(actor, "user.update", id.Name, map[string]string{"source": "sso", "groups": details["groups"]})
	u, err = s.store.UpdateUser(update.change(ctx), id.Name, func(cur store.User) (store.User, error) {
		if err := checkLink(cur, id); err != nil {
			return cur, err
		}
		next := id.apply(cur, planned.Email, planned.Roles)
		if signInRevocationReason(cur, next) != reason {
			// Changed since it was read (an administrator's edit): the
			// revocation above may not cover this change.
			return cur, conflict("user %s changed meanwhile; sign in again", id.Name)
		}
		next.UpdatedAt = s.now().UTC()
		return next, nil
	})
	update.finish(ctx, err)
	if errors.Is(err, store.ErrEmailTaken) {
		return u, refuse("the email address " + quote(planned.Email) + " belongs to another tokenwright account")
	}
	return u, err
}

// apply returns u refreshed from the provider: email and the identity
// link always, the admin flag and roles only where the provider manages
// them.
func (id ProviderIdentity) apply(u store.User, email string, roles []string) store.User {
	u.Email, u.SSOIssuer, u.SSOSubject = email, id.Issuer, id.Subject
	if id.ManagesAdmin {
		u.Admin = id.Admin
	}
	if id.ManagesRoles {
		u.Roles = roles
	}
	return u
}

// SignInPlan is what SignIn would do with an identity.
type SignInPlan struct {
	// Create: no such user; it would be created as User (without its id
	// and times).
	Create bool
	// Old is the existing user (when not Create), User what the sign-in
	// makes of it; Change says whether they differ.
	Old, User store.User
	Change    bool
	// RevokeReason, when set, is why the user's PATs would be revoked
	// first (a change of roles or administrator).
	RevokeReason string
}

// PlanSignIn applies SignIn's rules to id and says what SignIn would do,
// changing nothing and auditing nothing (tokenwright sso check's sign-in).
// A refusal is a *SignInRefusal. One rule it cannot see: an email address
// that another account holds refuses the sign-in only when it is written.
func (s *Service) PlanSignIn(ctx context.Context, id ProviderIdentity) (SignInPlan, error) {
	if validateName("userName", id.Name) != nil {
		return SignInPlan{}, refuse("the provider's user name " + quote(id.Name) + " is not a valid tokenwright user name " +
			"(1-63 lowercase letters, digits, '-' and '.'; not \"me\")")
	}
	email, err := normalizeEmail("email", id.Email)
	if err != nil {
		return SignInPlan{}, refuse("the provider gave no valid email address")
	}
	roles, err := validateList("roles", id.Roles, validRole, "a valid role name")
	if err != nil {
		return SignInPlan{}, err
	}
	slices.Sort(roles)
	old, err := s.store.GetUser(ctx, id.Name)
	if errors.Is(err, store.ErrNotFound) {
		if !id.AutoCreate {
			return SignInPlan{}, refuse("no tokenwright user " + quote(id.Name) + " exists and sso.autoCreateUsers is false")
		}
		return SignInPlan{Create: true, User: id.apply(store.User{Name: id.Name, Status: store.StatusActive}, email, roles)}, nil
	}
	if err != nil {
		return SignInPlan{}, err
	}
	if err := checkLink(old, id); err != nil {
		return SignInPlan{}, err
	}
	planned := id.apply(old, email, roles)
	return SignInPlan{Old: old, User: planned, Change: !sameUser(old, planned), RevokeReason: signInRevocationReason(old, planned)}, nil
}

// checkLink refuses a user that is inactive or linked to another identity.
func checkLink(u store.User, id ProviderIdentity) error {
	if u.Status != store.StatusActive {
		return refuse("the tokenwright user " + quote(u.Name) + " is deactivated")
	}
	if u.SSOSubject != "" && (u.SSOIssuer != id.Issuer || u.SSOSubject != id.Subject) {
		return refuse("the tokenwright user " + quote(u.Name) + " is linked to another identity at the provider")
	}
	return nil
}

func sameUser(a, b store.User) bool {
	return a.Email == b.Email && a.Admin == b.Admin && slices.Equal(a.Roles, b.Roles) &&
		a.SSOIssuer == b.SSOIssuer && a.SSOSubject == b.SSOSubject
}

func quote(s string) string { return "\"" + s + "\"" }
