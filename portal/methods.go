package portal

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// codeFailures keys the failure counter that every second-step guess (app
// code, text code, a denial on the phone) counts toward: one lockout per
// account, whichever method the attacker switches to.
const codeFailures = store.FailuresCode

// choice is one of a user's methods as the method list shows it.
type choice struct {
	Method string
	Label  string
}

// userMethods lists the methods the user can use now, strongest first.
func (p *Portal) userMethods(ctx context.Context, user verifiers.User) ([]choice, error) {
	var out []choice
	for _, m := range p.reg.byStrength {
		ok, err := m.Enrolled(ctx, user)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		label, err := m.Label(ctx, user)
		if err != nil {
			return nil, err
		}
		out = append(out, choice{Method: m.desc.Name, Label: label})
	}
	return out, nil
}

// offered is what of have the pending second step may use: a password
// reset counts each method once (the ones it was verified with are no
// longer offered, nor accepted), and a step-up for a phishing-resistant
// site offers only such methods.
func (p *Portal) offered(pd pending, have []choice) []choice {
	if len(pd.Used) == 0 && !pd.Strong {
		return have
	}
	var out []choice
	for _, c := range have {
		if m := p.reg.get(c.Method); !slices.Contains(pd.Used, c.Method) && (!pd.Strong || m != nil && m.desc.PhishingResistant) {
			out = append(out, c)
		}
	}
	return out
}

// defaultMethod is the user's chosen default when they still have it, else
// the strongest method they have.
func (p *Portal) defaultMethod(ctx context.Context, user verifiers.User, have []choice) (string, error) {
	info, err := p.cfg.Store.SecurityInfo(ctx, user.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	for _, c := range have {
		if c.Method == info.DefaultMethod {
			return c.Method, nil
		}
	}
	return have[0].Method, nil
}

// start begins the pending sign-in's current method (a text is sent, a
// request pushed; an app code needs nothing) and keeps what to tell the
// user in pd.
func (p *Portal) start(r *http.Request, pd *pending, user verifiers.User) {
	pd.Prompt, pd.Err, pd.Show = "", "", ""
	m := p.reg.get(pd.M)
	if m == nil {
		return
	}
	prompt, err := m.Start(r.Context(), user, p.attempt(r, pd))
	if err != nil {
		pd.Err = p.refusalMessage(r, user.Name, m, err)
		return
	}
	pd.Prompt, pd.Show = prompt.Message, prompt.Show
	if m.desc.StartEvent != "" {
		p.audit(r, m.desc.StartEvent, user.Name, pd.M, "success")
	}
}

// attempt is the challenge of the pending sign-in pd.
func (p *Portal) attempt(r *http.Request, pd *pending) verifiers.Challenge {
	return verifiers.Challenge{ID: pd.ID, Created: time.Unix(pd.Created, 0), ClientIP: p.cfg.ClientIP(r), Host: p.siteName(r),
		Origin: p.siteOrigin(r), Local: p.fromThisMachine(r), Method: pd.M}
}

// refusalMessage logs why a method could not start (or a set-up could not
// send) and returns the words for the user: the method's own for a
// verifiers.Refusal, else a general apology.
func (p *Portal) refusalMessage(r *http.Request, user string, m *method, err error, fields ...zap.Field) string {
	event := m.desc.StartEvent
	if event == "" {
		event = "sign-in"
	}
	var refusal verifiers.Refusal
	if errors.As(err, &refusal) {
		if out := refusal.Outcome(); out != "" {
			p.audit(r, event, user, m.desc.Name, out, append(fields, zap.Error(err))...)
		}
		l := p.lang(r)
		return refusal.Explain(l, p.help(l), p.cfg.Now())
	}
	p.audit(r, event, user, m.desc.Name, "error", append(fields, zap.Error(err))...)
	return p.lang(r).T("portal.verify.not_started")
}

// refusalStatus is the HTTP status of a page that shows a refusal.
func refusalStatus(err error) int {
	var s interface{ HTTPStatus() int }
	if errors.As(err, &s) {
		return s.HTTPStatus()
	}
	return http.StatusBadRequest
}

// verifyingWithMethods reads the pending sign-in at the second step and the
// user's methods; when it returns false it has answered the request.
func (p *Portal) verifyingWithMethods(w http.ResponseWriter, r *http.Request) (pending, verifiers.User, []choice, bool) {
	pd, user, ok := p.readPending(r, stageVerify)
	if !ok {
		p.restart(w, r, msgRestart)
		return pd, user, nil, false
	}
	have, err := p.userMethods(r.Context(), user)
	if err != nil {
		p.storeError(w, r, err)
		return pd, user, nil, false
	}
	return pd, user, p.offered(pd, have), true
}

// otherMethods lists the user's other methods ("Sign in another way"), or
// says there are none and who can help.
func (p *Portal) otherMethods(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	pd, user, have, ok := p.verifyingWithMethods(w, r)
	if !ok {
		return
	}
	var others []choice
	for _, c := range have {
		if c.Method != pd.M {
			others = append(others, c)
		}
	}
	l := p.lang(r)
	p.render(w, r, http.StatusOK, "other", pageData{Title: l.T("portal.methods.heading"), Heading: l.T("portal.methods.heading"), Username: user.Name,
		Choices: others, BackTo: backToPassword(pd.Rd)})
}

// chooseMethod switches the pending sign-in to another of the user's
// methods, or starts the current one again, and starts it.
func (p *Portal) chooseMethod(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		notAllowed(w, r, "POST")
		return
	}
	pd, user, have, ok := p.verifyingWithMethods(w, r)
	if !ok {
		return
	}
	want := r.PostFormValue("method")
	found := false
	for _, c := range have {
		found = found || c.Method == want
	}
	if !found {
		l := p.lang(r)
		p.render(w, r, http.StatusBadRequest, "message", pageData{Title: l.T("portal.methods.unavailable.title"), Heading: l.T("portal.methods.unavailable.heading"),
			Info: l.T("portal.methods.unavailable.info"), Continue: Prefix + "verify/other"})
		return
	}
	pd.M = want
	p.start(r, &pd, user)
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, Prefix+"verify", http.StatusSeeOther)
}

// verifyStatus answers the waiting page's poll: {"state": "pending"} while
// the phone rings or the approval request waits.
func (p *Portal) verifyStatus(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	pd, user, ok := p.readPending(r, stageVerify)
	state := "gone"
	if m := p.reg.get(pd.M); ok && m != nil && m.poll != nil && m.desc.Answer == verifiers.Approval {
		if s, err := m.poll.State(r.Context(), user, p.attempt(r, &pd)); err == nil {
			state = s
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": state})
}

// checkAnswered judges a method the user answers elsewhere (a call, an
// approval request) with the lockout around it: it finishes the sign-in
// when the answer approved it, and otherwise says what happened.
func (p *Portal) checkAnswered(w http.ResponseWriter, r *http.Request, pd pending, user verifiers.User, m *method, show func(int, string)) {
	ctx := r.Context()
	l := p.lang(r)
	if msg, locked := p.locked(r, user.Name, codeFailures); locked {
		p.audit(r, "sign-in", user.Name, m.desc.Name, "locked")
		show(lockStatus(l, msg), msg)
		return
	}
	res, err := m.Check(ctx, user, p.attempt(r, &pd), "")
	if err != nil {
		p.audit(r, "sign-in", user.Name, m.desc.Name, "error", zap.Error(err))
		show(http.StatusServiceUnavailable, l.T("portal.verify.unchecked"))
		return
	}
	switch res {
	case verifiers.Accepted:
		if err := p.cfg.Store.ResetFailures(ctx, user.Name, codeFailures); err != nil {
			p.log.Error("resetting failures", zap.Error(err))
		}
		p.finish(w, r, pd, user, m.desc.Name)
		return
	case verifiers.Pending:
		show(http.StatusAccepted, l.T(m.desc.Waiting))
		return
	case verifiers.Replayed:
		p.restart(w, r, msgRestart)
		return
	}
	d := verifiers.Denial{Status: http.StatusUnauthorized, Message: l.T("portal.verify.not_approved")}
	if m.deny != nil {
		if d, err = m.deny.Denied(ctx, user, p.attempt(r, &pd), p.help(l)); err != nil {
			p.storeError(w, r, err)
			return
		}
		// The method's words are a message ID (or English until it has
		// moved them into its catalogue, which T gives back unchanged).
		d.Message = l.T(d.Message)
	}
	switch {
	case d.Failure:
		p.addFailure(r, user.Name, m.desc.Name, d.Outcome)
	case d.Outcome != "" && d.Detail != "":
		p.audit(r, "sign-in", user.Name, m.desc.Name, d.Outcome, zap.String("detail", d.Detail))
	case d.Outcome != "":
		p.audit(r, "sign-in", user.Name, m.desc.Name, d.Outcome)
	}
	show(d.Status, d.Message)
}
