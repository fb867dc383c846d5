package push

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// NewEnrolment makes a one-time token that lets one device enrol for user
// during the sign-in ch (the set-up QR code carries it). first marks a
// token of first-sign-in registration: it enrols nothing once the user
// has any method.
func (v *Verifier) NewEnrolment(ctx context.Context, user verifiers.User, ch verifiers.Challenge, first bool, until time.Time) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	if first {
		token = FirstTokenPrefix + token
	} else {
		token = "a-" + token
	}
	expires := v.Now().Add(EnrolmentLifetime)
	if !until.IsZero() && until.Before(expires) {
		expires = until
	}
	return token, v.Store.PutPushEnrolment(ctx, tokenHash(token), ch.ID, user.Name, expires, first)
}

// FirstTokenPrefix starts the set-up tokens of first-sign-in
// registration; the device API refuses them once registration is turned
// off. The prefix is part of the hashed token, so changing it makes an
// unknown token.
const FirstTokenPrefix = "r-"

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// EnrolledDevice returns the device enrolled by the unfinished set-up of
// the sign-in ch, or store.ErrNotFound while none has (or once the set-up
// is finished).
func (v *Verifier) EnrolledDevice(ctx context.Context, ch verifiers.Challenge) (store.PushDevice, error) {
	return v.Store.PushEnrolled(ctx, ch.ID)
}

// FinishEnrolment marks the set-up of the sign-in ch finished and returns
// its device. It succeeds once, for the user whose set-up enrolled a
// device that still exists; every other call returns store.ErrNotFound,
// so a replayed set-up page cannot finish a sign-in again.
func (v *Verifier) FinishEnrolment(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (store.PushDevice, error) {
	return v.Store.FinishPushEnrolment(ctx, ch.ID, user.Name)
}

// Enrolment is what the app sends to enrol: the token from the QR code,
// its public key, its push subscription (optional) and a name, signed
// with the new key.
type Enrolment struct {
	Token        string `json:"token"`
	PublicKey    string `json:"key"`
	Subscription string `json:"subscription"`
	Name         string `json:"name"`
	Sig          string `json:"sig"`
}

// InputError is bad input from a device, with words for the person (in
// the language of the request).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// EnrolDevice stores a new device for the token's user and returns it with the
// sign-in that issued the token. A token of first-sign-in registration
// whose user has set up any method since it was issued (a set-up link an
// attacker kept) enrols nothing: ErrAlreadySetUp.
func (v *Verifier) EnrolDevice(ctx context.Context, e Enrolment) (store.PushDevice, string, error) {
	l := messages.From(ctx)
	_, raw, err := ParsePublicKey(e.PublicKey)
	switch {
	case errors.Is(err, errKeyEncoding):
		return store.PushDevice{}, "", &InputError{l.T("push.api.key_not_base64")}
	case err != nil:
		return store.PushDevice{}, "", &InputError{l.T("push.api.key_not_p256")}
	}
	if e.Token == "" || len(e.Token) > 100 {
		return store.PushDevice{}, "", ErrBadToken
	}
	if !verifySig(raw, SignedText("enrol", e.Token, e.PublicKey), e.Sig) {
		return store.PushDevice{}, "", ErrBadSignature
	}
	name, err := DeviceName(l, e.Name)
	if err != nil {
		return store.PushDevice{}, "", nameInput(l, err)
	}
	if err := v.checkSubscription(l, e.Subscription); err != nil {
		return store.PushDevice{}, "", err
	}
	d := store.PushDevice{ID: randomID(), Name: name, PublicKey: raw, Subscription: e.Subscription}
	d, ch, err := v.Store.EnrolPushDevice(ctx, tokenHash(e.Token), d, v.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return d, "", ErrBadToken
	case errors.Is(err, store.ErrAlreadySetUp):
		return d, "", ErrAlreadySetUp
	}
	return d, ch, err
}

// nameInput is the InputError of DeviceName's error.
func nameInput(l *messages.Localizer, err error) error {
	if ne, ok := err.(*NameError); ok {
		return &InputError{ne.inApp(l)}
	}
	return &InputError{err.Error()}
}

func (v *Verifier) checkSubscription(l *messages.Localizer, sub string) error {
	if sub == "" {
		return nil
	}
	if v.Sender == nil {
		return &InputError{l.T("push.api.no_notifications")}
	}
	if err := v.Sender.Check(sub); err != nil {
		return &InputError{subscriptionProblem(l, err)}
	}
	return nil
}

// clockSkew bounds how old (or how far ahead) a signed device request's
// timestamp may be.
const clockSkew = 5 * time.Minute

// Signed is a request from an enrolled device: its ID, a timestamp (unix
// milliseconds) and its signature over the action's text.
type Signed struct {
	Device string `json:"device"`
	Time   int64  `json:"ts"`
	Sig    string `json:"sig"`
}

// device checks a signed request for action with extra fields and returns
// the device that signed it.
func (v *Verifier) device(ctx context.Context, s Signed, action string, fields ...string) (store.PushDevice, error) {
	if s.Device == "" || len(s.Device) > 64 {
		return store.PushDevice{}, ErrUnknownDevice
	}
	d, err := v.Store.PushDevice(ctx, s.Device)
	if errors.Is(err, store.ErrNotFound) {
		return d, ErrUnknownDevice
	}
	if err != nil {
		return d, err
	}
	for _, f := range fields {
		if strings.ContainsAny(f, "\n\r") {
			return d, ErrBadSignature
		}
	}
	text := SignedText(action, append([]string{s.Device, strconv.FormatInt(s.Time, 10)}, fields...)...)
	if !verifySig(d.PublicKey, text, s.Sig) {
		return d, ErrBadSignature
	}
	if at := time.UnixMilli(s.Time); at.Before(v.Now().Add(-clockSkew)) || at.After(v.Now().Add(clockSkew)) {
		return d, ErrStale
	}
	return d, nil
}

// Pending lists the live requests of the signing device's user, newest
// first. The app sends its current subscription along: a new one replaces
// the stored one (renewing a gone subscription); the gone one itself
// changes nothing.
func (v *Verifier) Pending(ctx context.Context, s Signed, subscription string) (store.PushDevice, []store.PushRequest, error) {
	d, err := v.device(ctx, s, "pending", subscription)
	if err != nil {
		return d, nil, err
	}
	if subscription != "" && subscription != d.Subscription {
		if err := v.checkSubscription(messages.From(ctx), subscription); err != nil {
			return d, nil, err
		}
		if err := v.Store.SetPushSubscription(ctx, d.ID, subscription, false); err != nil {
			return d, nil, err
		}
		d.Subscription, d.Gone = subscription, false
	}
	reqs, err := v.Store.PendingPushRequests(ctx, d.Username, v.Now())
	return d, reqs, err
}

// RenameDevice sets the signing device's name.
func (v *Verifier) RenameDevice(ctx context.Context, s Signed, name string) (store.PushDevice, error) {
	d, err := v.device(ctx, s, "rename", name)
	if err != nil {
		return d, err
	}
	l := messages.From(ctx)
	if d.Name, err = DeviceName(l, name); err != nil {
		return d, nameInput(l, err)
	}
	return d, v.Store.RenamePushDevice(ctx, d.ID, d.Name)
}

// Decisions a device can send.
const (
	Approve = "approve"
	Deny    = "deny"
	Report  = "report" // deny, and report suspicious activity
)

// Answer is a device's answer to a request. Number is what the user typed
// (0 with a denial).
type Answer struct {
	Signed
	Request  string `json:"request"`
	Number   int    `json:"number"`
	Decision string `json:"decision"`
}

// Outcome is what an answer did.
type Outcome string

const (
	Approved    Outcome = "approved"
	Denied      Outcome = "denied"
	WrongNumber Outcome = "wrong-number"
	Reported    Outcome = "reported"
)

// Answer records a device's answer. Approvals need the right number; a
// wrong one denies the request. Of racing answers exactly one is recorded.
func (v *Verifier) Answer(ctx context.Context, a Answer) (store.PushDevice, store.PushRequest, Outcome, error) {
	var req store.PushRequest
	switch a.Decision {
	case Approve, Deny, Report:
	default:
		return store.PushDevice{}, req, "", &InputError{messages.From(ctx).T("push.api.unknown_decision", "Decision", strconv.Quote(a.Decision))}
	}
	d, err := v.device(ctx, a.Signed, "answer", a.Request, strconv.Itoa(a.Number), a.Decision)
	if err != nil {
		return d, req, "", err
	}
	pending, err := v.Store.PendingPushRequests(ctx, d.Username, v.Now())
	if err != nil {
		return d, req, "", err
	}
	found := false
	for _, r := range pending {
		if r.ID == a.Request {
			req, found = r, true
		}
	}
	if !found {
		return d, req, "", ErrNotPending
	}
	to, detail, outcome := store.PushApproved, "approved on "+d.Name, Approved
	switch {
	case a.Decision == Report:
		to, detail, outcome = store.PushFraud, "reported as suspicious on "+d.Name, Reported
	case a.Decision == Deny:
		to, detail, outcome = store.PushDenied, "denied on "+d.Name, Denied
	case a.Number != req.Number:
		to, detail, outcome = store.PushDenied, "wrong number picked on "+d.Name, WrongNumber
	}
	ok, err := v.Store.SetPushState(ctx, req.ID, d.Username, store.PushPending, to, detail, d.ID, v.Now())
	if err != nil {
		return d, req, "", err
	}
	if !ok {
		return d, req, "", ErrNotPending
	}
	req.State, req.Detail, req.Device = to, detail, d.ID
	switch outcome {
	case Approved:
		err = v.Store.ResetFailures(ctx, d.Username, IgnoredKey)
	case Reported:
		if _, err = v.Store.AddFailure(ctx, d.Username, BlockedKey, v.Now()); err == nil {
			_, err = v.Store.AddFailure(ctx, d.Username, IgnoredKey, v.Now())
		}
	default:
		_, err = v.Store.AddFailure(ctx, d.Username, IgnoredKey, v.Now())
	}
	return d, req, outcome, err
}
