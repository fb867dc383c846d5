// Package push is the "authenticator app notification" method: a phone
// running the Stepgate Authenticator (a web app the portal serves) gets a
// Web Push notification for each sign-in, and the user approves by typing
// the two-digit number the sign-in page shows. The phone is never told the
// number, so approving without looking at the sign-in page succeeds one
// time in 90. The phone signs every answer with an ECDSA P-256 key that
// never leaves it; the store accepts each approval once.
package push

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// Method is this method's name in the store, the logs and the Caddyfile.
const Method = "push"

// RequestLifetime is how long a request can be answered.
const RequestLifetime = 2 * time.Minute

// EnrolmentLifetime is how long a set-up QR code works.
const EnrolmentLifetime = 10 * time.Minute

// Failure counters in the store. BlockedKey marks the method blocked after
// a report of suspicious activity (until `stepgate user unlock`); IgnoredKey
// counts denied and unanswered requests in a row (push fatigue).
const (
	BlockedKey = "blocked:" + Method
	IgnoredKey = "ignored:" + Method
)

// Limits keep a user from being bombed with requests.
type Limits struct {
	// MaxPending is the most unanswered requests a user can have (3).
	MaxPending int
	// PerUser requests per Window (5 per 10 minutes).
	PerUser int
	Window  time.Duration
	// After PauseAfter denied or unanswered requests in a row (3), the
	// method pauses for Pause (15 minutes).
	PauseAfter int
	Pause      time.Duration
}

// WithDefaults fills unset limits.
func (l Limits) WithDefaults() Limits {
	if l.MaxPending <= 0 {
		l.MaxPending = 3
	}
	if l.PerUser <= 0 {
		l.PerUser = 5
	}
	if l.Window <= 0 {
		l.Window = 10 * time.Minute
	}
	if l.PauseAfter <= 0 {
		l.PauseAfter = 3
	}
	if l.Pause <= 0 {
		l.Pause = 15 * time.Minute
	}
	return l
}

// Sender delivers notifications to a device's Web Push subscription.
type Sender interface {
	// Check refuses a subscription the sender would not deliver to.
	Check(subscription string) error
	// Send delivers payload; an error wrapping ErrGone means the
	// subscription no longer exists.
	Send(ctx context.Context, subscription string, payload []byte, ttl time.Duration) error
	// PublicKey is the VAPID public key the app subscribes with.
	PublicKey(ctx context.Context) (string, error)
}

// Errors the portal turns into words for the user.
var (
	ErrUnknownDevice = errors.New("this device is not set up (it may have been removed)")
	ErrBadSignature  = errors.New("the request was not signed by this device")
	ErrNotPending    = errors.New("this request has expired or was already answered")
	ErrBadToken      = errors.New("this set-up code has expired or was already used; start the set-up again")
	ErrAlreadySetUp  = errors.New("this account has a sign-in method set up since this set-up code was made, so the code can't add a device")
	ErrStale         = errors.New("the device's clock is off, or the request is old; check the time on your phone")
)

// ErrBlocked is returned when the user reported a request as suspicious:
// the method stays off until an administrator unlocks the account.
var ErrBlocked error = blockedError{}

type blockedError struct{}

func (blockedError) Error() string {
	return "approval requests are blocked for this account after a report of suspicious activity"
}

// PausedError says the method is paused after too many denied or
// unanswered requests.
type PausedError struct{ Until time.Time }

func (e *PausedError) Error() string {
	return "approval requests are paused until " + e.Until.Format(time.RFC3339)
}

// LimitError says the user asked for too many requests.
type LimitError struct{ Retry time.Time }

func (e *LimitError) Error() string {
	return "too many approval requests; next at " + e.Retry.Format(time.RFC3339)
}

// Verifier sends approval requests and judges the answers.
type Verifier struct {
	Store interface {
		store.PushStore
		store.CounterStore
		store.CodeStore
		store.MethodStore
	}
	// Prefix is the portal's path prefix ("/.stepgate/").
	Prefix string
	// Host serves the device API's logging and counting.
	Host verifiers.Host
	// AppName is the authenticator's title for this gateway (the issuer).
	AppName string
	// Brand is the organisation's look: the Authenticator shows its name,
	// logo and colour as the portal's pages do.
	Brand verifiers.Brand
	// Sender delivers notifications; nil means none are sent (users open
	// the app to see requests).
	Sender Sender
	Limits Limits
	Log    *zap.Logger
	Now    func() time.Time
}

// Method implements verifiers.Verifier.
func (v *Verifier) Method() string { return Method }

// Blocked reports whether the user reported suspicious activity.
func (v *Verifier) Blocked(ctx context.Context, user string) (bool, error) {
	f, err := v.Store.Failures(ctx, user, BlockedKey)
	return f.Count > 0, err
}

// Enrolled implements verifiers.Verifier: a device, not blocked.
func (v *Verifier) Enrolled(ctx context.Context, user verifiers.User) (bool, error) {
	devs, err := v.Store.PushDevices(ctx, user.Name)
	if err != nil || len(devs) == 0 {
		return false, err
	}
	blocked, err := v.Blocked(ctx, user.Name)
	return !blocked, err
}

// Devices lists the user's devices.
func (v *Verifier) Devices(ctx context.Context, user string) ([]store.PushDevice, error) {
	return v.Store.PushDevices(ctx, user)
}

// paused reports until when the method is paused for the user.
func (v *Verifier) paused(ctx context.Context, user string) (time.Time, error) {
	// Requests nobody answered count as ignored once they expire.
	n, err := v.Store.ExpirePushRequests(ctx, user, v.Now())
	if err != nil {
		return time.Time{}, err
	}
	for range n {
		if _, err := v.Store.AddFailure(ctx, user, IgnoredKey, v.Now()); err != nil {
			return time.Time{}, err
		}
	}
	f, err := v.Store.Failures(ctx, user, IgnoredKey)
	if err != nil {
		return time.Time{}, err
	}
	l := v.Limits.WithDefaults()
	if until := f.Last.Add(l.Pause); f.Count >= l.PauseAfter && v.Now().Before(until) {
		return until, nil
	}
	return time.Time{}, nil
}

// Notification is the payload a phone receives (encrypted end to end) and
// what its app lists. It never carries the number to match: the user
// types the one the sign-in page shows.
type Notification struct {
	Request  string `json:"request"`
	Host     string `json:"host"`
	ClientIP string `json:"ip"`
	From     string `json:"from"` // ClientIP for people ("the server itself (::1)"), in a language
	Time     int64  `json:"time"` // unix milliseconds
	Expires  int64  `json:"expires"`
	User     string `json:"user"`
}

// NotificationOf is what a request looks like to the phone, with its
// From in l's language.
func NotificationOf(l *messages.Localizer, r store.PushRequest) Notification {
	return Notification{Request: r.ID, Host: r.Host, ClientIP: r.ClientIP, From: ReadableAddress(l, r.ClientIP), Time: r.Created.UnixMilli(),
		Expires: r.Expires.UnixMilli(), User: r.Username}
}

// Start implements verifiers.Verifier: it stores a request with a number
// to match and notifies every device of the user. The prompt's Show is the
// number for the sign-in page.
func (v *Verifier) Start(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (verifiers.Prompt, error) {
	if blocked, err := v.Blocked(ctx, user.Name); err != nil || blocked {
		if err == nil {
			err = ErrBlocked
		}
		return verifiers.Prompt{}, err
	}
	until, err := v.paused(ctx, user.Name)
	if err != nil {
		return verifiers.Prompt{}, err
	}
	if !until.IsZero() {
		return verifiers.Prompt{}, &PausedError{Until: until}
	}
	devs, err := v.Store.PushDevices(ctx, user.Name)
	if err != nil {
		return verifiers.Prompt{}, err
	}
	if len(devs) == 0 {
		return verifiers.Prompt{}, verifiers.ErrNotEnrolled
	}
	l := v.Limits.WithDefaults()
	now := v.Now()
	limit := []store.Limit{{Key: "push|" + user.Name, Max: l.PerUser, Window: l.Window}}
	if blocked, retry, err := v.Store.TakeSend(ctx, limit, now); err != nil {
		return verifiers.Prompt{}, err
	} else if blocked != nil {
		return verifiers.Prompt{}, &LimitError{Retry: retry}
	}
	number := matchNumber()
	req := store.PushRequest{ID: randomID(), ChallengeID: ch.ID, Username: user.Name, Number: number,
		ClientIP: ch.ClientIP, Host: ch.Host, Created: now, Expires: now.Add(RequestLifetime)}
	if err := v.Store.PutPushRequest(ctx, req, l.MaxPending); errors.Is(err, store.ErrTooManyPending) {
		return verifiers.Prompt{}, tooManyPending{err}
	} else if err != nil {
		return verifiers.Prompt{}, err
	}
	sent, gone, off := v.notify(ctx, devs, req)
	prompt := verifiers.Prompt{Input: "approval", Show: strconv.Itoa(number)}
	msg := messages.From(ctx)
	switch {
	case sent > 1:
		prompt.Message = msg.T("push.prompt.sent_many", "Count", sent)
	case sent > 0:
		prompt.Message = msg.T("push.prompt.sent", "Name", devs[0].Name)
	case gone > 0:
		prompt.Message = msg.T("push.prompt.gone")
	case off == len(devs):
		prompt.Message = msg.T("push.prompt.off")
	default:
		prompt.Message = msg.T("push.prompt.failed")
	}
	return prompt, nil
}

// notify sends the request to every device with a subscription and
// reports how many got it, how many subscriptions have gone, and how many
// devices have notifications off.
func (v *Verifier) notify(ctx context.Context, devs []store.PushDevice, req store.PushRequest) (sent, gone, off int) {
	if v.Sender == nil {
		return 0, 0, len(devs)
	}
	// The payload's From is in the sign-in page's language; the phone's
	// service worker says it again in its own (sw.js).
	payload, _ := json.Marshal(NotificationOf(messages.From(ctx), req))
	// All devices at once: a slow push service delays the sign-in page by
	// one timeout, not one per device.
	errs := make([]error, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		switch {
		case d.Gone:
			gone++
			continue
		case d.Subscription == "":
			off++
			continue
		}
		wg.Go(func() { errs[i] = v.Sender.Send(ctx, d.Subscription, payload, RequestLifetime) })
	}
	wg.Wait()
	for i, d := range devs {
		if d.Gone || d.Subscription == "" {
			continue
		}
		switch err := errs[i]; {
		case err == nil:
			sent++
		case errors.Is(err, ErrGone):
			gone++
			v.log().Warn("push subscription gone; the device must open the authenticator to renew it",
				zap.String("user", d.Username), zap.String("device", d.ID), zap.Error(err))
			// Keep the dead subscription: the app sends it back until it
			// has subscribed anew, and that must not revive it.
			if err := v.Store.SetPushSubscription(ctx, d.ID, d.Subscription, true); err != nil {
				v.log().Error("marking push subscription gone", zap.Error(err))
			}
		default:
			v.log().Error("sending push notification", zap.String("user", d.Username), zap.String("device", d.ID), zap.Error(err))
		}
	}
	return sent, gone, off
}

func (v *Verifier) log() *zap.Logger {
	if v.Log == nil {
		return zap.NewNop()
	}
	return v.Log
}

// Request returns the newest request of the sign-in ch.
func (v *Verifier) Request(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (store.PushRequest, error) {
	return v.Store.LatestPushRequest(ctx, ch.ID, user.Name, v.Now())
}

// Check implements verifiers.Verifier: the sign-in passes once its
// request was approved on the phone. input is ignored.
func (v *Verifier) Check(ctx context.Context, user verifiers.User, ch verifiers.Challenge, _ string) (verifiers.Result, error) {
	r, err := v.Request(ctx, user, ch)
	if errors.Is(err, store.ErrNotFound) {
		return verifiers.Expired, nil
	}
	if err != nil {
		return verifiers.Rejected, err
	}
	switch r.State {
	case store.PushPending:
		return verifiers.Pending, nil
	case store.PushApproved:
		ok, err := v.Store.SetPushState(ctx, r.ID, user.Name, store.PushApproved, store.PushUsed, r.Detail, "", v.Now())
		if err != nil {
			return verifiers.Rejected, err
		}
		if !ok {
			return verifiers.Replayed, nil
		}
		return verifiers.Accepted, nil
	case store.PushUsed:
		return verifiers.Replayed, nil
	case store.PushDenied, store.PushFraud:
		return verifiers.Rejected, nil
	}
	return verifiers.Expired, nil
}

// matchNumber picks the number to match, 10–99: the sign-in page shows
// it and the user types it on the phone.
func matchNumber() int {
	n, _ := rand.Int(rand.Reader, big.NewInt(90))
	return int(n.Int64()) + 10
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SignedText is what a device signs for action: a fixed prefix, the
// action and its fields, one per line. Fields never contain newlines (the
// API refuses them), so the text is unambiguous.
func SignedText(action string, fields ...string) []byte {
	return []byte("stepgate-push-v1\n" + action + "\n" + strings.Join(fields, "\n"))
}

// Errors of ParsePublicKey.
var (
	errKeyEncoding = errors.New("the device key is not base64url")
	errKeyCurve    = errors.New("the device key is not a P-256 public key")
)

// ParsePublicKey reads a device key: an uncompressed P-256 point, base64url.
func ParsePublicKey(b64 string) (*ecdsa.PublicKey, []byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil {
		return nil, nil, errKeyEncoding
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, nil, errKeyCurve
	}
	return pub, raw, nil
}

// verifySig checks a WebCrypto ECDSA-SHA256 signature (r‖s, 64 bytes,
// base64url) over text.
func verifySig(rawKey []byte, text []byte, sigB64 string) bool {
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sigB64, "="))
	if err != nil || len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(text)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, h[:], r, s)
}

// DeviceName cleans a name the user typed: trimmed, printable, at most 40
// characters; "" becomes "My phone" (in l's language). A name that can't
// be used is a *NameError.
func DeviceName(l *messages.Localizer, s string) (string, error) {
	name, err := verifiers.CredentialName(s, "device", l.T("push.device.default_name"))
	if err != nil {
		return "", &NameError{Err: err}
	}
	return name, nil
}

// ReadableAddress says where a sign-in came from in words a person
// follows, in l's language: an IPv4 address as such (not
// "::ffff:192.0.2.1"), the server's own loopback as "the server itself",
// private and link-local addresses marked as inside a network. Anything
// else is returned as it is.
//
// The Authenticator's service worker says it again in the phone's
// language (sw.js): keep the two in step.
func ReadableAddress(l *messages.Localizer, ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	switch s := a.String(); {
	case a.IsLoopback():
		return l.T("push.address.server", "Address", s)
	case a.IsPrivate(), a.IsLinkLocalUnicast():
		return l.T("push.address.private", "Address", s)
	default:
		return s
	}
}
