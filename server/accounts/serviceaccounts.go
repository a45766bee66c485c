package accounts

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/store"
)

// Profiles select the claims layout of issued tokens.
const (
	ProfileDomino  = "domino"
	ProfileGeneric = "generic"
)

// Token shapes an account may choose (tokenType, audienceFormat): some
// verifiers insist on RFC 9068's typ at+jwt (oauth4webapi,
// express-oauth2-jwt-bearer strict), some read "aud" only as a string
// (HAProxy's jwt_payload_query('$.aud')), while Domino's own examples use
// typ JWT.
const (
	TokenTypeJWT   = "jwt"    // JOSE typ "JWT"
	TokenTypeATJWT = "at+jwt" // JOSE typ "at+jwt" (RFC 9068)
	AudienceArray  = "array"  // "aud": ["a", ...], always
	AudienceString = "string" // "aud": "a"; a token then has exactly one audience
)

// TokenShape is the one rule for how an account's tokens are written: its
// own tokenType and audienceFormat, or where unset ("") its profile's
// defaults, which are what tokenwright always did: typ JWT under the
// Domino profile (as in Domino's examples), at+jwt under the generic one;
// "aud" an array. Personal access tokens have the Domino defaults.
func TokenShape(sa *store.ServiceAccount) (tokenType, audienceFormat string) {
	tokenType, audienceFormat = TokenTypeJWT, AudienceArray
	if sa == nil {
		return tokenType, audienceFormat
	}
	if sa.Profile == ProfileGeneric {
		tokenType = TokenTypeATJWT
	}
	if sa.TokenType != "" {
		tokenType = sa.TokenType
	}
	if sa.AudienceFormat != "" {
		audienceFormat = sa.AudienceFormat
	}
	return tokenType, audienceFormat
}

// NewServiceAccount is the input to CreateServiceAccount.
type NewServiceAccount struct {
	Name             string
	Email            string
	NotesName        string
	Description      string
	Roles            []string
	Owners           []string
	AllowedScopes    []string
	AllowedAudiences []string
	AllowedCIDRs     []string
	TokenLifetime    time.Duration
	Profile          string
	TokenType        string // "" follows the profile (TokenShape)
	AudienceFormat   string // "" is the default, array
	Claims           map[string]any
	Permissions      []string
}

// PermissionIntrospect lets an account call the introspection endpoint.
const PermissionIntrospect = "introspect"

// CreateServiceAccount creates an account (administrators only). The new
// account inherits the creating administrator's roles in addition to the
// requested ones.
func (s *Service) CreateServiceAccount(ctx context.Context, actor Actor, in NewServiceAccount) (sa store.ServiceAccount, err error) {
	act := s.begin(actor, "service_account.create", in.Name, nil)
	defer func() { act.finish(ctx, err) }()
	if !actor.IsAdmin() {
		return sa, ErrForbidden
	}
	if err := validateName("userName", in.Name); err != nil {
		return sa, err
	}
	email, err := normalizeEmail("email", in.Email)
	if err != nil {
		return sa, err
	}
	now := s.now().UTC()
	sa = store.ServiceAccount{ID: newID(), Name: in.Name, Email: email, Status: store.StatusActive,
		CreatedAt: now, UpdatedAt: now, CreatedBy: actor.Name()}
	in.Roles = append(slices.Clone(actor.User.Roles), in.Roles...)
	if err := s.applySettings(&sa, in); err != nil {
		return store.ServiceAccount{}, err
	}
	if err := s.checkUsersExist(ctx, sa.Owners); err != nil {
		return store.ServiceAccount{}, err
	}
	if err := s.store.CreateServiceAccount(act.change(ctx), sa); err != nil {
		return store.ServiceAccount{}, err
	}
	return sa, nil
}

// applySettings validates and copies the mutable settings onto sa.
func (s *Service) applySettings(sa *store.ServiceAccount, in NewServiceAccount) error {
	notesName, err := normalizeNotesName("notesName", in.NotesName)
	if err != nil {
		return err
	}
	if err = validateText("description", in.Description, 1024); err != nil {
		return err
	}
	if sa.Roles, err = validateList("roles", in.Roles, validRole, "a valid role name"); err != nil {
		return err
	}
	if sa.Owners, err = validateList("owners", in.Owners, nameRE.MatchString, "a valid user name"); err != nil {
		return err
	}
	if sa.AllowedScopes, err = validateList("allowedScopes", in.AllowedScopes, validScope, "a valid scope"); err != nil {
		return err
	}
	if sa.AllowedAudiences, err = validateList("allowedAudiences", in.AllowedAudiences, validAudience, "an absolute URI, URI prefix ending in '*', or audience name"); err != nil {
		return err
	}
	if sa.AllowedCIDRs, err = validateList("allowedCidrs", in.AllowedCIDRs, validCIDR, "a CIDR such as 10.0.0.0/8"); err != nil {
		return err
	}
	if in.TokenLifetime < 0 || in.TokenLifetime > s.policy.MaxTokenLifetime {
		return invalid("tokenLifetime", "must be between 0 (server default) and %d seconds", int64(s.policy.MaxTokenLifetime.Seconds()))
	}
	switch in.Profile {
	case "":
		in.Profile = ProfileDomino
	case ProfileDomino, ProfileGeneric:
	default:
		return invalid("profile", "must be %q or %q", ProfileDomino, ProfileGeneric)
	}
	switch in.TokenType {
	case "", TokenTypeJWT, TokenTypeATJWT:
	default:
		return invalid("tokenType", "must be %q or %q (empty: the profile's default)", TokenTypeJWT, TokenTypeATJWT)
	}
	switch in.AudienceFormat {
	case "", AudienceArray, AudienceString:
	default:
		return invalid("audienceFormat", "must be %q or %q (empty: the default, array)", AudienceArray, AudienceString)
	}
	if err := validateClaims(in.Claims); err != nil {
		return err
	}
	if sa.Permissions, err = validateList("permissions", in.Permissions, func(p string) bool { return p == PermissionIntrospect },
		`"introspect"`); err != nil {
		return err
	}
	sa.NotesName, sa.Description = notesName, in.Description
	sa.TokenLifetime, sa.Profile, sa.Claims = in.TokenLifetime, in.Profile, in.Claims
	sa.TokenType, sa.AudienceFormat = in.TokenType, in.AudienceFormat
	return nil
}

// canSee reports whether actor may read account sa: administrators and
// the account's owners.
func canSee(actor Actor, sa store.ServiceAccount) bool {
	return actor.IsAdmin() || actor.User.Status == store.StatusActive && slices.Contains(sa.Owners, actor.Name())
}

// GetServiceAccount returns an account the actor may see. Others get
// ErrNotFound, not ErrForbidden, so existence does not leak.
func (s *Service) GetServiceAccount(ctx context.Context, actor Actor, name string) (store.ServiceAccount, error) {
	sa, err := s.store.GetServiceAccount(ctx, name)
	if err != nil {
		return sa, err
	}
	if !canSee(actor, sa) {
		return store.ServiceAccount{}, ErrNotFound
	}
	return sa, nil
}

// ListServiceAccounts returns the accounts the actor may see, by name.
func (s *Service) ListServiceAccounts(ctx context.Context, actor Actor) ([]store.ServiceAccount, error) {
	all, err := s.store.ListServiceAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(all, func(sa store.ServiceAccount) bool { return !canSee(actor, sa) })
	slices.SortFunc(out, func(a, b store.ServiceAccount) int { return compare(a.Name, b.Name) })
	return out, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// NewKey is the input to CreateKey.
type NewKey struct {
	Name        string
	Description string
	// ExpiresIn: nil means the default lifetime; Never asks for no expiry.
	ExpiresIn *time.Duration
	Never     bool
	Scopes    []string
	Audiences []string
	CIDRs     []string
	// PublicKey (PEM or JWK) makes a key-based credential instead of a
	// secret: the client authenticates with private_key_jwt.
	PublicKey string
}

// CreateKey issues a new key for a service account (administrators and
// owners). The secret is returned once and never stored.
func (s *Service) CreateKey(ctx context.Context, actor Actor, account string, in NewKey) (k store.Key, secret string, err error) {
	act := s.begin(actor, "key.create", account, map[string]string{"name": in.Name})
	defer func() { act.finish(ctx, err) }()
	sa, err := s.GetServiceAccount(ctx, actor, account)
	if err != nil {
		return k, "", err
	}
	now := s.now().UTC()
	expires, err := s.expiry(now, in.ExpiresIn, in.Never)
	if err != nil {
		return k, "", err
	}
	if err := validateText("name", in.Name, 128); err != nil || in.Name == "" {
		return k, "", invalid("name", "is required: a label of at most 128 characters")
	}
	if err := validateText("description", in.Description, 1024); err != nil {
		return k, "", err
	}
	key, cred, err := s.newKey(now, apikey.ServiceKey, sa.Name, in.Name, in.Description, expires)
	if err != nil {
		return k, "", err
	}
	if in.PublicKey != "" {
		if key.PublicJWK, err = parseClientPublicKey(in.PublicKey); err != nil {
			return k, "", err
		}
		// No secret exists for a key-based credential.
		key.SecretHash = nil
	}
	key.CreatedBy = actor.Name()
	// The key keeps the account's roles as they are now; later role changes
	// on the account do not widen or narrow existing keys.
	key.Roles = slices.Clone(sa.Roles)
	// A key may only narrow what the account's tokens may carry, server
	// defaults and the Domino profile's additions included (reach.go).
	r, err := s.ownerReach(&sa, nil).narrowing(in.Scopes, in.Audiences, in.CIDRs)
	if err != nil {
		return k, "", err
	}
	key.Scopes, key.Audiences, key.CIDRs = r.keyScopes, r.keyAudiences, r.keyCIDRs
	act.details["keyId"] = key.ID
	if err := s.store.CreateKey(act.change(ctx), key); err != nil {
		return k, "", err
	}
	if len(key.PublicJWK) > 0 {
		return key, "", nil
	}
	return key, cred.String(), nil
}

// expiry turns the requested lifetime into an absolute expiry under policy.
func (s *Service) expiry(now time.Time, expiresIn *time.Duration, never bool) (time.Time, error) {
	p := s.policy
	switch {
	case never && expiresIn != nil:
		return time.Time{}, invalid("expiresIn", "cannot be combined with never expiring")
	case never:
		if p.MaxKeyLifetime > 0 {
			return time.Time{}, invalid("expiresIn", "keys must expire within %s on this server", p.MaxKeyLifetime)
		}
		return time.Time{}, nil
	case expiresIn == nil:
		d := p.DefaultKeyLifetime
		if p.MaxKeyLifetime > 0 && d > p.MaxKeyLifetime {
			d = p.MaxKeyLifetime
		}
		return now.Add(d), nil
	case *expiresIn <= 0:
		return time.Time{}, invalid("expiresIn", "must be a positive number of seconds")
	case p.MaxKeyLifetime > 0 && *expiresIn > p.MaxKeyLifetime:
		return time.Time{}, invalid("expiresIn", "must be at most %d seconds on this server", int64(p.MaxKeyLifetime.Seconds()))
	}
	return now.Add(*expiresIn), nil
}

// ListKeys lists an account's keys, newest first (administrators, owners).
func (s *Service) ListKeys(ctx context.Context, actor Actor, account string) ([]store.Key, error) {
	if _, err := s.GetServiceAccount(ctx, actor, account); err != nil {
		return nil, err
	}
	return s.listKeys(ctx, store.KeyQuery{Kind: store.KindServiceKey, Owner: account})
}

// ServiceAccountUpdate is a partial update; nil fields are left alone.
// Roles may be replaced (Roles) or edited (AddRoles, RemoveRoles).
type ServiceAccountUpdate struct {
	Email            *string
	NotesName        *string
	Description      *string
	Roles            *[]string
	AddRoles         []string
	RemoveRoles      []string
	Owners           *[]string
	AddOwners        []string
	RemoveOwners     []string
	AllowedScopes    *[]string
	AllowedAudiences *[]string
	AllowedCIDRs     *[]string
	TokenLifetime    *time.Duration
	Profile          *string
	TokenType        *string
	AudienceFormat   *string
	Claims           *map[string]any
	Permissions      *[]string
}

// UpdateServiceAccount changes an account's settings (administrators only:
// owners manage keys, not the account's powers).
func (s *Service) UpdateServiceAccount(ctx context.Context, actor Actor, name string, up ServiceAccountUpdate) (sa store.ServiceAccount, err error) {
	act := s.begin(actor, "service_account.update", name, nil)
	defer func() { act.finish(ctx, err) }()
	if err := s.requireAdminFor(ctx, actor, name); err != nil {
		return sa, err
	}
	newOwners := up.AddOwners
	if up.Owners != nil {
		newOwners = append(slices.Clone(*up.Owners), newOwners...)
	}
	if err := s.checkUsersExist(ctx, newOwners); err != nil {
		return sa, err
	}
	var email string
	if up.Email != nil {
		if email, err = normalizeEmail("email", *up.Email); err != nil {
			return sa, err
		}
	}
	sa, err = s.store.UpdateServiceAccount(act.change(ctx), name, func(old store.ServiceAccount) (store.ServiceAccount, error) {
		in := settingsOf(old)
		setIf(&in.NotesName, up.NotesName)
		setIf(&in.Description, up.Description)
		setIf(&in.Roles, up.Roles)
		in.Roles = editList(in.Roles, up.AddRoles, up.RemoveRoles)
		setIf(&in.Owners, up.Owners)
		in.Owners = editList(in.Owners, up.AddOwners, up.RemoveOwners)
		setIf(&in.AllowedScopes, up.AllowedScopes)
		setIf(&in.AllowedAudiences, up.AllowedAudiences)
		setIf(&in.AllowedCIDRs, up.AllowedCIDRs)
		setIf(&in.TokenLifetime, up.TokenLifetime)
		setIf(&in.Profile, up.Profile)
		setIf(&in.TokenType, up.TokenType)
		setIf(&in.AudienceFormat, up.AudienceFormat)
		setIf(&in.Claims, up.Claims)
		setIf(&in.Permissions, up.Permissions)
		updated := old
		if err := s.applySettings(&updated, in); err != nil {
			return old, err
		}
		if up.Email != nil {
			updated.Email = email
		}
		updated.UpdatedAt = s.now().UTC()
		return updated, nil
	})
	return sa, err
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// editList returns list plus add minus remove, keeping order.
func editList(list, add, remove []string) []string {
	out := slices.Clone(list)
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return slices.DeleteFunc(out, func(v string) bool { return slices.Contains(remove, v) })
}

func settingsOf(sa store.ServiceAccount) NewServiceAccount {
	return NewServiceAccount{Name: sa.Name, Email: sa.Email, NotesName: sa.NotesName, Description: sa.Description,
		Roles: sa.Roles, Owners: sa.Owners, AllowedScopes: sa.AllowedScopes, AllowedAudiences: sa.AllowedAudiences,
		AllowedCIDRs: sa.AllowedCIDRs, TokenLifetime: sa.TokenLifetime, Profile: sa.Profile, Claims: sa.Claims,
		Permissions: sa.Permissions, TokenType: sa.TokenType, AudienceFormat: sa.AudienceFormat}
}

// requireAdminFor hides the account from those who may not see it (404)
// and refuses those who may see it but not change it (403).
func (s *Service) requireAdminFor(ctx context.Context, actor Actor, name string) error {
	if _, err := s.GetServiceAccount(ctx, actor, name); err != nil {
		return err
	}
	if !actor.IsAdmin() {
		return ErrForbidden
	}
	return nil
}

func (s *Service) checkUsersExist(ctx context.Context, names []string) error {
	for _, n := range names {
		if _, err := s.store.GetUser(ctx, n); errors.Is(err, store.ErrNotFound) {
			return invalid("owners", "no user named %q", n)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// SetServiceAccountStatus deactivates or reactivates an account. A
// deactivated account gets no tokens; its keys stay listed and work again
// on reactivation unless they were revoked or expired meanwhile.
func (s *Service) SetServiceAccountStatus(ctx context.Context, actor Actor, name string, status store.Status) (sa store.ServiceAccount, err error) {
	action := "service_account.activate"
	if status == store.StatusInactive {
		action = "service_account.deactivate"
	}
	act := s.begin(actor, action, name, nil)
	defer func() { act.finish(ctx, err) }()
	if err := s.requireAdminFor(ctx, actor, name); err != nil {
		return sa, err
	}
	return s.store.UpdateServiceAccount(act.change(ctx), name, func(old store.ServiceAccount) (store.ServiceAccount, error) {
		old.Status, old.UpdatedAt = status, s.now().UTC()
		return old, nil
	})
}

// DeleteServiceAccount removes the account and its keys.
func (s *Service) DeleteServiceAccount(ctx context.Context, actor Actor, name string) (err error) {
	act := s.begin(actor, "service_account.delete", name, nil)
	defer func() { act.finish(ctx, err) }()
	if err := s.requireAdminFor(ctx, actor, name); err != nil {
		return err
	}
	return s.store.DeleteServiceAccount(act.change(ctx), name)
}

// SetOwner adds or removes one owner (administrators only).
func (s *Service) SetOwner(ctx context.Context, actor Actor, name, user string, add bool) (store.ServiceAccount, error) {
	if add {
		return s.UpdateServiceAccount(ctx, actor, name, ServiceAccountUpdate{AddOwners: []string{user}})
	}
	return s.UpdateServiceAccount(ctx, actor, name, ServiceAccountUpdate{RemoveOwners: []string{user}})
}
