package voice

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
)

//go:embed pages/*.html
var pages embed.FS

// Describe implements verifiers.Method. A press_key call is answered on
// the phone while the page waits; a read_code call reads a code to type.
// Its words are message IDs, which the portal shows in the page's
// language.
func (v *Verifier) Describe() verifiers.Description {
	d := verifiers.Description{
		Name: Method, Title: "voice.method.title", Strength: 20,
		Answer: verifiers.TypedCode, CodeDigits: 6,
		Heading:    "voice.verify.heading",
		Hint:       "voice.verify.hint",
		Again:      "voice.verify.again",
		WrongCode:  "voice.verify.wrong_code",
		StartEvent: "code-sent",
		Slug:       "phone",
	}
	if v.Mode == PressKey {
		d.Answer, d.CodeDigits = verifiers.Approval, 0
		d.Heading = "voice.press.heading"
		d.Hint = "voice.press.hint"
		d.Waiting = "voice.press.waiting"
		d.WrongCode = ""
		d.Continue = "voice.press.continue"
		d.StartEvent = "call-placed"
	}
	if v.EnrolPhone {
		d.SetUp = "voice.offer.set_up"
		d.Add, d.Change = "voice.securityinfo.add", "voice.securityinfo.change"
	}
	return d
}

// Registered implements verifiers.Method: a confirmed number, whether or
// not calls are blocked after a fraud report.
func (v *Verifier) Registered(ctx context.Context, user verifiers.User) (bool, error) {
	return v.Codes.Enrolled(ctx, user)
}

// Label implements verifiers.Method.
func (v *Verifier) Label(ctx context.Context, user verifiers.User) (string, error) {
	number, err := v.Codes.Phone(ctx, user)
	l := messages.From(ctx)
	return l.T("voice.label.call", "Phone", phone.MaskIn(l, number)), err
}

// Pages implements verifiers.Pages: the verify page's extra part, and the
// phone set-up page of the codes' text-message machinery.
func (v *Verifier) Pages() fs.FS {
	sub, _ := fs.Sub(pages, "pages")
	return verifiers.Overlay{sub, v.Codes.Pages()}
}

// Enrol implements verifiers.Enroller: a phone is set up with a code read
// out by a call (when texts are off; see EnrolPhone).
func (v *Verifier) Enrol(ctx context.Context, req verifiers.EnrolRequest) (verifiers.EnrolStep, error) {
	return v.Codes.Enrol(ctx, req)
}

// verifyPage is the data of the verify page's extra part.
type verifyPage struct {
	// Simulate shows the development outbox's buttons that answer the call.
	Simulate bool
}

// PageData implements verifiers.PageData.
func (v *Verifier) PageData(_ context.Context, _ verifiers.User, ch verifiers.Challenge) (any, error) {
	return verifyPage{Simulate: v.Simulate && v.Mode == PressKey && ch.Local}, nil
}

// State implements verifiers.Poller.
func (v *Verifier) State(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (string, error) {
	state, _, err := v.Call(ctx, user, ch)
	return state, err
}

// Denied implements verifiers.Denier: what happened to a press_key call
// that did not approve the sign-in.
func (v *Verifier) Denied(ctx context.Context, user verifiers.User, ch verifiers.Challenge, help string) (verifiers.Denial, error) {
	state, detail, err := v.Store.CallState(ctx, ch.ID, user.Name, v.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return verifiers.Denial{}, err
	}
	l := messages.From(ctx)
	switch state {
	case store.CallFraud:
		return verifiers.Denial{Status: http.StatusForbidden, Outcome: "fraud-reported",
			Message: l.T("voice.denied.fraud", "Help", help)}, nil
	case store.CallDenied:
		return verifiers.Denial{Status: http.StatusUnauthorized, Outcome: "denied", Failure: true,
			Message: l.T("voice.denied.not_confirmed")}, nil
	}
	return verifiers.Denial{Status: http.StatusUnauthorized, Outcome: "call-failed", Detail: detail, Message: callEndedMessage(l, detail)}, nil
}

func callEndedMessage(l *messages.Localizer, detail string) string {
	switch detail {
	case "busy":
		return l.T("voice.denied.busy")
	case "no-answer", "expired":
		return l.T("voice.denied.no_answer")
	case "hung up":
		return l.T("voice.denied.hung_up")
	}
	return l.T("voice.denied.failed")
}

// Explain implements verifiers.Refusal for ErrBlocked.
func (blockedError) Explain(l *messages.Localizer, help string, _ time.Time) string {
	return l.T("voice.refusal.blocked", "Help", help)
}

// Outcome implements verifiers.Refusal: the block was logged when it was
// reported.
func (blockedError) Outcome() string { return "" }

// Interface guards
var (
	_ verifiers.Method   = (*Verifier)(nil)
	_ verifiers.Enroller = (*Verifier)(nil)
	_ verifiers.Pages    = (*Verifier)(nil)
	_ verifiers.PageData = (*Verifier)(nil)
	_ verifiers.Poller   = (*Verifier)(nil)
	_ verifiers.Denier   = (*Verifier)(nil)
	_ verifiers.Router   = (*Verifier)(nil)
	_ verifiers.Refusal  = blockedError{}
)
