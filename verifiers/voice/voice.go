// Package voice is the "phone call" method. In press_key mode the call
// says the app's name and asks the user to press # to finish signing in
// (0 then # reports fraud); Twilio calls back with the keys pressed. In
// read_code mode the call reads a 6-digit code aloud twice and the user
// types it, for deployments Twilio cannot call back into.
package voice

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/sms"
)

// Method is this method's name in the store, the logs and the Caddyfile.
const Method = "voice"

// Mode is how a call verifies the user.
type Mode string

const (
	PressKey Mode = "press_key"
	ReadCode Mode = "read_code"
)

// CallLifetime is how long a press-# call can be answered.
const CallLifetime = 2 * time.Minute

// GatherPath and StatusPath are where Twilio posts the key pressed and the
// call's final status, under the portal's prefix.
const (
	GatherPath = "twilio/voice/gather"
	StatusPath = "twilio/voice/status"
)

// Caller places a call that plays TwiML. statusCallback, when set, is the
// URL Twilio posts the call's final status to.
type Caller interface {
	Call(ctx context.Context, to, twiml, statusCallback string) error
}

// ErrBlocked is returned when the user reported fraud on a call: the method
// stays off until an administrator unlocks the account.
var ErrBlocked error = blockedError{}

type blockedError struct{}

func (blockedError) Error() string {
	return "phone calls are blocked for this account after a fraud report"
}

// BlockedKey is the failure counter that marks the method blocked; `stepgate
// user unlock` clears it with the others.
const BlockedKey = "blocked:" + Method

// Verifier places and judges calls.
type Verifier struct {
	// Codes sends read_code calls and keeps the sending limits for both
	// modes (its MethodName is "voice").
	Codes *sms.Verifier
	Store interface {
		store.SecurityInfoStore
		store.CallStore
		store.CounterStore
		store.MethodStore
	}
	Caller Caller
	Mode   Mode
	// PublicURL is the gateway's address as Twilio reaches it, e.g.
	// https://auth.example.com; callbacks go to PublicURL/.stepgate/….
	PublicURL string
	Prefix    string // the portal's path prefix, "/.stepgate/"
	AppName   string
	Now       func() time.Time
	// AuthToken checks the X-Twilio-Signature of callbacks; empty (the
	// outbox) refuses every callback.
	AuthToken string
	// LoopbackOnly: the development outbox, serving only this machine.
	LoopbackOnly bool
	// Simulate shows buttons that answer the call (the outbox).
	Simulate bool
	// EnrolPhone offers setting up a phone with a code read out by a call
	// (when texts, which do it otherwise, are off).
	EnrolPhone bool
	// Host serves the callbacks' logging and counting.
	Host verifiers.Host
	Log  *zap.Logger
	// Languages are the portal's languages (its offer and the
	// administrator's overrides), for what a call says after Twilio's
	// callback, in the language the call was placed in. nil: every
	// language Stepgate speaks, without overrides.
	Languages *messages.Set
}

// NewCodes configures an sms.Verifier to deliver codes by voice.
func NewCodes(base sms.Verifier, caller Caller, appName string) *sms.Verifier {
	base.MethodName = Method
	base.Sender = spokenCode{caller: caller, appName: appName}
	base.Message = func(code string) string { return code }
	base.Prompt = func(l *messages.Localizer, masked string) string { return l.T("voice.calling.prompt", "Phone", masked) }
	return &base
}

// spokenCode turns "send this code" into a call that reads it twice, in
// the language of the request that sends it.
type spokenCode struct {
	caller  Caller
	appName string
}

func (s spokenCode) Send(ctx context.Context, to, code string) error {
	spaced := strings.Join(strings.Split(code, ""), ", ")
	say := speak(messages.From(ctx), "voice.call.read_code", "App", s.appName, "Code", spaced)
	return s.caller.Call(ctx, to, twiml(say, "", speech{}), "")
}

// Method implements verifiers.Verifier.
func (v *Verifier) Method() string { return Method }

// Blocked reports whether the user's calls are blocked after a fraud report.
func (v *Verifier) Blocked(ctx context.Context, user string) (bool, error) {
	f, err := v.Store.Failures(ctx, user, BlockedKey)
	return f.Count > 0, err
}

// Enrolled implements verifiers.Verifier: a confirmed phone, not blocked.
func (v *Verifier) Enrolled(ctx context.Context, user verifiers.User) (bool, error) {
	ok, err := v.Codes.Enrolled(ctx, user)
	if err != nil || !ok {
		return false, err
	}
	blocked, err := v.Blocked(ctx, user.Name)
	return !blocked, err
}

// Start implements verifiers.Verifier: it places the call.
func (v *Verifier) Start(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (verifiers.Prompt, error) {
	number, err := v.Codes.Phone(ctx, user)
	if err != nil {
		return verifiers.Prompt{}, err
	}
	if number == "" {
		return verifiers.Prompt{}, verifiers.ErrNotEnrolled
	}
	blocked, err := v.Blocked(ctx, user.Name)
	if err != nil {
		return verifiers.Prompt{}, err
	}
	if blocked {
		return verifiers.Prompt{}, ErrBlocked
	}
	if err := v.Codes.OutboxOnly(ch); err != nil {
		return verifiers.Prompt{}, err
	}
	if v.Mode == ReadCode {
		return v.Codes.Start(ctx, user, ch)
	}
	n, err := v.Codes.Reserve(ctx, user, ch, number)
	if err != nil {
		return verifiers.Prompt{}, err
	}
	if err := v.Store.PutCall(ctx, ch.ID, user.Name, v.Now().Add(CallLifetime)); err != nil {
		return verifiers.Prompt{}, err
	}
	// The call speaks the sign-in's language; the press-# callback's URL
	// keeps it for what the call says after the key.
	l := messages.From(ctx)
	q := url.Values{"c": {ch.ID}, "u": {user.Name}}
	status := q.Encode()
	if l.Tag() != messages.Default {
		q.Set(langParam, l.Tag())
	}
	base := strings.TrimSuffix(v.PublicURL, "/") + v.Prefix
	say := speak(l, "voice.call.press_key", "App", v.AppName)
	if err := v.Caller.Call(ctx, n.E164, twiml(say, base+GatherPath+"?"+q.Encode(), speak(l, "voice.call.no_answer")), base+StatusPath+"?"+status); err != nil {
		// The call never started: end the attempt at once.
		v.Store.SetCallState(ctx, ch.ID, store.CallPending, store.CallFailed, "not placed", v.Now())
		return verifiers.Prompt{}, err
	}
	return verifiers.Prompt{Input: "wait", Message: l.T("voice.calling.prompt", "Phone", phone.MaskIn(l, n.E164))}, nil
}

// Check implements verifiers.Verifier. In read_code mode it checks the
// typed code; in press_key mode it looks at the call: an approval is
// accepted once; a call still ringing is Pending.
func (v *Verifier) Check(ctx context.Context, user verifiers.User, ch verifiers.Challenge, input string) (verifiers.Result, error) {
	if v.Mode == ReadCode {
		return v.Codes.Check(ctx, user, ch, input)
	}
	state, _, err := v.Store.CallState(ctx, ch.ID, user.Name, v.Now())
	if errors.Is(err, store.ErrNotFound) {
		return verifiers.Expired, nil
	}
	if err != nil {
		return verifiers.Rejected, err
	}
	switch state {
	case store.CallPending:
		return verifiers.Pending, nil
	case store.CallApproved:
		ok, err := v.Store.SetCallState(ctx, ch.ID, store.CallApproved, store.CallUsed, "", v.Now())
		if err != nil {
			return verifiers.Rejected, err
		}
		if ok {
			return verifiers.Accepted, nil
		}
		return verifiers.Replayed, nil
	case store.CallUsed:
		return verifiers.Replayed, nil
	default:
		return verifiers.Expired, nil
	}
}

// Call is the call's state and detail.
func (v *Verifier) Call(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (string, string, error) {
	return v.Store.CallState(ctx, ch.ID, user.Name, v.Now())
}

// Answer applies the key the callee pressed to a pending call, and returns
// what the call says next, in the language ctx carries. The Gather takes
// one key and has no finish key, so # itself arrives as Digits "#" (an
// empty result, a timeout, never reaches the action URL and cannot
// approve anything); 0 reports fraud, and the call then blocks the
// method.
func (v *Verifier) Answer(ctx context.Context, challengeID, user, digits string) (say string, fraud bool, err error) {
	id, fraud, err := v.answer(ctx, challengeID, user, digits)
	return messages.From(ctx).T(id), fraud, err
}

// answer is Answer with the message ID of what the call says next.
func (v *Verifier) answer(ctx context.Context, challengeID, user, digits string) (say string, fraud bool, err error) {
	to, say := store.CallDenied, "voice.call.not_confirmed"
	switch digits {
	case "#":
		to, say = store.CallApproved, "voice.call.signed_in"
	case "0", "0#":
		to, say, fraud = store.CallFraud, "voice.call.fraud", true
	}
	ok, err := v.Store.SetCallState(ctx, challengeID, store.CallPending, to, "", v.Now())
	if err != nil {
		return "voice.call.error", false, err
	}
	if !ok {
		return "voice.call.ended", false, nil
	}
	if fraud {
		if _, err := v.Store.AddFailure(ctx, user, BlockedKey, v.Now()); err != nil {
			return say, true, err
		}
	}
	return say, fraud, nil
}

// Ended records Twilio's final call status for a call nobody answered with
// a key: busy, no-answer, failed, canceled, or completed (hung up).
func (v *Verifier) Ended(ctx context.Context, challengeID, status string) error {
	detail := status
	if status == "completed" {
		detail = "hung up"
	}
	_, err := v.Store.SetCallState(ctx, challengeID, store.CallPending, store.CallFailed, detail, v.Now())
	return err
}

// twiml builds a response that says text, inside a Gather posting to
// action when action is set, followed by fallback.
func twiml(text speech, action string, fallback speech) string {
	esc := func(s string) string {
		var b strings.Builder
		xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	say := func(s speech) string {
		if s.lang == "" {
			return `<Say>` + esc(s.text) + `</Say>`
		}
		return `<Say language="` + esc(s.lang) + `">` + esc(s.text) + `</Say>`
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	if action != "" {
		fmt.Fprintf(&b, `<Gather numDigits="1" finishOnKey="" timeout="15" method="POST" action="%s">%s</Gather>`, esc(action), say(text))
		if fallback.text != "" {
			b.WriteString(say(fallback))
		}
	} else {
		b.WriteString(say(text))
	}
	b.WriteString(`</Response>`)
	return b.String()
}

// Say is a TwiML response that says message id (with args) in l's
// language and hangs up.
func Say(l *messages.Localizer, id string, args ...any) string {
	return twiml(speak(l, id, args...), "", speech{})
}

var _ verifiers.Verifier = (*Verifier)(nil)
