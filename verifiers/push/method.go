package push

import (
	"context"
	"embed"
	"errors"
	"github.com/stepgate/stepgate/messages"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

//go:embed pages/*.html
var pages embed.FS

// Describe implements verifiers.Method.
func (v *Verifier) Describe() verifiers.Description {
	return verifiers.Description{
		Name: Method, Title: "Stepgate Authenticator", Strength: 40,
		Answer:     verifiers.Approval,
		Heading:    "Approve sign in request",
		Hint:       "Open the Stepgate Authenticator on your phone and type this number to approve the sign-in:",
		Again:      "Send another request",
		Waiting:    "We haven't had your answer yet. On your phone, type the number shown here and tap Approve, then continue.",
		Continue:   "I approved it, continue",
		StartEvent: "push-sent",
		Slug:       "push",
		Add:        "Add a phone for sign-in requests",
		Many:       true,
		SetUp:      "Get sign-in requests on your phone instead (Stepgate Authenticator, no app store needed)",
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
	label := "Approve a request on my Stepgate Authenticator"
	devs, err := v.Store.PushDevices(ctx, user.Name)
	if err == nil && len(devs) == 1 {
		label += " (" + devs[0].Name + ")"
	}
	return label, err
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
	switch {
	case req.State == store.PushFraud:
		return verifiers.Denial{Status: http.StatusForbidden,
			Message: "You reported this sign-in as suspicious, so it was stopped and requests to your phone are turned off. If it was you after all, contact " + help + "."}, nil
	case req.State == store.PushDenied && strings.HasPrefix(req.Detail, "wrong number"):
		return verifiers.Denial{Status: http.StatusUnauthorized,
			Message: "The number typed on your phone didn't match the one shown here, so the request was denied. Send another request."}, nil
	case req.State == store.PushDenied:
		return verifiers.Denial{Status: http.StatusUnauthorized,
			Message: "The request was denied on your phone. Send another request."}, nil
	}
	return verifiers.Denial{Status: http.StatusUnauthorized, Outcome: "expired",
		Message: "The request wasn't answered in time. Send another request."}, nil
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
	token := req.State
	if token != "" && req.Form == nil {
		d, err := v.EnrolledDevice(ctx, req.Challenge)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return verifiers.EnrolStep{}, err
		}
		if err == nil && d.Username == req.User.Name {
			// The phone is set up: continue with a form post (a sign-in's
			// session cookie is only set on POST).
			return verifiers.EnrolStep{State: token, Page: "push.html", Heading: "Your phone is set up", Ready: true,
				Data: setUpPage{Done: true, Info: "Your phone (" + d.Name + ") is set up for sign-in requests."}}, nil
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
			return verifiers.EnrolStep{Page: "push.html", Heading: "Add a phone for sign-in requests", Data: setUpPage{Full: true}}, tooManyDevices{}
		}
	}
	if token == "" {
		var err error
		if token, err = v.NewEnrolment(ctx, req.User, req.Challenge, req.First, req.Until); err != nil {
			return verifiers.EnrolStep{}, err
		}
	}
	link := req.Site + v.Prefix + "authenticator/#enrol=" + token
	step := verifiers.EnrolStep{State: token, Page: "push.html", Heading: "Set up your phone for sign-in requests",
		QR: link, QRSize: 240, Poll: true, Data: setUpPage{Link: link}}
	if req.Form != nil {
		step.Error, step.Status = "Your phone hasn't finished setting up yet. Scan the QR code with your phone's camera and follow the steps, then continue.", http.StatusAccepted
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
	return "Too many sign-in requests have been sent. Try again in " + verifiers.HumanWait(e.Retry.Sub(now)) + "."
}

// Outcome implements verifiers.Refusal.
func (e *LimitError) Outcome() string { return "limited" }

// Explain implements verifiers.Refusal.
func (e *PausedError) Explain(l *messages.Localizer, _ string, now time.Time) string {
	return "Several sign-in requests in a row were denied or not answered, so requests to your phone are paused for " + verifiers.HumanWait(e.Until.Sub(now)) + "."
}

// Outcome implements verifiers.Refusal.
func (e *PausedError) Outcome() string { return "paused" }

// Explain implements verifiers.Refusal.
func (blockedError) Explain(l *messages.Localizer, help string, _ time.Time) string {
	return "Sign-in requests to your phone are turned off after you reported one as suspicious. To turn them back on, contact " + help + "."
}

// Outcome implements verifiers.Refusal: the report was logged when made.
func (blockedError) Outcome() string { return "" }

// tooManyPending refuses a request while the user has the most unanswered
// ones; it wraps store.ErrTooManyPending.
type tooManyPending struct{ err error }

func (e tooManyPending) Error() string { return e.err.Error() }
func (e tooManyPending) Unwrap() error { return e.err }

// Explain implements verifiers.Refusal.
func (tooManyPending) Explain(*messages.Localizer, string, time.Time) string {
	return "You already have sign-in requests waiting on your phone. Answer or deny them in the Stepgate Authenticator, or wait two minutes."
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
