package push

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
)

// ErrGone means the push service no longer knows the subscription (404 or
// 410): the device must subscribe again.
var ErrGone = errors.New("the push subscription no longer exists")

// DefaultServices are the push services of current browsers: Chrome and
// other Chromium browsers (FCM), Firefox (Mozilla autopush), Safari
// (Apple) and Edge (WNS). A subscription's endpoint must be on one of them,
// or on a service the admin adds, so the gateway never posts to an
// arbitrary address a client chose.
var DefaultServices = []string{"fcm.googleapis.com", "android.googleapis.com", "push.services.mozilla.com", "push.apple.com", "notify.windows.com"}

// WebPush sends notifications with Web Push (RFC 8030), encrypted for the
// device (RFC 8291) and signed with the gateway's VAPID key (RFC 8292).
type WebPush struct {
	// Keys are the VAPID keys; when empty they are generated once and kept
	// in the store (sealed), so every instance uses the same ones.
	Keys    VAPIDKeys
	Store   store.SettingStore
	Sealer  *store.Sealer
	Contact string // VAPID subject: mailto: address or https URL
	// Services the endpoint's host must be (or be under). Entries may be
	// host or host:port; "http://host:port" also allows plain HTTP there
	// (a test service).
	Services []string
	Client   *http.Client

	mu     sync.Mutex
	loaded VAPIDKeys
}

// VAPIDKeys is a P-256 key pair, base64url: the private scalar and the
// uncompressed public point.
type VAPIDKeys struct {
	Public  string `json:"public"`
	Private string `json:"private"`
}

// Check validates a VAPID key pair.
func (k VAPIDKeys) Check() error {
	priv, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.Private, "="))
	if err != nil {
		return errors.New("vapid private key is not base64url")
	}
	key, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return errors.New("vapid private key is not a P-256 key")
	}
	if base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes()) != strings.TrimRight(k.Public, "=") {
		return errors.New("vapid public key does not belong to the private key")
	}
	return nil
}

// NewClient is the HTTP client for push services: a 5 s timeout (the
// sign-in page waits for it; the request can still be approved from the
// app), and no redirects (a redirect could lead anywhere).
func NewClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

const vapidSetting = "push.vapid"

// keys returns the VAPID keys, generating and storing them on first use.
func (w *WebPush) keys(ctx context.Context) (VAPIDKeys, error) {
	if w.Keys.Private != "" {
		return w.Keys, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.loaded.Private != "" {
		return w.loaded, nil
	}
	stored, err := w.Store.Setting(ctx, vapidSetting)
	if errors.Is(err, store.ErrNotFound) {
		priv, pub, gerr := webpush.GenerateVAPIDKeys()
		if gerr != nil {
			return VAPIDKeys{}, gerr
		}
		sealed, serr := w.Sealer.Seal(vapidSetting, []byte(priv))
		if serr != nil {
			return VAPIDKeys{}, serr
		}
		b, _ := json.Marshal(VAPIDKeys{Public: pub, Private: base64.RawURLEncoding.EncodeToString(sealed)})
		stored, err = w.Store.InitSetting(ctx, vapidSetting, string(b))
	}
	if err != nil {
		return VAPIDKeys{}, err
	}
	var k VAPIDKeys
	if err := json.Unmarshal([]byte(stored), &k); err != nil {
		return VAPIDKeys{}, fmt.Errorf("stored VAPID keys: %w", err)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(k.Private)
	if err != nil {
		return VAPIDKeys{}, fmt.Errorf("stored VAPID keys: %w", err)
	}
	priv, err := w.Sealer.Open(vapidSetting, sealed)
	if err != nil {
		return VAPIDKeys{}, fmt.Errorf("stored VAPID keys (was the secret changed?): %w", err)
	}
	k.Private = strings.TrimRight(string(priv), "=")
	k.Public = strings.TrimRight(k.Public, "=")
	w.loaded = k
	return k, nil
}

// PublicKey implements Sender.
func (w *WebPush) PublicKey(ctx context.Context) (string, error) {
	k, err := w.keys(ctx)
	return k.Public, err
}

// subscriptionError is a subscription parse refuses: its words in English
// for the log, and its message's ID (with arguments) for the device's
// user.
type subscriptionError struct {
	msg  string
	id   string
	args []any
}

func (e *subscriptionError) Error() string { return e.msg }

// subscriptionProblem is the words for the device's user about err, a
// Sender's refusal of a subscription.
func subscriptionProblem(l *messages.Localizer, err error) string {
	var se *subscriptionError
	if errors.As(err, &se) {
		return l.T(se.id, se.args...)
	}
	return l.T("push.api.subscription.unusable", "Reason", err.Error())
}

func (w *WebPush) parse(sub string) (*webpush.Subscription, error) {
	var s webpush.Subscription
	if len(sub) > 4096 || json.Unmarshal([]byte(sub), &s) != nil {
		return nil, &subscriptionError{msg: "not a push subscription (JSON with endpoint and keys)", id: "push.api.subscription.not_subscription"}
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, &subscriptionError{msg: "the endpoint is not a URL", id: "push.api.subscription.not_url"}
	}
	if !w.allowed(u) {
		allowed := strings.Join(append(DefaultServices, w.Services...), ", ")
		return nil, &subscriptionError{msg: fmt.Sprintf("push service %s is not allowed (allowed: %s)", u.Host, allowed),
			id: "push.api.subscription.not_allowed", args: []any{"Service", u.Host, "Allowed", allowed}}
	}
	p256dh, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s.Keys.P256dh, "="))
	if err != nil {
		return nil, &subscriptionError{msg: "keys.p256dh is not base64url", id: "push.api.subscription.p256dh_not_base64"}
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return nil, &subscriptionError{msg: "keys.p256dh is not a P-256 public key", id: "push.api.subscription.p256dh_not_p256"}
	}
	if auth, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s.Keys.Auth, "=")); err != nil || len(auth) != 16 {
		return nil, &subscriptionError{msg: "keys.auth is not a 16-byte base64url secret", id: "push.api.subscription.auth_not_secret"}
	}
	return &s, nil
}

// allowed reports whether u is on an allowed push service.
func (w *WebPush) allowed(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	for _, s := range w.Services {
		plain, isHTTP := strings.CutPrefix(strings.ToLower(s), "http://")
		plain = strings.TrimPrefix(plain, "https://")
		if (u.Scheme == "https" || (isHTTP && u.Scheme == "http")) && strings.EqualFold(u.Host, plain) {
			return true
		}
	}
	if u.Scheme != "https" || u.Port() != "" || net.ParseIP(host) != nil {
		return false
	}
	for _, s := range DefaultServices {
		if host == s || strings.HasSuffix(host, "."+s) {
			return true
		}
	}
	return false
}

// Check implements Sender.
func (w *WebPush) Check(sub string) error {
	_, err := w.parse(sub)
	return err
}

// SendError is a push service's refusal.
type SendError struct {
	Status int
	Body   string
}

func (e *SendError) Error() string {
	switch {
	case e.Status == http.StatusTooManyRequests:
		return "the push service is rate-limiting us (429)"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return fmt.Sprintf("the push service refused our VAPID signature (%d): %s", e.Status, e.Body)
	}
	return fmt.Sprintf("the push service answered %d: %s", e.Status, e.Body)
}

// Send implements Sender.
func (w *WebPush) Send(ctx context.Context, sub string, payload []byte, ttl time.Duration) error {
	s, err := w.parse(sub)
	if err != nil {
		return err
	}
	k, err := w.keys(ctx)
	if err != nil {
		return err
	}
	client := w.Client
	if client == nil {
		client = NewClient()
	}
	resp, err := webpush.SendNotificationWithContext(ctx, payload, s, &webpush.Options{
		HTTPClient: client,
		// webpush-go adds "mailto:" itself unless the subject is a URL.
		Subscriber:      strings.TrimPrefix(w.Contact, "mailto:"),
		TTL:             int(ttl / time.Second),
		Urgency:         webpush.UrgencyHigh,
		VAPIDPublicKey:  k.Public,
		VAPIDPrivateKey: k.Private,
	})
	if err != nil {
		return fmt.Errorf("push service unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("%w (%d)", ErrGone, resp.StatusCode)
	}
	return &SendError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
}
