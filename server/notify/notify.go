// Package notify sends "expiring soon" notices for API keys and personal
// access tokens: once per credential, as a signed webhook (JSON POST,
// HMAC-SHA256 over "timestamp.body", retried with exponential backoff),
// a log line and an audit event.
//
// Exactly once, across restarts and replicas: a credential is claimed by
// setting Key.ExpiryNoticeAt through the store's atomic UpdateKey (a bbolt
// transaction, an etcd compare-and-swap) before anything is sent; whoever
// loses the race skips it. If delivery finally fails the claim is released
// so that a later run tries again.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/tokenwright/tokenwright/pkg/buildinfo"
	"github.com/tokenwright/tokenwright/server/accounts"
	"github.com/tokenwright/tokenwright/store"
)

// Header names of a webhook delivery.
const (
	HeaderTimestamp = "X-Tokenwright-Timestamp"
	HeaderSignature = "X-Tokenwright-Signature"
	HeaderEvent     = "X-Tokenwright-Event"
	HeaderDelivery  = "X-Tokenwright-Delivery"
)

// EventKeyExpiringSoon is the event name in the payload, header and audit trail.
const EventKeyExpiringSoon = "key.expiring_soon"

// Options configure a Notifier.
type Options struct {
	// WebhookURL receives the notices; empty means log and audit only.
	WebhookURL string
	Secret     []byte
	// MaxAttempts per notice (default 5); the wait doubles from
	// InitialBackoff (default 1 s) up to a minute.
	MaxAttempts    int
	InitialBackoff time.Duration
	// Issuer names this tokenwright in the payload.
	Issuer     string
	HTTPClient *http.Client
	Logger     zerolog.Logger
	Now        func() time.Time
	// Delivered, if set, is told each delivery's final result: true when
	// the webhook accepted it, false when every attempt failed (metrics).
	Delivered func(ok bool)
}

// Notifier finds expiring credentials and notifies about each once.
type Notifier struct {
	store store.Store
	// rules decides which credentials are expiring soon (KeyStatus) and
	// composes the audit events, as for every other action.
	rules *accounts.Service
	opts  Options
}

// New returns a Notifier over s, whose account rules are rules.
func New(s store.Store, rules *accounts.Service, opts Options) *Notifier {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = time.Second
	}
	// A copy whose requests say User-Agent: tokenwright/VERSION.
	opts.HTTPClient = buildinfo.Client(opts.HTTPClient, 15*time.Second)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Notifier{store: s, rules: rules, opts: opts}
}

// Run checks now and then every interval until ctx ends.
func (n *Notifier) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := n.RunOnce(ctx); err != nil && ctx.Err() == nil {
			n.opts.Logger.Error().Err(err).Msg("expiry notices: run failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Payload is the JSON body of a notice.
type Payload struct {
	Event    string     `json:"event"`
	Delivery string     `json:"delivery"`
	Time     time.Time  `json:"time"`
	Issuer   string     `json:"issuer,omitempty"`
	Key      PayloadKey `json:"key"`
}

// PayloadKey describes the credential; never its secret or hash.
type PayloadKey struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`     // service_account or personal
	ClientID  string    `json:"clientId"` // the owning account or user
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expiresAt"`
	Status    string    `json:"status"`
}

var errClaimed = errors.New("notice already claimed")

// RunOnce notifies about every credential that entered its expiring-soon
// window without a notice yet, and returns how many notices it sent.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	// Only keys expiring within the window: an expiry index answers that
	// without reading every key.
	now := n.opts.Now()
	q := store.KeyQuery{WithoutExpiryNotice: true, ExpiresAfter: now, ExpiresBefore: now.Add(n.rules.Policy().ExpiringSoon)}
	keys, err := n.store.ListKeys(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("listing keys: %w", err)
	}
	sent := 0
	var errs []error
	for _, k := range keys {
		if !k.ExpiryNoticeAt.IsZero() || !n.expiring(k) {
			continue
		}
		ok, err := n.notify(ctx, k)
		if ok {
			sent++
		}
		if err != nil {
			// The webhook (or the store) is failing: the other notices
			// would spend their retries on it too. They wait for the next
			// run, unclaimed.
			errs = append(errs, err)
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	return sent, errors.Join(errs...)
}

// notify claims k and sends its notice; false means another run had it.
//
// The audit event of a notice is stored with the write that settles it:
// without a webhook, the claim itself; with one, the write that confirms
// the claim after delivery or gives it back after a failure. A claim whose
// confirmation (with its event) cannot be stored is given back, so that the
// notice is sent again, and audited, by a later run.
func (n *Notifier) notify(ctx context.Context, k store.Key) (bool, error) {
	claimedAt := n.opts.Now().UTC()
	delivery := newID()
	hooked := n.opts.WebhookURL != ""
	claimCtx := ctx
	var seen store.Key // the key as the current attempt of the claim saw it
	if !hooked {
		claimCtx = store.WithAudit(ctx, n.event(claimedAt, k, delivery, "disabled", nil), func(e *store.AuditEvent) {
			*e = n.event(claimedAt, seen, delivery, "disabled", nil)
		})
	}
	claimed, err := n.store.UpdateKey(claimCtx, k.ID, func(cur store.Key) (store.Key, error) {
		if !cur.ExpiryNoticeAt.IsZero() || !n.expiring(cur) {
			return cur, errClaimed
		}
		cur.ExpiryNoticeAt = claimedAt
		seen = cur
		return cur, nil
	})
	if errors.Is(err, errClaimed) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claiming key %s: %w", k.ID, err)
	}

	p := Payload{Event: EventKeyExpiringSoon, Delivery: delivery, Time: claimedAt, Issuer: n.opts.Issuer,
		Key: PayloadKey{ID: claimed.ID, Kind: string(claimed.Kind), ClientID: claimed.Owner, Name: claimed.Name,
			ExpiresAt: claimed.ExpiresAt.UTC(), Status: string(accounts.KeyExpiringSoon)}}
	webhook := "disabled"
	var sendErr error
	if hooked {
		if sendErr = n.deliver(ctx, p); sendErr == nil {
			webhook = "delivered"
		} else {
			webhook = "failed"
		}
		if n.opts.Delivered != nil {
			n.opts.Delivered(sendErr == nil)
		}
	}
	log := n.opts.Logger.Info()
	if sendErr != nil {
		log = n.opts.Logger.Error().Err(sendErr)
	}
	log.Str("event", EventKeyExpiringSoon).Str("client_id", claimed.Owner).Str("key_id", claimed.ID).Str("kind", string(claimed.Kind)).
		Time("expires_at", claimed.ExpiresAt).Str("webhook", webhook).Msg("credential expires soon")
	if !hooked {
		return true, nil // the claim stored the event
	}

	actx := context.WithoutCancel(ctx)
	ev := n.event(claimedAt, claimed, delivery, webhook, sendErr)
	ours := func(cur store.Key) error {
		if !cur.ExpiryNoticeAt.Equal(claimedAt) {
			return errClaimed
		}
		return nil
	}
	if sendErr == nil {
		// Delivered: keep the claim, confirmed together with the event.
		_, err := n.store.UpdateKey(store.WithAudit(actx, ev, nil), claimed.ID, func(cur store.Key) (store.Key, error) {
			return cur, ours(cur)
		})
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, errClaimed) || errors.Is(err, store.ErrNotFound):
			// The claim is no longer ours to confirm (the key changed or
			// went); the notice went out all the same.
			n.rules.RecordEvent(actx, ev)
			return true, nil
		}
		n.release(actx, claimedAt, claimed.ID, nil)
		return false, fmt.Errorf("notice for key %s delivered, but its audit event could not be stored; it will be sent again: %w", claimed.ID, err)
	}
	// Give the notice back, with the failure event, so that the next run
	// retries it, unless someone changed the claim meanwhile.
	n.release(actx, claimedAt, claimed.ID, &ev)
	return false, fmt.Errorf("notice for key %s: %w", claimed.ID, sendErr)
}

// release gives a claim back (unless it changed meanwhile) and stores ev
// with it; if that write fails, ev is recorded on its own, best-effort.
func (n *Notifier) release(ctx context.Context, claimedAt time.Time, id string, ev *store.AuditEvent) {
	wctx := ctx
	if ev != nil {
		wctx = store.WithAudit(ctx, *ev, nil)
	}
	_, err := n.store.UpdateKey(wctx, id, func(cur store.Key) (store.Key, error) {
		if !cur.ExpiryNoticeAt.Equal(claimedAt) {
			return cur, errClaimed
		}
		cur.ExpiryNoticeAt = time.Time{}
		return cur, nil
	})
	if err == nil {
		return
	}
	if !errors.Is(err, errClaimed) && !errors.Is(err, store.ErrNotFound) {
		n.opts.Logger.Error().Err(err).Str("key_id", id).Msg("releasing the expiry notice claim failed")
	}
	if ev != nil {
		n.rules.RecordEvent(ctx, *ev)
	}
}

// expiring reports whether k is in its expiring-soon window now.
func (n *Notifier) expiring(k store.Key) bool {
	return n.rules.KeyStatus(k) == accounts.KeyExpiringSoon
}

// event is the audit record of one notice, composed by the account rules
// like every other event (result, redaction); at is kept as its time.
func (n *Notifier) event(at time.Time, k store.Key, delivery, webhook string, sendErr error) store.AuditEvent {
	details := map[string]string{"keyId": k.ID, "kind": string(k.Kind), "name": k.Name,
		"expiresAt": k.ExpiresAt.UTC().Format(time.RFC3339), "webhook": webhook, "delivery": delivery}
	ev := n.rules.Event(accounts.SystemActor, EventKeyExpiringSoon, k.Owner, sendErr, details)
	ev.Time = at
	return ev
}

// deliver POSTs p until it is accepted (2xx) or the attempts run out.
func (n *Notifier) deliver(ctx context.Context, p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	wait := n.opts.InitialBackoff
	var last error
	for attempt := 1; attempt <= n.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return errors.Join(last, ctx.Err())
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Minute)
		}
		if last = n.post(ctx, p, body); last == nil {
			return nil
		}
		n.opts.Logger.Warn().Err(last).Int("attempt", attempt).Str("delivery", p.Delivery).Msg("expiry notice webhook failed")
	}
	return fmt.Errorf("webhook failed after %d attempts: %w", n.opts.MaxAttempts, last)
}

func (n *Notifier) post(ctx context.Context, p Payload, body []byte) error {
	// Signed per attempt: the timestamp is when this attempt was sent, so
	// receivers can refuse stale (replayed) deliveries.
	ts := strconv.FormatInt(n.opts.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.opts.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(n.opts.Secret, ts, body))
	req.Header.Set(HeaderEvent, p.Event)
	req.Header.Set(HeaderDelivery, p.Delivery)
	resp, err := n.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// Sign returns the X-Tokenwright-Signature value: "sha256=" and the hex
// HMAC-SHA256 of "timestamp.body" under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery as a receiver should: the signature in constant
// time, and the timestamp within tolerance of now.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside the tolerance")
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return errors.New("bad signature")
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms (Go 1.24+)
	return hex.EncodeToString(b)
}
