package admin

import (
	"net/http"

	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/server/domino"
	"github.com/tokenwright/tokenwright/store"
)

// DominoSettings are the server settings the guided Domino setup needs.
type DominoSettings struct {
	Issuer  string
	Sites   []string // domino.sites; the first is the default site
	RESTAPI bool     // domino.restApi
}

// WithDomino sets what GET /domino/setup describes.
func (a *API) WithDomino(s DominoSettings) *API {
	a.domino = s
	return a
}

// dominoSetup is GET /domino/setup?site=URL[&account=NAME]: what the Domino
// administrator enters, for one account or for every Domino-profile
// account the caller may see. It holds no secrets.
func (a *API) dominoSetup(r *http.Request, actor accounts.Actor) (int, any, error) {
	q := r.URL.Query()
	site := q.Get("site")
	if site == "" && len(a.domino.Sites) > 0 {
		site = a.domino.Sites[0]
	}
	if site == "" {
		return 0, nil, &accounts.ValidationError{Field: "site", Message: "is required: pass site=https://domino.example.com or configure domino.sites"}
	}
	if err := domino.ValidateSite(site); err != nil {
		return 0, nil, &accounts.ValidationError{Field: "site", Message: err.Error()}
	}
	in := domino.Input{Issuer: a.domino.Issuer, Site: site, RESTAPI: a.domino.RESTAPI, Account: q.Get("account")}
	if in.Account != "" {
		sa, err := a.accounts.GetServiceAccount(r.Context(), actor, in.Account)
		if err != nil {
			return 0, nil, err
		}
		acct, err := a.dominoAccount(sa)
		if err != nil {
			return 0, nil, err
		}
		in.Accounts = append(in.Accounts, acct)
	} else {
		all, err := a.accounts.ListServiceAccounts(r.Context(), actor)
		if err != nil {
			return 0, nil, err
		}
		for _, sa := range all {
			if sa.Profile == accounts.ProfileGeneric {
				continue
			}
			acct, err := a.dominoAccount(sa)
			if err != nil {
				return 0, nil, err
			}
			in.Accounts = append(in.Accounts, acct)
		}
	}
	return http.StatusOK, domino.Setup(in), nil
}

// dominoAccount describes sa with what its tokens carry by default.
func (a *API) dominoAccount(sa store.ServiceAccount) (domino.Account, error) {
	g, err := a.accounts.DefaultGrant(sa)
	if err != nil {
		return domino.Account{}, err
	}
	return domino.Account{Name: sa.Name, Email: sa.Email, NotesName: sa.NotesName, Profile: g.Profile,
		Scopes: g.Scopes, Audiences: g.Audiences, AudienceFormat: g.AudienceFormat, Lifetime: g.Lifetime}, nil
}
