package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tokenwright/tokenwright/pkg/api"
)

// DominoSetup returns the guided Domino configuration for site (empty: the
// server's first domino.sites entry) and, if account is not empty, for that
// service account only.
func (c *Client) DominoSetup(ctx context.Context, site, account string) (api.DominoSetup, error) {
	q := url.Values{}
	if site != "" {
		q.Set("site", site)
	}
	if account != "" {
		q.Set("account", account)
	}
	var out api.DominoSetup
	return out, c.do(ctx, http.MethodGet, p("domino", "setup"), q, nil, &out)
}
