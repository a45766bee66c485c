package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenwright/tokenwright/pkg/apikey"
	"github.com/tokenwright/tokenwright/pkg/client"
	"github.com/tokenwright/tokenwright/pkg/duration"
	"github.com/tokenwright/tokenwright/pkg/proxy"
)

func newProxyCommand(getenv env) *cobra.Command {
	var ep endpoint
	var listen, upstream, clientID, secretFile, margin, revalidate string
	var scopes, audiences []string
	var acceptAPIKey, allowRemote, forwardIP bool
	var federated federatedFlags
	limits := proxy.DefaultCallerLimits()
	cmd := &cobra.Command{
		Use:   "proxy --listen 127.0.0.1:PORT --upstream URL",
		Short: "Forward requests to an upstream with a tokenwright bearer token",
		Long: `A local reverse proxy for scripts and notebooks: every request to --listen is
forwarded to --upstream with "Authorization: Bearer <JWT>", obtained with the
client credentials from TOKENWRIGHT_CLIENT_ID / TOKENWRIGHT_CLIENT_SECRET (or
--client-id / --client-secret-file) and refreshed --refresh-margin before it
expires. Any Authorization or X-Api-Key header the caller sends is dropped.

With --accept-api-key it is a gateway for tools that can only send a static
key: each request brings a tokenwright key as "X-Api-Key: ACCOUNT:KEY" (or just
KEY with --client-id ACCOUNT) or as the Basic-auth password (user = account).
The gateway exchanges it for a JWT whose audience is the requested upstream URL
(plus --audience values), so tokenwright applies the key's status, expiry,
CIDR and URL-pattern limits, and re-checks every --revalidate. The key never
reaches the upstream. Request paths that an upstream could normalise into a
different path (";" parameters, encoded "." "/" "\" or "%", dot segments,
invalid UTF-8, look-alike characters) are refused with 400. Each caller
(address, IPv6 /64) has its own bucket (--caller-*): a caller whose requests
keep being refused gets 429 from the gateway without reaching tokenwright.
The caller's address is sent to tokenwright as X-Forwarded-For, which it
believes only if this gateway is in its trustedProxies.

The proxy listens on loopback only unless --allow-remote is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := proxy.CheckListen(listen, allowRemote); err != nil {
				return err
			}
			up, err := proxy.ParseUpstream(upstream)
			if err != nil {
				return err
			}
			issuer := ep.serverURL(getenv)
			hc, err := ep.httpClient()
			if err != nil {
				return err
			}
			clientID = firstOf(clientID, getenv.Get("TOKENWRIGHT_CLIENT_ID"))
			// Redaction at the sink: a key sent as the wrong field (a
			// swapped Basic user) must not reach the log.
			log := slog.New(slog.NewTextHandler(apikey.RedactWriter(cmd.ErrOrStderr()), nil))
			var h http.Handler
			if acceptAPIKey {
				if subject, err := federated.source(getenv, hc, issuer); err != nil || subject != nil {
					return errors.Join(err, usageErrorf("--accept-api-key: callers bring their own keys; a federated token is for the proxy's own token"))
				}
				rv, err := duration.Parse(revalidate)
				if err != nil || rv <= 0 {
					return usageErrorf("--revalidate: want a duration such as 5s, got %q", revalidate)
				}
				if h, err = proxy.NewGateway(proxy.GatewayConfig{Upstream: up, TokenURL: client.TokenURL(issuer), ClientID: clientID,
					Audiences: audiences, Scopes: scopes, Revalidate: rv, OmitClientIP: !forwardIP, Limits: &limits, Logger: log, HTTPClient: hc}); err != nil {
					return err
				}
			} else {
				subject, err := federated.source(getenv, hc, issuer)
				if err != nil {
					return err
				}
				var secret string
				if subject == nil {
					if secret, err = proxySecret(getenv, secretFile); err != nil {
						return err
					}
				} else if secretFile != "" {
					return usageErrorf("a federated token replaces the API key: give --client-secret-file or a federated token, not both")
				}
				if clientID == "" {
					return usageErrorf("--client-id (or TOKENWRIGHT_CLIENT_ID) is required")
				}
				m, err := duration.Parse(margin)
				if err != nil || m <= 0 {
					return usageErrorf("--refresh-margin: want a duration such as 60s, got %q", margin)
				}
				ts := client.TokenSource(context.WithoutCancel(cmd.Context()), client.TokenConfig{Issuer: issuer, ClientID: clientID,
					ClientSecret: secret, Scopes: scopes, Audiences: audiences, RefreshMargin: m, HTTPClient: hc, FederatedToken: subject})
				// Fail at start, not on the first request, if the credentials are wrong.
				if _, err := ts.Token(); err != nil {
					return fmt.Errorf("obtaining a token: %w", err)
				}
				h = proxy.NewInjector(proxy.InjectorConfig{Upstream: up, Tokens: ts, Logger: log})
			}
			return serveProxy(cmd, listen, up.String(), acceptAPIKey, h)
		},
	}
	f := cmd.Flags()
	ep.registerEndpoint(f, serverUsage)
	f.StringVar(&listen, "listen", "127.0.0.1:8081", "address to listen on (loopback unless --allow-remote)")
	f.StringVar(&upstream, "upstream", "", "base URL requests are forwarded to, e.g. https://domino.example.com")
	f.StringVar(&clientID, "client-id", "", "service account (env TOKENWRIGHT_CLIENT_ID); with --accept-api-key the account for bare keys")
	f.StringVar(&secretFile, "client-secret-file", "", "file holding the API key (else env TOKENWRIGHT_CLIENT_SECRET)")
	f.StringArrayVar(&scopes, "scope", nil, "scope to request (repeatable)")
	f.StringArrayVar(&audiences, "audience", nil, "audience to request (repeatable), e.g. what the upstream checks")
	f.StringVar(&margin, "refresh-margin", "60s", "fetch a new token this long before the current one expires")
	f.BoolVar(&acceptAPIKey, "accept-api-key", false, "gateway mode: callers authenticate with their own tokenwright key")
	f.StringVar(&revalidate, "revalidate", "5s", "gateway mode: how long a key check is reused (the most a revoked key keeps working)")
	f.BoolVar(&forwardIP, "forward-client-ip", true, "gateway mode: tell tokenwright the caller's address (X-Forwarded-For) so CIDR and per-address limits apply to it; believed only if tokenwright lists this gateway in trustedProxies")
	f.Float64Var(&limits.Rate, "caller-rate", limits.Rate, "gateway mode: tokens per second each caller's bucket regains (0: no per-caller limits)")
	f.Float64Var(&limits.Burst, "caller-burst", limits.Burst, "gateway mode: size of each caller's bucket")
	f.Float64Var(&limits.FailureCost, "caller-failure-cost", limits.FailureCost, "gateway mode: what a refused request (400, 401, 403) costs its caller")
	f.Float64Var(&limits.SuccessCost, "caller-success-cost", limits.SuccessCost, "gateway mode: what a request that needed a new token costs its caller (cached ones are free)")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow a --listen address that is not loopback")
	federated.register(f)
	_ = cmd.MarkFlagRequired("upstream")
	return cmd
}

// proxySecret reads the API key from a file (trimmed) or the environment;
// never from a flag, which other users could read in ps.
func proxySecret(getenv env, file string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading --client-secret-file: %w", err)
		}
		return strings.TrimSpace(string(data)), nil
	}
	if s := getenv.Get("TOKENWRIGHT_CLIENT_SECRET"); s != "" {
		return s, nil
	}
	return "", errors.New("no API key: set TOKENWRIGHT_CLIENT_SECRET or pass --client-secret-file")
}

func serveProxy(cmd *cobra.Command, listen, upstream string, gateway bool, h http.Handler) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	mode := "proxy"
	if gateway {
		mode = "API-key gateway"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "tokenwright %s listening on http://%s, forwarding to %s\n", mode, ln.Addr(), upstream)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-cmd.Context().Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
