package sms

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
)

//go:embed pages/*.html
var pages embed.FS

// Describe implements verifiers.Method. Its words are message IDs, which
// the portal shows in the page's language.
func (v *Verifier) Describe() verifiers.Description {
	return verifiers.Description{
		Name: v.Method(), Title: "sms.method.title", Strength: 10,
		Answer: verifiers.TypedCode, CodeDigits: CodeDigits,
		Heading:    "sms.verify.heading",
		Hint:       "sms.verify.hint",
		Again:      "sms.verify.again",
		WrongCode:  "sms.verify.wrong_code",
		StartEvent: "code-sent",
		Slug:       "phone",
		SetUp:      "sms.offer.set_up",
		Add:        "sms.securityinfo.add",
		Change:     "sms.securityinfo.change",
	}
}

// Registered implements verifiers.Method: a confirmed number.
func (v *Verifier) Registered(ctx context.Context, user verifiers.User) (bool, error) {
	return v.Enrolled(ctx, user)
}

// Label implements verifiers.Method.
func (v *Verifier) Label(ctx context.Context, user verifiers.User) (string, error) {
	number, err := v.Phone(ctx, user)
	l := messages.From(ctx)
	return l.T("sms.label.text", "Phone", phone.MaskIn(l, number)), err
}

// Pages implements verifiers.Pages.
func (v *Verifier) Pages() fs.FS {
	sub, _ := fs.Sub(pages, "pages")
	return sub
}

// OutboxOnly refuses to send from the development outbox to a client that
// is not on this machine: the outbox writes codes to the log.
func (v *Verifier) OutboxOnly(ch verifiers.Challenge) error {
	if !v.LoopbackOnly || ch.Local {
		return nil
	}
	if v.Log != nil {
		v.Log.Error("not sent: the outbox transport only serves clients on this machine; configure twilio, or set outbox_allowed for a test deployment",
			zap.String("method", v.Method()))
	}
	return ErrOutboxOnly
}

// phoneState is a phone set-up's state: the number a code was sent to.
type phoneState struct {
	Phone  string `json:"p,omitempty"` // E.164
	Prompt string `json:"m,omitempty"` // what sending said
}

// phonePage is the set-up page's data.
type phonePage struct {
	Phone   string // the masked number a code was sent to
	Prompt  string
	Current string // the user's current number, masked, when changing it
}

// Enrol implements verifiers.Enroller: the user enters a number and gets a
// code there; only when they type it is the number stored (replacing the
// user's earlier number, which works until then).
func (v *Verifier) Enrol(ctx context.Context, req verifiers.EnrolRequest) (verifiers.EnrolStep, error) {
	var st phoneState
	if req.State != "" && json.Unmarshal([]byte(req.State), &st) != nil {
		st = phoneState{}
	}
	l := messages.From(ctx)
	var current string
	heading := l.T("sms.setup.heading")
	if !req.First {
		n, err := v.Phone(ctx, req.User)
		if err != nil {
			return verifiers.EnrolStep{}, err
		}
		if n != "" {
			current, heading = phone.MaskIn(l, n), l.T("sms.setup.heading_change")
		}
	}
	step := func() verifiers.EnrolStep {
		state, _ := json.Marshal(st)
		d := phonePage{Prompt: st.Prompt, Current: current}
		if st.Phone != "" {
			d.Phone = phone.MaskIn(l, st.Phone)
		}
		return verifiers.EnrolStep{State: string(state), Page: "phone.html", Heading: heading, Data: d}
	}
	if req.Form == nil {
		return step(), nil
	}
	switch {
	case req.Form.Has("phone"):
		number := req.Form.Get("phone")
		if number == "" { // "Use a different number"
			st = phoneState{}
			return step(), nil
		}
		if err := v.OutboxOnly(req.Challenge); err != nil {
			return step(), err
		}
		prompt, err := v.SendTo(ctx, req.User, req.Challenge, number)
		if err != nil {
			return step(), err
		}
		n, _ := phone.Parse(number)
		st = phoneState{Phone: n.E164, Prompt: prompt.Message}
		s := step()
		s.Sent = true
		return s, nil
	case st.Phone == "":
		s := step()
		s.Error, s.Status = l.T("sms.setup.phone_first"), http.StatusBadRequest
		return s, nil
	}
	g := req.Guard(CodeDigits, func(code string) (verifiers.Result, error) {
		return v.CheckNumber(ctx, req.User, req.Challenge, st.Phone, code)
	})
	if g.Result != verifiers.Accepted {
		s := step()
		s.Error, s.Status = g.Error, g.Status
		return s, nil
	}
	// For the first method: atomically the first, or nothing (the user may
	// have set up another method since this page was opened).
	set := v.Store.SetPhone
	if req.First {
		set = v.Store.SetFirstPhone
	}
	if err := set(ctx, req.User.Name, st.Phone); err != nil {
		return step(), err
	}
	return verifiers.EnrolStep{Done: true, Added: "phone " + phone.Mask(st.Phone)}, nil
}

// ErrOutboxOnly refuses a send from the development outbox to a client
// that is not on this machine.
var ErrOutboxOnly error = outboxError{}

type outboxError struct{}

func (outboxError) Error() string { return "the development outbox only serves this machine" }
func (outboxError) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	return l.T("sms.refusal.outbox")
}
func (outboxError) Outcome() string { return "refused-outbox" }
func (outboxError) HTTPStatus() int { return http.StatusForbidden }

// Explain implements verifiers.Refusal: what was sent (a code or a
// call), within which window, and the wait left.
func (e *LimitError) Explain(l *messages.Localizer, _ string, now time.Time) string {
	wait := e.Retry.Sub(now)
	sent, again, tooMany := textSent, textWait, textTooMany
	if e.Method == "voice" {
		sent, again, tooMany = callSent, callWait, callTooMany
	}
	if e.Limit == "cooldown" {
		return l.T("sms.limit.cooldown", "Sent", sent.Say(l, e.Window), "Wait", again.Say(l, wait))
	}
	return tooMany.Say(l, wait)
}

// Outcome implements verifiers.Refusal.
func (e *LimitError) Outcome() string { return "limited" }

// Explain implements verifiers.Refusal: the transport's words, in l's
// language when they are one of this package's messages.
func (e *SendError) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	if e.Message != "" {
		return l.T(e.Message)
	}
	return e.UserMessage
}

// Outcome implements verifiers.Refusal.
func (e *SendError) Outcome() string { return "send-failed" }

// CountryError refuses a number outside the allowed countries; it is
// ErrCountry for errors.Is.
type CountryError struct{ Allowed phone.Countries }

func (e *CountryError) Error() string        { return ErrCountry.Error() }
func (e *CountryError) Is(target error) bool { return target == ErrCountry }

// Explain implements verifiers.Refusal.
func (e *CountryError) Explain(l *messages.Localizer, help string, _ time.Time) string {
	return l.T("sms.refusal.country", "Allowed", e.Allowed.String(), "Help", help)
}

// Outcome implements verifiers.Refusal.
func (e *CountryError) Outcome() string { return "country-refused" }

// NumberError refuses input that is not a phone number; it wraps
// phone.ErrInvalid.
type NumberError struct{ Err error }

func (e *NumberError) Error() string { return e.Err.Error() }
func (e *NumberError) Unwrap() error { return e.Err }

// Explain implements verifiers.Refusal. The message says what
// phone.ErrInvalid says (in English), as one sentence to translate.
func (e *NumberError) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	return l.T("sms.refusal.not_a_number")
}

// Outcome implements verifiers.Refusal: nothing was sent, nothing to log.
func (e *NumberError) Outcome() string { return "" }

// Interface guards
var (
	_ verifiers.Method   = (*Verifier)(nil)
	_ verifiers.Enroller = (*Verifier)(nil)
	_ verifiers.Pages    = (*Verifier)(nil)
	_ verifiers.Refusal  = (*LimitError)(nil)
	_ verifiers.Refusal  = (*SendError)(nil)
	_ verifiers.Refusal  = (*CountryError)(nil)
	_ verifiers.Refusal  = (*NumberError)(nil)
	_ verifiers.Refusal  = outboxError{}
)
