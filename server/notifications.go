package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tokenwright/tokenwright/server/metrics"
	"github.com/tokenwright/tokenwright/server/notify"
)

// webhookSecret reads the webhook's signing secret. A webhook must be
// signed: a URL without a secret is a configuration error, found before
// New writes anything to the data directory.
func (s *Server) webhookSecret(environ func(string) string) ([]byte, error) {
	wh := s.cfg.Notifications.Webhook
	if wh.URL == "" {
		return nil, nil
	}
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
	return []byte(v), nil
}

// newNotifier builds the expiry-notice job over the opened store.
func (s *Server) newNotifier(secret []byte) *notify.Notifier {
	wh := s.cfg.Notifications.Webhook
	return notify.New(s.store, s.accounts, notify.Options{
		WebhookURL: wh.URL, Secret: secret, InitialBackoff: wh.RetryBackoff.Std(), Issuer: s.cfg.Issuer,
		Logger: s.log, Now: s.now, HTTPClient: s.webhookClient(),
		Delivered: func(ok bool) {
			if ok {
				s.metrics.WebhookDelivery(metrics.WebhookDelivered)
			} else {
				s.metrics.WebhookDelivery(metrics.WebhookFailed)
			}
		},
	})
}

// runNotifier checks for expiring credentials until ctx ends.
func (s *Server) runNotifier(ctx context.Context, n *notify.Notifier) {
	n.Run(ctx, s.cfg.Notifications.Interval.Std())
}
