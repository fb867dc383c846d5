package push

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

//go:embed pages/*.html
var pages embed.FS

// The method's words and the Authenticator's, area "push".
//
//go:embed locales
var localesFS embed.FS

func init() { messages.RegisterLocales("push", localesFS) }

// Describe implements verifiers.Method. Its words are message IDs, which
// the portal shows in the user's language.
func (v *Verifier) Describe() verifiers.Description {
	return verifiers.Description{
		Name: Method, Title: "push.method.title", Strength: 40,
		Answer:     verifiers.Approval,
		Heading:    "push.verify.heading",
		Hint:       "push.verify.hint",
		Again:      "push.verify.again",
		Waiting:    "push.verify.waiting",
		Continue:   "push.verify.continue",
		StartEvent: "push-sent",
		Slug:       "push",
		Add:        "push.method.add",
		Many:       true,
		SetUp:      "push.method.set_up",
	}
}

// Registered implements verifiers.Method: a device, whether or not
// requests are blocked after a report.
func (v *Verifier) Registered(ctx context.Context, user verifiers.User) (bool, error) {
	devs, err := v.Store.PushDevices(ctx, user.Name)
	return len(devs) > 0, err
}

// Label implements verifiers.Method: a single device is named.
func (v *Verifier) Label(ctx context.Context, user verifiers.User) (string, error) {
	l := messages.From(ctx)
	devs, err := v.Store.PushDevices(ctx, user.Name)
	if err == nil && len(devs) == 1 {
		return l.T("push.method.label_named", "Name", devs[0].Name), nil
	}
	return l.T("push.method.label"), err
}

// Pages implements verifiers.Pages.
func (v *Verifier) Pages() fs.FS {
	sub, _ := fs.Sub(pages, "pages")
	return sub
}

// State implements verifiers.Poller: the state of the sign-in's request.
func (v *Verifier) State(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (string, error) {
	req, err := v.Request(ctx, user, ch)
	return req.State, err
}

// Denied implements verifiers.Denier.
func (v *Verifier) Denied(ctx context.Context, user verifiers.User, ch verifiers.Challenge, help string) (verifiers.Denial, error) {
	req, err := v.Request(ctx, user, ch)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return verifiers.Denial{}, err
	}
	l := messages.From(ctx)
	switch {
	case req.State == store.PushFraud:
		return verifiers.Denial{Status: http.StatusForbidden,
			Message: l.T("push.denied.fraud", "Help", help)}, nil
	case req.State == store.PushDenied && strings.HasPrefix(req.Detail, "wrong number"):
		return verifiers.Denial{Status: http.StatusUnauthorized,
			Message: l.T("push.denied.wrong_number")}, nil
	case req.State == store.PushDenied:
		return verifiers.Denial{Status: http.StatusUnauthorized,
			Message: l.T("push.denied.denied")}, nil
	}
	return verifiers.Denial{Status: http.StatusUnauthorized, Outcome: "expired",
		Message: l.T("push.denied.expired")}, nil
}

// setUpPage is the set-up page's data.
type setUpPage struct {
	// Link opens the authenticator with the set-up token on this device.
	Link string
	// Done: the phone has enrolled; the page only continues.
	Done bool
	Info string
	// Full: the user has the most devices; the page offers no set-up.
	Full bool
}

// Enrol implements verifiers.Enroller: the page shows a QR code that opens
// the authenticator with a one-time set-up token (kept as the state); the
// phone enrols itself with it (the device API), and the set-up finishes
// once, when the page continues after that.
func (v *Verifier) Enrol(ctx context.Context, req verifiers.EnrolRequest) (verifiers.EnrolStep, error) {
	l := messages.From(ctx)
	token := req.State
	if token != "" && req.Form == nil {
		d, err := v.EnrolledDevice(ctx, req.Challenge)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return verifiers.EnrolStep{}, err
		}
		if err == nil && d.Username == req.User.Name {
			// The phone is set up: continue with a form post (a sign-in's
			// session cookie is only set on POST).
			return verifiers.EnrolStep{State: token, Page: "push.html", Heading: l.T("push.setup.heading_done"), Ready: true,
				Data: setUpPage{Done: true, Info: l.T("push.setup.done", "Name", d.Name)}}, nil
		}
	}
	if token != "" && req.Form != nil {
		// Finishing is single use: the store marks the set-up finished in
		// one guarded write, so a replayed form (or 20 at once) finishes
		// nothing more.
		d, err := v.FinishEnrolment(ctx, req.User, req.Challenge)
		if err == nil {
			return verifiers.EnrolStep{Done: true, Added: d.Name}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return verifiers.EnrolStep{}, err
		}
	}
	if token == "" && !req.First {
		devs, err := v.Store.PushDevices(ctx, req.User.Name)
		if err != nil {
			return verifiers.EnrolStep{}, err
		}
		if len(devs) >= store.MaxPushDevices {
			return verifiers.EnrolStep{Page: "push.html", Heading: l.T("push.setup.heading_full"), Data: setUpPage{Full: true}}, tooManyDevices{}
		}
	}
	if token == "" {
		var err error
		if token, err = v.NewEnrolment(ctx, req.User, req.Challenge, req.First, req.Until); err != nil {
			return verifiers.EnrolStep{}, err
		}
	}
	link := req.Site + v.Prefix + "authenticator/#enrol=" + token
	step := verifiers.EnrolStep{State: token, Page: "push.html", Heading: l.T("push.setup.heading"),
		QR: link, QRSize: 240, Poll: true, Data: setUpPage{Link: link}}
	if req.Form != nil {
		step.Error, step.Status = l.T("push.setup.not_yet"), http.StatusAccepted
	}
	return step, nil
}

// OwnSetUp implements verifiers.OwnSetUp: the device this set-up enrolled
// makes the user "set up" before the set-up has finished.
func (v *Verifier) OwnSetUp(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (bool, error) {
	d, err := v.EnrolledDevice(ctx, ch)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && d.Username == user.Name, err
}

// Explain implements verifiers.Refusal.
func (e *LimitError) Explain(l *messages.Localizer, _ string, now time.Time) string {
	return limitedWait.Say(l, e.Retry.Sub(now))
}

// Outcome implements verifiers.Refusal.
func (e *LimitError) Outcome() string { return "limited" }

// Explain implements verifiers.Refusal.
func (e *PausedError) Explain(l *messages.Localizer, _ string, now time.Time) string {
	return pausedWait.Say(l, e.Until.Sub(now))
}

var (
	limitedWait = verifiers.WaitWords{Seconds: "push.limited.seconds", Minutes: "push.limited.minutes", Hour: "push.limited.hours"}
	pausedWait  = verifiers.WaitWords{Seconds: "push.paused.seconds", Minutes: "push.paused.minutes", Hour: "push.paused.hours"}
)

// Outcome implements verifiers.Refusal.
func (e *PausedError) Outcome() string { return "paused" }

// Explain implements verifiers.Refusal.
func (blockedError) Explain(l *messages.Localizer, help string, _ time.Time) string {
	return l.T("push.refused.blocked", "Help", help)
}

// Outcome implements verifiers.Refusal: the report was logged when made.
func (blockedError) Outcome() string { return "" }

// tooManyPending refuses a request while the user has the most unanswered
// ones; it wraps store.ErrTooManyPending.
type tooManyPending struct{ err error }

func (e tooManyPending) Error() string { return e.err.Error() }
func (e tooManyPending) Unwrap() error { return e.err }

// Explain implements verifiers.Refusal.
func (tooManyPending) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	return l.T("push.refused.too_many_pending")
}

// Outcome implements verifiers.Refusal.
func (tooManyPending) Outcome() string { return "too-many-pending" }

// Interface guards
var (
	_ verifiers.Method   = (*Verifier)(nil)
	_ verifiers.Enroller = (*Verifier)(nil)
	_ verifiers.OwnSetUp = (*Verifier)(nil)
	_ verifiers.Pages    = (*Verifier)(nil)
	_ verifiers.Poller   = (*Verifier)(nil)
	_ verifiers.Denier   = (*Verifier)(nil)
	_ verifiers.Router   = (*Verifier)(nil)
	_ verifiers.Refusal  = (*LimitError)(nil)
	_ verifiers.Refusal  = (*PausedError)(nil)
	_ verifiers.Refusal  = blockedError{}
	_ verifiers.Refusal  = tooManyPending{}
)
