// Package domino knows what HCL Domino (12.0.2+) and the Domino REST API
// need to trust tokenwright, and writes it down for the Domino
// administrator: the guided setup behind `tokenwright domino config` and
// GET /api/v1/domino/setup. It is pure text generation: no I/O.
package domino

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// Names shared with the token profile.
const (
	UserAllScope  = "Domino.user.all"
	RESTAudience  = "Domino"
	RESTDataScope = "$DATA"
	// ProviderName is what the guided setup calls tokenwright in idpcat
	// and keepconfig.d.
	ProviderName = "tokenwright"
)

// ValidateSite requires https://host[:port] exactly: Domino compares "aud"
// with the Internet Site's URL, and how it treats a path or a trailing
// slash is undocumented, so neither is accepted.
func ValidateSite(site string) error {
	u, err := url.Parse(site)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q must be an https URL such as https://domino.example.com", site)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" || u.ForceQuery {
		return fmt.Errorf("%q must be https://host or https://host:port, without a path or trailing slash", site)
	}
	if u.Host != strings.ToLower(u.Host) {
		return fmt.Errorf("%q: write the host name in lower case", site)
	}
	return nil
}

// Account is what the setup needs to know about one service account: its
// identity and what its tokens carry by default.
type Account struct {
	Name      string
	Email     string
	NotesName string
	Profile   string
	Scopes    []string // default "scope" of its tokens
	Audiences []string // default "aud" of its tokens
	// AudienceFormat is "string" when tokens carry "aud" as one string.
	AudienceFormat string
	Lifetime       time.Duration
}

// Input describes the installation and, optionally, the accounts.
type Input struct {
	Issuer string // exact issuer URL (= idpcat Base URL = iss)
	Site   string // Domino Internet Site URL, validated by ValidateSite
	// RESTAPI says tokens carry the REST API's "Domino" audience.
	RESTAPI bool
	// Account is the one account asked for ("" for all of Accounts).
	Account  string
	Accounts []Account
}

// Setup builds the sections the Domino administrator pastes.
func Setup(in Input) api.DominoSetup {
	out := api.DominoSetup{Site: in.Site, Account: in.Account}
	out.Sections = []api.DominoSection{
		idpcatSection(in),
		notesINISection(in),
		keepconfigSection(in),
		keepconfigJWTSection(in),
		personSection(in),
	}
	return out
}

func host(site string) string {
	u, _ := url.Parse(site)
	return u.Host
}

// restAudience is the "aud" the REST API should expect: "Domino" when the
// tokens carry it, otherwise the site URL (which every Domino token has).
func restAudience(in Input) string {
	if in.RESTAPI {
		return RESTAudience
	}
	for _, a := range in.Accounts {
		if !slices.Contains(a.Audiences, RESTAudience) {
			return in.Site
		}
	}
	if len(in.Accounts) > 0 {
		return RESTAudience
	}
	return in.Site
}

func clientIDs(in Input) []string {
	var ids []string
	for _, a := range in.Accounts {
		ids = append(ids, a.Name)
	}
	return ids
}

func idpcatSection(in Input) api.DominoSection {
	var b strings.Builder
	field := func(name, value string) { fmt.Fprintf(&b, "%-36s %s\n", name+":", value) }
	field("Provider name", ProviderName)
	field("Base URL", in.Issuer)
	field("Host names mapped to this provider", host(in.Site))
	field("Usable for bearer tokens", "Yes")
	if in.RESTAPI || restAudience(in) == RESTAudience {
		field("Alternate audiences (14.0+)", RESTAudience)
	} else {
		field("Alternate audiences (14.0+)", "(leave empty)")
	}
	if ids := clientIDs(in); len(ids) > 0 {
		field("Allowed client IDs (14.0+)", strings.Join(ids, ", "))
	} else {
		field("Allowed client IDs (14.0+)", "(optional: the service account names, e.g. ci-bot)")
	}
	field("Custom email claim name (14.0+)", "email")
	field("TLS trust", "the CA of "+hostOf(in.Issuer)+" must be in cacert.pem (or pin it here on 14.0+)")
	b.WriteString("\nEnter the Base URL exactly as shown: no trailing slash and no /.well-known suffix.\n")
	b.WriteString("The Internet Site for " + host(in.Site) + " needs TLS and \"Bearer token (JWT)\" = Yes (Security tab).\n")
	if !strings.HasPrefix(in.Issuer, "https://") {
		b.WriteString("\nWARNING: the issuer is not https. Domino fetches discovery and JWKS over TLS only; configure tls or a reverse proxy first.\n")
	}
	b.WriteString("\nThen: restart task http (14.0+: show stat Security.OIDC.* shows BearerCapable providers).\n")
	return api.DominoSection{ID: "idpcat", Title: "OIDC provider (idpcat.nsf)", Format: "text", Content: b.String(),
		Where: "idpcat.nsf > OIDC Providers > Add OIDC Provider (Domino 12.0.2 and 14.x)"}
}

func hostOf(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return issuer
}

func notesINISection(in Input) api.DominoSection {
	var b strings.Builder
	b.WriteString("; tokenwright bearer tokens on Domino 12.0.2 (14.0+ uses the idpcat fields instead)\n")
	if ids := clientIDs(in); len(ids) > 0 {
		fmt.Fprintf(&b, "HTTP_BEARER_ALLOWED_ID_COUNT=%d\n", len(ids))
		for i, id := range ids {
			fmt.Fprintf(&b, "HTTP_BEARER_ALLOWED_CLIENT_ID_%d=%s\n", i+1, id)
		}
	} else {
		b.WriteString("; Optional allow-list of client IDs (the service account names):\n")
		b.WriteString(";HTTP_BEARER_ALLOWED_ID_COUNT=1\n;HTTP_BEARER_ALLOWED_CLIENT_ID_1=ci-bot\n")
	}
	b.WriteString("; tokenwright puts the Person's Internet address in \"email\", the claim Domino reads\n")
	b.WriteString("; by default, so no custom email claim setting is needed.\n")
	b.WriteString("; Tracing while setting up (remove afterwards):\n")
	b.WriteString(";DEBUG_HTTP_BEARER_AUTH=1\n;DEBUG_JWK_CACHE=1\n")
	return api.DominoSection{ID: "notes.ini", Title: "notes.ini (Domino 12.0.2)", Format: "ini", Content: b.String(),
		Where: "notes.ini of each Domino 12.0.2 server (set config, then restart task http)"}
}

func marshal(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return buf.String()
}

// restScope is the scope the REST API is told to require: $DATA, the
// documented one for data access.
func restScope(Input) string { return RESTDataScope }

func keepconfigSection(in Input) api.DominoSection {
	type provider struct {
		Active      bool   `json:"active"`
		ProviderURL string `json:"providerUrl"`
		Scope       string `json:"scope"`
		Aud         string `json:"aud"`
	}
	doc := map[string]map[string]provider{"oidc-idpcat": {ProviderName: {
		Active: true, ProviderURL: in.Issuer, Scope: restScope(in), Aud: restAudience(in)}}}
	return api.DominoSection{ID: "keepconfig", Title: "Domino REST API on Domino 14.x (oidc-idpcat)", Format: "json",
		Content: marshal(doc),
		Where:   "keepconfig.d/tokenwright.json in the Domino data directory (then: tell restapi quit, load restapi)"}
}

func keepconfigJWTSection(in Input) api.DominoSection {
	type provider struct {
		Active      bool   `json:"active"`
		ProviderURL string `json:"providerUrl"`
		Aud         string `json:"aud"`
		Algorithm   string `json:"algorithm"`
	}
	doc := map[string]map[string]provider{"jwt": {ProviderName: {
		Active: true, ProviderURL: in.Issuer, Aud: restAudience(in), Algorithm: "RS256"}}}
	return api.DominoSection{ID: "keepconfig-jwt", Title: "Domino REST API on Domino 12.0.2 (jwt)", Format: "json",
		Content: marshal(doc),
		Where:   "keepconfig.d/tokenwright.json instead of the oidc-idpcat file, where idpcat is not available (restart restapi after key rotations)"}
}

func personSection(in Input) api.DominoSection {
	var b strings.Builder
	if len(in.Accounts) == 0 {
		b.WriteString("No Domino-profile service accounts yet. For each one you create, add a Person document:\n")
		b.WriteString("  User name (first line): CN=<name>/O=<org>   (the account's notesName: the token's CN)\n")
		b.WriteString("  Internet address:       <the account's email>  (the token's email; unique in the directory)\n")
	}
	for i, a := range in.Accounts {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Service account %s\n", a.Name)
		notes := a.NotesName
		if notes == "" {
			notes = "(not set)"
		}
		fmt.Fprintf(&b, "  User name (first line): %s\n", notes)
		fmt.Fprintf(&b, "  Internet address:       %s\n", a.Email)
		fmt.Fprintf(&b, "  Tokens carry:           aud %s; scope %q\n", strings.Join(a.Audiences, " "), strings.Join(a.Scopes, " "))
		for _, p := range problems(in, a) {
			b.WriteString("  FIX: " + p + "\n")
		}
	}
	b.WriteString("\nThe Internet address must match exactly one entry in the Domino Directory.\n")
	b.WriteString("Grant the user name access in the ACL of each database the account uses.\n")
	return api.DominoSection{ID: "person", Title: "Person documents (Domino Directory)", Format: "text", Content: b.String(),
		Where: "names.nsf > People: one Person document per service account"}
}

// problems lists what would make Domino or the REST API refuse a's tokens.
func problems(in Input, a Account) []string {
	var out []string
	if a.Profile != "" && a.Profile != "domino" {
		out = append(out, fmt.Sprintf("profile is %q: Domino needs the domino profile (tokenwright sa update %s --profile domino)", a.Profile, a.Name))
	}
	if !slices.Contains(a.Audiences, in.Site) {
		out = append(out, fmt.Sprintf("its tokens lack aud %s: add it to domino.sites, or tokenwright sa update %s --audience %s (plus its other audiences)", in.Site, a.Name, in.Site))
	}
	if a.AudienceFormat == "string" && len(a.Audiences) != 1 {
		out = append(out, fmt.Sprintf("audienceFormat is string but its tokens would carry %d audiences: token requests without exactly one audience are refused (tokenwright sa update %s --audience-format array)", len(a.Audiences), a.Name))
	}
	if a.NotesName == "" {
		out = append(out, fmt.Sprintf("no Notes name: the REST API maps users by CN (tokenwright sa update %s --notes-name 'CN=%s/O=Org')", a.Name, a.Name))
	}
	if rs := restScope(in); !slices.Contains(a.Scopes, rs) {
		out = append(out, fmt.Sprintf("its tokens lack scope %s, which the REST API config requires: add it to the account's allowed scopes", rs))
	}
	if a.Lifetime > time.Hour {
		out = append(out, "token lifetime above 1h: keep it within the REST API's maxJwtDuration")
	}
	return out
}

// Render turns a setup into the text `tokenwright domino config` prints.
func Render(s api.DominoSetup) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Domino setup for %s", s.Site)
	if s.Account != "" {
		fmt.Fprintf(&b, " (service account %s)", s.Account)
	}
	b.WriteString("\n")
	for _, sec := range s.Sections {
		fmt.Fprintf(&b, "\n==== %s\n---- where: %s\n\n%s", sec.Title, sec.Where, sec.Content)
		if !strings.HasSuffix(sec.Content, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
