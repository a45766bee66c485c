// Package clientip determines the caller's address for CIDR allow-lists,
// the audit trail and logs. X-Forwarded-For is honoured only when the
// connection comes from a configured trusted proxy: otherwise any client
// could claim any address and walk through an allow-list.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tokenwright/tokenwright/server/reqctx"
)

// ParseProxies parses the trustedProxies setting: CIDRs or single addresses.
func ParseProxies(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, it := range items {
		if p, err := netip.ParsePrefix(it); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(it)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an address", it)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Middleware stores the client address in the request context (reqctx).
func Middleware(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ip, ok := Resolve(r, trusted); ok {
				r = r.WithContext(reqctx.WithClientIP(r.Context(), ip))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Resolve returns the client address: the peer's, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not itself a
// trusted proxy (entries further left are whatever the client sent and
// cannot be believed).
func Resolve(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap()
	if !isTrusted(ip, trusted) {
		return ip, true
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A malformed hop ends the chain we can trust; the last good
			// address (a trusted proxy) is the best we know.
			return ip, true
		}
		ip = hop.Unmap()
		if !isTrusted(ip, trusted) {
			return ip, true
		}
	}
	return ip, true
}

// FromProxy reports whether r's peer is a trusted proxy, whose forwarding
// headers (X-Forwarded-For, X-Request-Id) may be believed.
func FromProxy(r *http.Request, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && isTrusted(ap.Addr().Unmap(), trusted)
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
