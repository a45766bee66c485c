package oauth

// Result is the coarse outcome of a refused token request, as the metrics
// see it: the OAuth error code, nothing about which check failed or for
// which client (that is in the log), so that a public /metrics cannot tell
// an unknown account from a wrong secret or a blocked address.
type Result string

// The results: OAuth error codes (RFC 6749 §5.2, RFC 8707 §2).
const (
	ResultInvalidClient  Result = "invalid_client"
	ResultInvalidScope   Result = "invalid_scope"
	ResultInvalidTarget  Result = "invalid_target"
	ResultInvalidRequest Result = "invalid_request"
	ResultInvalidGrant   Result = "invalid_grant"
)

// FederationResult is the outcome of one exchange of a foreign token, as
// the metrics see it per federation rule: a closed set.
type FederationResult string

// The results. A refusal before any rule verified the token is counted
// with an empty rule.
const (
	FederationIssued   FederationResult = "issued"
	FederationRefused  FederationResult = "refused"
	FederationReplayed FederationResult = "replayed"
)

// Observer learns the outcome of token requests (metrics).
type Observer interface {
	TokenIssued(client string)
	TokenFailed(result Result)
	// FederatedExchange counts an exchange of a foreign token by rule id
	// ("" when no rule verified it) and result.
	FederatedExchange(rule string, result FederationResult)
}

type nopObserver struct{}

func (nopObserver) TokenIssued(string)                         {}
func (nopObserver) TokenFailed(Result)                         {}
func (nopObserver) FederatedExchange(string, FederationResult) {}

// SetObserver installs o (nil: none). Call before serving.
func (s *Server) SetObserver(o Observer) {
	if o == nil {
		o = nopObserver{}
	}
	s.observer = o
}

// failed reports an authentication failure at the token endpoint (the
// metric counts token requests; introspection and revocation callers are
// not asking for tokens).
func (s *Server) failed(endpoint string, result Result) {
	if endpoint == TokenPath {
		s.observer.TokenFailed(result)
	}
}
