// Package reqctx carries per-request facts established by middleware (the
// caller's address) to the code that needs them, through the context.
package reqctx

import (
	"context"
	"net/netip"
)

type clientIPKey struct{}

// WithClientIP returns ctx carrying the caller's address.
func WithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP returns the caller's address, or the zero Addr if unknown.
func ClientIP(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip
}
