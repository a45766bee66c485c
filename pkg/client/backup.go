package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Backup streams a consistent snapshot of the server's database into w
// (administrators only) and returns its length. A copy shorter than the
// announced length is an error, never a silent partial backup.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	u := *c.base
	u.Path += "/api/v1/backup"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	// The snapshot may take longer than the client's usual timeout.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_error", strings.TrimSpace(string(data))
		}
		return 0, e
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("client: backup interrupted after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("client: backup truncated: %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}
