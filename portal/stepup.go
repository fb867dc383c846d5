package portal

import (
	"errors"
	"net/http"
	"net/url"
)

// StepUpPath is the page a site that requires a phishing-resistant second
// step (`require phishing_resistant`) sends a signed-in user whose
// session's second step was another method.
const StepUpPath = Prefix + "step-up"

// LogoutPath is the sign-out page.
const LogoutPath = Prefix + "logout"

// stepUp starts a second step with a phishing-resistant method for the
// signed-in user, returning to rd: the session's verification is renewed
// with that method, as for Security info. A user without such a method is
// told how to add one.
func (p *Portal) stepUp(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		notAllowed(w, r, "GET, HEAD")
		return
	}
	rd := p.safeRd(r, r.URL.Query().Get("rd"))
	id := p.Authenticate(r)
	if id == nil {
		http.Redirect(w, r, Prefix+"?rd="+url.QueryEscape(rd), http.StatusFound)
		return
	}
	if p.reg.phishingResistant(&id.sess) {
		p.toSite(w, r, rd, http.StatusFound)
		return
	}
	ctx := r.Context()
	pd := pending{ID: randomID(), User: id.User.Name, Stage: stageVerify, Rd: rd, Aud: p.requestHost(r), Created: p.cfg.Now().Unix(),
		Session: id.SessionID, Strong: true}
	have, err := p.userMethods(ctx, id.User)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	have = p.offered(pd, have)
	if len(have) == 0 {
		p.audit(r, "step-up", id.User.Name, "", "no-phishing-resistant-method")
		l := p.lang(r)
		p.render(w, r, http.StatusForbidden, "message", pageData{Title: l.T("portal.step_up.title"), Heading: l.T("portal.step_up.heading"),
			Info:   l.T("portal.step_up.info", "Help", p.help(l)),
			Manage: true, SignOut: true})
		return
	}
	pd.M = have[0].Method
	p.start(r, &pd, id.User)
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, Prefix+"verify", http.StatusSeeOther)
}
