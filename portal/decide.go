package portal

import (
	"net/http"
	"net/url"
	"time"
)

// Outcome is what a decision tells the front door to do with a request.
type Outcome uint8

const (
	// Allow: the request goes on, carrying the identity.
	Allow Outcome = iota + 1
	// SignIn: no valid session. Browsers are sent to Location; other
	// clients get 401.
	SignIn
	// StepUp: signed in, but the user must do something at Location
	// before going on (today: add a sign-in method after signing in with
	// a Temporary Access Pass). Browsers are sent there; other clients
	// get 403.
	StepUp
	// Forbidden: signed in, and the policy does not admit the user: 403.
	Forbidden
)

var outcomeNames = [...]string{Allow: "allow", SignIn: "sign-in", StepUp: "step-up", Forbidden: "forbidden"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return "invalid"
}

// Decision is the answer to one request, for any front door: Caddy's own
// handler (Protect) or, later, the forward-auth endpoints. What it says
// depends only on the request's facts, the policy and in-memory state.
type Decision struct {
	Outcome Outcome
	// Identity is the signed-in user (Allow, StepUp, Forbidden).
	Identity *Identity
	// Location is where a browser goes next, as an absolute URL (SignIn,
	// StepUp).
	Location string
	// PhishingResistant: a StepUp asks for a phishing-resistant second
	// step (a passkey), not for a method to be added.
	PhishingResistant bool
	// Refresh, when not nil, is the session cookie with its idle timer
	// moved on: the front door sends it to the browser with whatever
	// response ends the request.
	Refresh *http.Cookie
}

// Decide makes the per-request decision for a protected resource from the
// request's scheme, host, method, URI and cookies (the client's address
// and WantsHTML are for the answer, not the decision). It is the hot path:
// no disk or network I/O, only the session cookie's MAC and cipher
// (skipped for a value already verified) and in-memory lookups.
func (p *Portal) Decide(f *Facts, pol Policy) Decision {
	d := p.decide(f, pol)
	if p.cfg.Observer != nil {
		p.cfg.Observer.Decided(d.Outcome)
	}
	return d
}

func (p *Portal) decide(f *Facts, pol Policy) Decision {
	id := p.authenticate(f.Secure(), f.Host, f.Cookies)
	if id == nil {
		return Decision{Outcome: SignIn, Location: p.signInURL(f)}
	}
	if id.sess.By == bySetUpPass {
		return Decision{Outcome: StepUp, Identity: id, Location: p.pagesOrigin(f) + SecurityInfoPath + "?done=set-up-first"}
	}
	d := p.Judge(id, pol)
	if d.Outcome == StepUp {
		d.Location = p.stepUpURL(f)
	}
	if d.Outcome == Allow && id.refresh {
		d.Refresh = p.refreshed(f.Secure(), id.sess)
	}
	return d
}

// Judge applies pol to id, an identity already established for the
// request (by an earlier Decide on the same request).
func (p *Portal) Judge(id *Identity, pol Policy) Decision {
	if !pol.Allows(&id.User) {
		return Decision{Outcome: Forbidden, Identity: id}
	}
	if pol.PhishingResistant && !p.reg.phishingResistant(&id.sess) {
		// Location is the caller's to fill in (stepUpURL): Judge has no
		// facts of the request.
		return Decision{Outcome: StepUp, Identity: id, PhishingResistant: true}
	}
	return Decision{Outcome: Allow, Identity: id}
}

// stepUpURL is the page that asks for a phishing-resistant second step
// before returning to the request's page (a GET's; the site's root
// otherwise).
func (p *Portal) stepUpURL(f *Facts) string {
	rd := "/"
	if f.Method == http.MethodGet {
		rd = f.URI
	}
	if p.signsInElsewhere(f.Host) {
		rd = f.Origin() + rd
	}
	return p.pagesOrigin(f) + StepUpPath + "?rd=" + url.QueryEscape(rd)
}

// signInURL is the portal's first page, with the page to return to: on
// the central portal when there is one, otherwise on the request's own
// origin and only when that is worth remembering (a GET other than the
// site's root).
func (p *Portal) signInURL(f *Facts) string {
	if p.signsInElsewhere(f.Host) {
		return p.central.signInURL(f)
	}
	if f.URI != "/" && f.Method == http.MethodGet {
		return f.Origin() + Prefix + "?rd=" + url.QueryEscape(f.URI)
	}
	return f.Origin() + Prefix
}

// signsInElsewhere reports whether a request to host signs in on the
// central portal rather than on its own site.
func (p *Portal) signsInElsewhere(host string) bool {
	return p.central != nil && p.central.elsewhere(host)
}

// pagesOrigin is the origin serving the portal's pages for a request: the
// central portal's, or the request's own.
func (p *Portal) pagesOrigin(f *Facts) string {
	if p.signsInElsewhere(f.Host) {
		return p.central.origin
	}
	return f.Origin()
}

// pageRef names the portal page at path for an API client: on the
// central portal when the request's site signs in there, otherwise the
// path alone (the client's own Host header is not echoed back).
func (p *Portal) pageRef(f *Facts, path string) string {
	if p.signsInElsewhere(f.Host) {
		return p.central.origin + path
	}
	return path
}

// refreshed is the session cookie for s seen now: its idle timer starts
// again.
func (p *Portal) refreshed(secure bool, s session) *http.Cookie {
	s.Seen = p.cfg.Now().Unix()
	if s.Expires == 0 {
		// A session from before sessions carried their expiry (format 1)
		// gets the one it has now, so a lifetime raised later cannot
		// lengthen it past a revocation kept until then.
		s.Expires = p.expiry(s)
	}
	return p.sessionSetCookie(secure, s)
}

// Method is how the user passed their most recent second step in this
// session: a method's name, or how a Temporary Access Pass was used (""
// in sessions from before it was recorded).
func (id *Identity) Method() string { return id.sess.By }

// Verified is when the user last passed a second step in this session
// (the zero time when the session does not say).
func (id *Identity) Verified() time.Time {
	if id.sess.Verified == 0 {
		return time.Time{}
	}
	return time.Unix(id.sess.Verified, 0)
}
