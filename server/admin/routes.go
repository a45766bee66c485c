package admin

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tokenwright/tokenwright/store"
)

// Path patterns: names never contain ':', so "{name}:action" is unambiguous.
const (
	nameVar = "{name:[a-z0-9][a-z0-9.-]*}"
	// nameVar2 names the second path variable where two names appear.
	nameVar2 = "{user:[a-z0-9][a-z0-9.-]*}"
	keyVar   = "{keyId:[0-9A-Za-z]+}"
	kidVar   = "{kid:[A-Za-z0-9_-]+}"
)

// Register adds the API's routes to r: the whole admin route table, in
// one place (openapi.yaml describes the same routes, and a test holds the
// two together). The server mounts it under Prefix with the admin API's
// edge properties (rate limits, CORS).
func (a *API) Register(r *mux.Router) {
	// The description is public documentation, so it needs no token.
	r.HandleFunc(Prefix+"/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	}).Methods(http.MethodGet)
	sub := r.PathPrefix(Prefix).Subrouter()
	sub.Use(a.authenticate)
	route := func(path string, h handlerFunc, methods ...string) {
		sub.Handle(path, a.handle(h)).Methods(methods...)
	}

	route("/service-accounts", a.createServiceAccount, http.MethodPost)
	route("/service-accounts", a.listServiceAccounts, http.MethodGet)
	sa := "/service-accounts/" + nameVar
	route(sa, a.getServiceAccount, http.MethodGet)
	route(sa+"/keys", a.createKey, http.MethodPost)
	route(sa+"/keys", a.listKeys, http.MethodGet)
	route(sa, a.updateServiceAccount, http.MethodPatch)
	route(sa, a.deleteServiceAccount, http.MethodDelete)
	route(sa+":deactivate", a.setStatus(store.StatusInactive), http.MethodPost)
	route(sa+":activate", a.setStatus(store.StatusActive), http.MethodPost)
	route(sa+"/owners", a.addOwner, http.MethodPost)
	route(sa+"/owners/"+nameVar2, a.removeOwner, http.MethodDelete)
	route(sa+"/keys:revokeAll", a.revokeAllKeys, http.MethodPost)
	route(sa+"/keys/"+keyVar, a.getKey, http.MethodGet)
	route(sa+"/keys/"+keyVar, a.deleteKey, http.MethodDelete)
	route(sa+"/keys/"+keyVar+":revoke", a.revokeKey, http.MethodPost)
	route(sa+"/keys/"+keyVar+":rotate", a.rotateKey, http.MethodPost)
	route(sa+"/federation", a.createFederationRule, http.MethodPost)
	route(sa+"/federation", a.listFederationRules, http.MethodGet)
	route(sa+"/federation/"+ruleVar, a.getFederationRule, http.MethodGet)
	route(sa+"/federation/"+ruleVar, a.deleteFederationRule, http.MethodDelete)

	route("/users", a.createUser, http.MethodPost)
	route("/users", a.listUsers, http.MethodGet)
	route("/users/"+nameVar, a.getUser, http.MethodGet)
	route("/users/"+nameVar, a.updateUser, http.MethodPatch)
	route("/users/"+nameVar, a.deleteUser, http.MethodDelete)
	route("/users/"+nameVar+"/tokens", a.createPAT, http.MethodPost)
	route("/users/"+nameVar+"/tokens", a.listPATs, http.MethodGet)
	route("/users/"+nameVar+"/tokens:revokeAll", a.revokeAllPATs, http.MethodPost)
	route("/users/"+nameVar+"/tokens/"+keyVar, a.deletePAT, http.MethodDelete)
	route("/users/"+nameVar+"/tokens/"+keyVar+":revoke", a.revokePAT, http.MethodPost)
	route("/tokens", a.listAllPATs, http.MethodGet)

	route("/audit", a.listAudit, http.MethodGet)
	route("/signing-keys", a.listSigningKeys, http.MethodGet)
	route("/signing-keys:rotate", a.rotateSigningKey, http.MethodPost)
	route("/signing-keys/"+kidVar, a.removeSigningKey, http.MethodDelete)
	route("/domino/setup", a.dominoSetup, http.MethodGet)
	sub.Handle("/backup", http.HandlerFunc(a.serveBackup)).Methods(http.MethodGet)
	// Unknown routes and wrong methods fall through to the parent router's
	// JSON 404/405 handlers (a subrouter's own handlers hide 405s).
}
