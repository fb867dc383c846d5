package portal

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/qrcode"
)

// splitSetUpPath splits what follows register/ into the set-up's slug (""
// for the first set-up offered) and a sub-resource ("", "qr.png" or
// "status").
func splitSetUpPath(rest string) (slug, sub string, ok bool) {
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && (parts[0] == "qr.png" || parts[0] == "status"):
		return "", parts[0], true
	case len(parts) == 1:
		return parts[0], "", true
	case len(parts) == 2 && (parts[1] == "qr.png" || parts[1] == "status"):
		return parts[0], parts[1], parts[0] != ""
	}
	return "", "", false
}

// register serves first-sign-in registration under register/: the set-up
// pages of every method that offers one, with their QR codes and status.
func (p *Portal) register(w http.ResponseWriter, r *http.Request, rest string) {
	slug, sub, ok := splitSetUpPath(rest)
	m := p.reg.setUpBySlug(slug)
	if m != nil && slug == "" && !p.cfg.FirstSignInRegistration {
		// A granted registration (see registrable) starts with the first
		// set-up it may use.
		for _, o := range p.reg.setUp {
			if registrable(o, p.cfg.FirstSignInRegistration) {
				m = o
				break
			}
		}
	}
	if !ok || m == nil {
		p.notFound(w, r)
		return
	}
	action := Prefix + "register"
	if slug != "" {
		action += "/" + slug
	}
	switch sub {
	case "qr.png":
		p.setUpQR(w, r, m)
		return
	case "status":
		p.setUpStatus(w, r, m)
		return
	}
	if methodNotAllowed(w, r) {
		return
	}
	pd, user, ok := p.registering(w, r, m)
	if !ok {
		return
	}
	if pd.M != m.desc.Name {
		// Another set-up was under way: this one starts afresh.
		pd.M, pd.State = m.desc.Name, ""
	}
	req := verifiers.EnrolRequest{User: user, Challenge: p.attempt(r, &pd), First: true, State: pd.State, Site: p.siteOrigin(r),
		Guard: p.guard(r, user, m)}
	if r.Method == http.MethodPost {
		req.Form = r.PostForm
	}
	step, err := m.enrol.Enrol(r.Context(), req)
	switch {
	case errors.Is(err, store.ErrAlreadySetUp):
		// Atomically the first method, or nothing: the user has set up
		// another method since this page was opened.
		p.restart(w, r, msgSetUpMeanwhile, "Help", p.help(p.lang(r)))
		return
	case err != nil && step.Page != "" && isRefusal(err):
		step.Error = p.refusalMessage(r, user.Name, m, err, zap.String("purpose", "set-up"))
		step.Status = refusalStatus(err)
	case err != nil:
		p.storeError(w, r, err)
		return
	case step.Done:
		p.audit(r, "method-added", user.Name, m.desc.Name, "success", zap.String("added", step.Added), verifiers.Named(step.Name))
		p.finish(w, r, pd, user, m.desc.Name)
		return
	case step.Sent && m.desc.StartEvent != "":
		p.audit(r, m.desc.StartEvent, user.Name, m.desc.Name, "success", zap.String("purpose", "set-up"))
	}
	pd.State = step.State
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	l := p.lang(r)
	d := pageData{Username: user.Name, First: true, Action: action, Cancel: Prefix, CancelLabel: l.T("portal.set_up.cancel"), BackTo: backToPassword(pd.Rd)}
	for _, o := range p.reg.setUp {
		if o != m && registrable(o, p.cfg.FirstSignInRegistration) {
			// The method's words are a message ID (or English until it
			// has moved them into its catalogue).
			d.Offers = append(d.Offers, offer{ID: o.desc.Name, URL: Prefix + "register/" + o.desc.Slug, Label: l.T(o.desc.SetUp)})
		}
	}
	p.showStep(w, r, m, step, d)
}

// showStep renders a set-up step in d (which has the set-up's links).
func (p *Portal) showStep(w http.ResponseWriter, r *http.Request, m *method, step verifiers.EnrolStep, d pageData) {
	t := m.pages[step.Page]
	if t == nil {
		p.storeError(w, r, errors.New("method "+m.desc.Name+" has no page "+step.Page))
		return
	}
	d.Title, d.Heading = step.Heading, step.Heading
	if d.Heading == "" {
		l := p.lang(r)
		heading := l.T("portal.set_up.heading", "Method", l.T(m.desc.Title))
		d.Title, d.Heading = heading, heading
	}
	d.Error, d.Step = step.Error, step.Data
	// A long set-up page shows its error beside the field to fix, where
	// the browser scrolls to, not above the instructions.
	d.ErrorAtField = t.Lookup("error-at-field") != nil
	if step.QR != "" {
		d.QR = d.Action + "/qr.png"
	}
	status := step.Status
	if status == 0 {
		status = http.StatusOK
	}
	p.renderPage(w, r, status, m.desc.Name+"/"+step.Page, t, d)
}

func isRefusal(err error) bool {
	var refusal verifiers.Refusal
	return errors.As(err, &refusal)
}

// guard checks a set-up's typed codes like the sign-in's: with the
// account's lockout around every guess.
func (p *Portal) guard(r *http.Request, user verifiers.User, m *method) func(int, func(string) (verifiers.Result, error)) verifiers.Guarded {
	return func(digits int, check func(string) (verifiers.Result, error)) verifiers.Guarded {
		res, msg, status := p.checkCode(r, user, m, digits, check)
		return verifiers.Guarded{Result: res, Error: msg, Status: status}
	}
}

// siteOrigin is the site's origin as the browser sees it, for links that
// another device opens.
func (p *Portal) siteOrigin(r *http.Request) string {
	scheme, host := p.schemeHost(r)
	return scheme + "://" + host
}

// registering reads the pending first-sign-in registration of method m;
// when it returns false it has answered the request. Registration is only
// for users with no method: otherwise a stolen password could replace the
// real owner's authenticator or phone. The one exception is a method whose
// set-up adds the credential before its last step, for that very set-up.
func (p *Portal) registering(w http.ResponseWriter, r *http.Request, m *method) (pending, verifiers.User, bool) {
	pd, user, ok := p.readPending(r, stageRegister)
	if !ok || !p.cfg.FirstSignInRegistration && !(pd.Grant && registrable(m, false)) {
		p.restart(w, r, msgRestart)
		return pd, user, false
	}
	any, err := p.anySetUp(r.Context(), user)
	if err == nil && any && m.own != nil && pd.M == m.desc.Name {
		var own bool
		own, err = m.own.OwnSetUp(r.Context(), user, p.attempt(r, &pd))
		any = !own
	}
	if err != nil || any {
		if any {
			p.restart(w, r, msgSetUpMeanwhile, "Help", p.help(p.lang(r)))
		} else {
			p.restart(w, r, msgRestart)
		}
		return pd, user, false
	}
	return pd, user, true
}

// registrable reports whether m can be set up at sign-in: every method
// with first-sign-in registration on; where it is off (a registration an
// administrator granted), the methods whose set-up finishes on this page.
// A device that enrols itself checks that registration is on, so the
// Stepgate Authenticator is added on Security info afterwards.
func registrable(m *method, registrationOn bool) bool {
	return registrationOn || m.own == nil
}

// setUpStep shows the current step of the request's registration for m
// again, for its QR code and its status; ok is false when there is none.
func (p *Portal) setUpStep(r *http.Request, m *method) (verifiers.EnrolStep, bool, error) {
	pd, user, ok := p.readPending(r, stageRegister)
	if !ok || pd.M != m.desc.Name || pd.State == "" {
		return verifiers.EnrolStep{}, false, nil
	}
	step, err := m.enrol.Enrol(r.Context(), verifiers.EnrolRequest{User: user, Challenge: p.attempt(r, &pd), First: true,
		State: pd.State, Site: p.siteOrigin(r), Guard: p.guard(r, user, m)})
	return step, err == nil, err
}

// setUpQR serves the QR code of the set-up under way.
func (p *Portal) setUpQR(w http.ResponseWriter, r *http.Request, m *method) {
	step, _, err := p.setUpStep(r, m)
	p.serveQR(w, r, step, err)
}

// serveQR serves the QR code of a set-up step.
func (p *Portal) serveQR(w http.ResponseWriter, r *http.Request, step verifiers.EnrolStep, err error) {
	securityHeaders(w.Header())
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	if step.QR == "" {
		http.NotFound(w, r)
		return
	}
	png, err := qrcode.PNG(step.QR, step.QRSize)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// setUpStatus answers the set-up page's poll.
func (p *Portal) setUpStatus(w http.ResponseWriter, r *http.Request, m *method) {
	step, ok, _ := p.setUpStep(r, m)
	p.serveStatus(w, step, ok)
}

// serveStatus answers a set-up page's poll: "pending" while it waits,
// "enrolled" once what it waited for has happened.
func (p *Portal) serveStatus(w http.ResponseWriter, step verifiers.EnrolStep, ok bool) {
	securityHeaders(w.Header())
	state := "gone"
	if ok {
		switch {
		case step.Ready:
			state = "enrolled"
		case step.Poll:
			state = "pending"
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": state})
}
