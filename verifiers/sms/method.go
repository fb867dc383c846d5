package sms

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"github.com/stepgate/stepgate/messages"
	"io/fs"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
)

//go:embed pages/*.html
var pages embed.FS

// Describe implements verifiers.Method.
func (v *Verifier) Describe() verifiers.Description {
	return verifiers.Description{
		Name: v.Method(), Title: "Text message", Strength: 10,
		Answer: verifiers.TypedCode, CodeDigits: CodeDigits,
		Heading:    "Enter code",
		Hint:       "Enter the code from the message.",
		Again:      "Send a new code",
		WrongCode:  "That code didn't work. Check the code in the message and try again.",
		StartEvent: "code-sent",
		Slug:       "phone",
		SetUp:      "Get codes by text message instead",
		Add:        "Add a phone for text messages",
		Change:     "Change number",
	}
}

// Registered implements verifiers.Method: a confirmed number.
func (v *Verifier) Registered(ctx context.Context, user verifiers.User) (bool, error) {
	return v.Enrolled(ctx, user)
}

// Label implements verifiers.Method.
func (v *Verifier) Label(ctx context.Context, user verifiers.User) (string, error) {
	number, err := v.Phone(ctx, user)
	return "Text " + phone.Mask(number), err
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
	var current string
	heading := "Set up your phone"
	if !req.First {
		n, err := v.Phone(ctx, req.User)
		if err != nil {
			return verifiers.EnrolStep{}, err
		}
		if n != "" {
			current, heading = phone.Mask(n), "Change your phone number"
		}
	}
	step := func() verifiers.EnrolStep {
		state, _ := json.Marshal(st)
		d := phonePage{Prompt: st.Prompt, Current: current}
		if st.Phone != "" {
			d.Phone = phone.Mask(st.Phone)
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
		s.Error, s.Status = "Enter your phone number first.", http.StatusBadRequest
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
func (outboxError) Explain(*messages.Localizer, string, time.Time) string {
	return "Texts and calls are in development mode on this server and only work from the server itself."
}
func (outboxError) Outcome() string { return "refused-outbox" }
func (outboxError) HTTPStatus() int { return http.StatusForbidden }

// Explain implements verifiers.Refusal.
func (e *LimitError) Explain(l *messages.Localizer, _ string, now time.Time) string {
	wait := verifiers.HumanWait(e.Retry.Sub(now))
	call := e.Method == "voice"
	switch {
	case e.Limit == "cooldown" && call:
		return "We called your phone less than " + verifiers.HumanWait(e.Window) + " ago. You can ask for another call in " + wait + "."
	case e.Limit == "cooldown":
		return "A code was sent to your phone less than " + verifiers.HumanWait(e.Window) + " ago. You can ask for a new code in " + wait + "."
	case call:
		return "Too many calls have been made. Try again in " + wait + "."
	}
	return "Too many codes have been sent. Try again in " + wait + "."
}

// Outcome implements verifiers.Refusal.
func (e *LimitError) Outcome() string { return "limited" }

// Explain implements verifiers.Refusal: the transport's words.
func (e *SendError) Explain(*messages.Localizer, string, time.Time) string { return e.UserMessage }

// Outcome implements verifiers.Refusal.
func (e *SendError) Outcome() string { return "send-failed" }

// CountryError refuses a number outside the allowed countries; it is
// ErrCountry for errors.Is.
type CountryError struct{ Allowed phone.Countries }

func (e *CountryError) Error() string        { return ErrCountry.Error() }
func (e *CountryError) Is(target error) bool { return target == ErrCountry }

// Explain implements verifiers.Refusal.
func (e *CountryError) Explain(l *messages.Localizer, help string, _ time.Time) string {
	return fmt.Sprintf("Phone numbers in that country can't be used here. Use a number starting with %s, or contact %s.", e.Allowed, help)
}

// Outcome implements verifiers.Refusal.
func (e *CountryError) Outcome() string { return "country-refused" }

// NumberError refuses input that is not a phone number; it wraps
// phone.ErrInvalid.
type NumberError struct{ Err error }

func (e *NumberError) Error() string { return e.Err.Error() }
func (e *NumberError) Unwrap() error { return e.Err }

// Explain implements verifiers.Refusal.
func (e *NumberError) Explain(*messages.Localizer, string, time.Time) string {
	return "That doesn't look like a phone number: " + phone.ErrInvalid.Error() + "."
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
