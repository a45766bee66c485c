package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tokenwright/tokenwright/server/notify"
	"github.com/tokenwright/tokenwright/store"
)

// newNotifier builds the expiry-notice job from the configuration. A
// webhook must be signed: a URL without a secret is a configuration error.
func (s *Server) newNotifier(environ func(string) string) (*notify.Notifier, error) {
	wh := s.cfg.Notifications.Webhook
	var secret []byte
	if wh.URL != "" {
		v := environ("TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET")
		if v == "" && wh.SecretFile != "" {
			data, err := os.ReadFile(wh.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("notifications.webhook.secretFile: %w", err)
			}
			v = strings.TrimSpace(string(data))
		}
		if v == "" {
			return nil, errors.New("notifications.webhook.url is set but there is no secret: set TOKENWRIGHT_NOTIFICATIONS_WEBHOOK_SECRET or notifications.webhook.secretFile")
		}
		secret = []byte(v)
	}
	return notify.New(s.store, notify.Options{
		WebhookURL: wh.URL, Secret: secret, InitialBackoff: wh.RetryBackoff.Std(), Issuer: s.cfg.Issuer,
		Expiring: func(k store.Key) bool { return s.accounts.KeyStatus(k) == "expiring_soon" },
		Window:   s.cfg.Keys.ExpiringSoon.Std(),
		Logger:   s.log, Now: s.now,
	}), nil
}

// runNotifier checks for expiring credentials until ctx ends.
func (s *Server) runNotifier(ctx context.Context, n *notify.Notifier) {
	n.Run(ctx, s.cfg.Notifications.Interval.Std())
}
