package oauth

// Observer learns the outcome of token requests (metrics). Reasons come from
// a fixed set of server-side strings, never from client input.
type Observer interface {
	TokenIssued(client string)
	TokenFailed(reason, client string)
}

type nopObserver struct{}

func (nopObserver) TokenIssued(string)         {}
func (nopObserver) TokenFailed(string, string) {}

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
func (s *Server) failed(endpoint, reason, client string) {
	if endpoint == TokenPath {
		s.observer.TokenFailed(reason, client)
	}
}
