package portal

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/stepgate/stepgate/verifiers"
)

// Identity is the signed-in user behind a request.
type Identity struct {
	// User is the user as the users file describes them now.
	User verifiers.User
	// SessionID identifies the session (for logs and revocation).
	SessionID string

	groups  string // Remote-Groups value
	sess    session
	refresh bool // the idle timer should be pushed forward
}

// Policy says who may pass a protected route. An empty policy admits every
// signed-in user. The in-process handler (the `stepgate` directive's
// allow and deny lines) and the forward-auth endpoints (allow_user,
// allow_group, deny_user, deny_group in the query) fill in the same
// policy, and Decide judges it the same way.
type Policy struct {
	// Users admitted by name.
	Users []string `json:"users,omitempty"`
	// Groups whose members are admitted.
	Groups []string `json:"groups,omitempty"`
	// DenyUsers are refused even when an allow rule admits them.
	DenyUsers []string `json:"-"`
	// DenyGroups' members are refused even when an allow rule admits
	// them.
	DenyGroups []string `json:"-"`
	// PhishingResistant admits only sessions whose latest second step was
	// a phishing-resistant method (a passkey); others are asked to verify
	// with one (step-up).
	PhishingResistant bool `json:"-"`
}

// Allows reports whether the policy admits u: not denied, and allowed by
// name or group (or no allow rule at all).
func (pol *Policy) Allows(u *verifiers.User) bool {
	if matches(u, pol.DenyUsers, pol.DenyGroups) {
		return false
	}
	return len(pol.Users) == 0 && len(pol.Groups) == 0 || matches(u, pol.Users, pol.Groups)
}

// matches reports whether u is one of users or in one of groups.
func matches(u *verifiers.User, users, groups []string) bool {
	if slices.Contains(users, u.Name) {
		return true
	}
	for _, g := range groups {
		if u.InGroup(g) {
			return true
		}
	}
	return false
}

// Authenticate returns the identity behind the request's session cookie, or
// nil when there is no valid session. It is the hot path: no disk or
// network I/O, only the cookie's MAC and cipher and in-memory lookups.
func (p *Portal) Authenticate(r *http.Request) *Identity {
	return p.authenticate(p.isSecure(r), p.hostOf(r), r.Header["Cookie"])
}

// authenticate finds the identity behind the session cookie among cookies
// (Cookie header lines) of a request to host over HTTPS (secure) or not.
func (p *Portal) authenticate(secure bool, host string, cookies []string) *Identity {
	s, ok := p.readSession(secure, cookies)
	if !ok {
		return nil
	}
	return p.validate(host, s)
}

// sessionCookie returns the request's session cookie if its MAC and cipher
// check out, whatever its contents say (validate judges those).
func (p *Portal) sessionCookie(r *http.Request) (session, bool) {
	return p.readSession(p.isSecure(r), r.Header["Cookie"])
}

func (p *Portal) readSession(secure bool, cookies []string) (session, bool) {
	names := p.cookieNames(secure)
	raw, ok := cookieValue(cookies, names.session)
	if !ok {
		return session{}, false
	}
	// Each cookie name has its own cache, so a value verified under one
	// name is never taken for another (securecookie binds the name into
	// the MAC).
	cache := p.verified
	if !secure {
		cache = p.verifiedPlain
	}
	s, ok := cache.get(raw)
	if !ok {
		if err := securecookie.DecodeMulti(names.session, raw, &s, p.sessions...); err != nil {
			return session{}, false
		}
		cache.put(raw, s)
	}
	return s, true
}

// validate applies every check beyond the cookie's integrity to a session
// presented to host (with or without port).
func (p *Portal) validate(host string, s session) *Identity {
	// The session names the host (or cookie domain) it was issued for: a
	// cookie value carried to another host is refused.
	if s.Aud != p.audience(hostname(host)) {
		return nil
	}
	now := p.cfg.Now().Unix()
	if now >= p.expiry(s) || now-s.Seen >= p.idle(s) || s.Issued > now+60 {
		return nil
	}
	if p.revoked.revoked(s.ID, s.User, s.Issued) {
		return nil
	}
	u, groups, ok := p.cfg.Users.LookupWithGroups(s.User)
	if !ok || u.Disabled {
		return nil
	}
	id := &Identity{User: u, SessionID: s.ID, sess: s, groups: groups}
	id.refresh = now-s.Seen >= p.idle(s)/4
	return id
}

// Protect is the in-process front door: Caddy's handler serves the
// protected site itself. It reads the request's facts and makes the
// decision (Decide). When the request may go on, it strips client-sent
// identity headers and Stepgate's own cookies, sets the real identity
// headers, sends a refreshed session cookie with the response, and
// returns the identity with done=false. Otherwise it has written the
// response (redirect, 401 or 403) and returns done=true.
//
// Once Protect has let a request through, the request no longer carries
// the session cookie: a second protected route the same request passes
// through (a stricter `stepgate` inside a `route`) must use Admit with the
// identity the first one returned.
func (p *Portal) Protect(w http.ResponseWriter, r *http.Request, pol Policy) (id *Identity, done bool) {
	f := p.decisionFacts(r)
	d := p.Decide(&f, pol)
	if d.Outcome != Allow {
		p.answerFacts(r, &f)
		p.answer(w, r, &f, d)
		return nil, true
	}
	StripIdentityHeaders(r.Header)
	StripStepgateCookies(r.Header)
	p.setIdentityHeaders(r.Header, d.Identity)
	if d.Refresh != nil {
		http.SetCookie(w, d.Refresh)
	}
	return d.Identity, false
}

// Admit applies pol to id, the identity Protect established earlier for
// the same request, and reports whether the request may go on; when it may
// not, it has written the 403.
func (p *Portal) Admit(w http.ResponseWriter, r *http.Request, id *Identity, pol Policy) bool {
	d := p.Judge(id, pol)
	if d.Outcome != Allow {
		f := p.FactsOf(r)
		if d.Outcome == StepUp {
			d.Location = p.stepUpURL(&f)
		}
		p.answer(w, r, &f, d)
		return false
	}
	return true
}

// answer writes the in-process response to a decision that stops the
// request. A redirect on the request's own origin is sent origin-relative,
// so the Host header the client chose is not echoed back; one to a central
// portal is absolute (its return URL names the request's origin, which the
// portal checks before sending anyone there).
func (p *Portal) answer(w http.ResponseWriter, r *http.Request, f *Facts, d Decision) {
	w.Header().Set("Cache-Control", "no-store")
	switch d.Outcome {
	case SignIn:
		if !f.WantsHTML {
			p.unauthenticated(w, f)
			return
		}
		http.Redirect(w, r, relativeTo(d.Location, f), http.StatusFound)
	case StepUp:
		if !f.WantsHTML {
			p.stepUpRequired(w, f, d)
			return
		}
		http.Redirect(w, r, relativeTo(d.Location, f), http.StatusFound)
	default:
		p.forbidden(w, r, f, d.Identity)
	}
}

// relativeTo is location without f's origin when it is on that origin.
func relativeTo(location string, f *Facts) string {
	if rest, ok := strings.CutPrefix(location, f.Origin()); ok && strings.HasPrefix(rest, "/") {
		return rest
	}
	return location
}

// stepUpRequired answers an API client whose session must do more first:
// 403, naming the page where.
func (p *Portal) stepUpRequired(w http.ResponseWriter, f *Facts, d Decision) {
	if d.PhishingResistant {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "phishing_resistant_required",
			"message": "this resource needs a sign-in with a passkey: verify at " + p.pageRef(f, StepUpPath) + " first"})
		return
	}
	p.setUpRequired(w, f)
}

// setUpRequired answers an API client whose session must add a method
// first: 403, naming Security info.
func (p *Portal) setUpRequired(w http.ResponseWriter, f *Facts) {
	writeJSON(w, http.StatusForbidden, map[string]string{"error": "set_up_required", "message": "add a sign-in method at " + p.pageRef(f, SecurityInfoPath) + " first"})
}

// unauthenticated answers an API client without a session: 401, naming
// the sign-in page.
func (p *Portal) unauthenticated(w http.ResponseWriter, f *Facts) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthenticated", "message": "sign in at " + p.pageRef(f, Prefix)})
}

// writeError writes a fixed JSON error body with its status.
func writeError(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(body + "\n"))
}

// Groups is the comma-separated group list, as sent in Remote-Groups.
func (id *Identity) Groups() string { return id.groups }

// forbidden answers a signed-in user whom the policy does not admit.
func (p *Portal) forbidden(w http.ResponseWriter, r *http.Request, f *Facts, id *Identity) {
	p.audit(r, "access-denied", id.User.Name, "", "denied")
	if !f.WantsHTML {
		writeError(w, http.StatusForbidden, `{"error":"forbidden","message":"your account may not use this resource"}`)
		return
	}
	l := p.lang(r)
	p.render(w, r, http.StatusForbidden, "message", pageData{
		Title:   l.T("portal.access_denied.title"),
		Heading: l.T("portal.access_denied.heading"),
		Info:    l.T("portal.access_denied.info", "User", id.User.Name, "Help", p.help(l)),
		GoBack:  p.wayBack(r, f),
		Switch:  switchUserAction(f),
		Manage:  true,
	})
}

// wayBack is where "Go back" leads from a page the user may not see: the
// page they came from when the browser said so and it is one Stepgate
// would return anyone to (not this page, not a sign-in page), otherwise
// the site's start page, or nowhere when this is the start page.
func (p *Portal) wayBack(r *http.Request, f *Facts) string {
	if ref := r.Referer(); ref != "" {
		back := SafeReturnURL(ref, f.Host, p.cfg.CookieDomain, !f.Secure())
		u, err := url.Parse(back)
		here := u != nil && u.RequestURI() == f.URI && (u.Host == "" || strings.EqualFold(u.Host, f.Host))
		if err == nil && back != "/" && !here && !strings.HasPrefix(u.Path, Prefix) {
			return back
		}
	}
	if f.URI == "/" {
		return ""
	}
	return "/"
}

// switchUserAction is where "Sign in as someone else" posts: sign-out,
// then the sign-in page, returning to this page (a GET's) afterwards.
func switchUserAction(f *Facts) string {
	q := url.Values{"then": {"sign-in"}}
	if f.Method == http.MethodGet && f.URI != "/" {
		q.Set("rd", f.URI)
	}
	return LogoutPath + "?" + q.Encode()
}

// expiry is when s ends (unix seconds): the lifetime in force when it was
// issued, or the current one when that is shorter. Lowering `lifetime`
// shortens existing sessions; raising it never lengthens them, so nothing
// revoked under the old lifetime can come back. Sessions from before the
// expiry was recorded (Expires 0) follow the current lifetime.
//
// A remembered session ("Stay signed in") has the remember time instead
// of the lifetime, as long as remember is configured: turning it off
// ends remembered sessions at the normal lifetime.
func (p *Portal) expiry(s session) int64 {
	life := p.cfg.Lifetime
	if s.Remembered && p.cfg.Remember > 0 {
		life = p.cfg.Remember
	}
	end := s.Issued + int64(life/time.Second)
	if s.Expires != 0 && s.Expires < end {
		end = s.Expires
	}
	return end
}

// idle is the idle timeout of s in seconds: none (its whole life) for a
// remembered session while remember is configured.
func (p *Portal) idle(s session) int64 {
	if s.Remembered && p.cfg.Remember > 0 {
		return int64(p.cfg.Remember / time.Second)
	}
	return int64(p.cfg.Idle / time.Second)
}

// newSession issues a fresh session for user: a new random 128-bit ID
// every time, so no session identifier known before sign-in survives it.
func (p *Portal) newSession(r *http.Request, user string) session {
	b := make([]byte, 16)
	rand.Read(b)
	now := p.cfg.Now().Unix()
	return session{ID: hex.EncodeToString(b), User: user, Aud: p.audience(p.requestHost(r)), Issued: now, Seen: now,
		Expires: now + int64(p.cfg.Lifetime/time.Second)}
}

// setSession writes the session cookie.
func (p *Portal) setSession(w http.ResponseWriter, r *http.Request, s session) bool {
	c := p.sessionSetCookie(p.isSecure(r), s)
	if c == nil {
		return false
	}
	http.SetCookie(w, c)
	return true
}

// sessionSetCookie is the cookie that carries s to a browser on HTTPS
// (secure) or plain HTTP, or nil when s cannot be encoded.
func (p *Portal) sessionSetCookie(secure bool, s session) *http.Cookie {
	names := p.cookieNames(secure)
	v, err := securecookie.EncodeMulti(names.session, &s, p.sessions[0])
	if err != nil {
		return nil
	}
	c := &http.Cookie{
		Name: names.session, Value: v, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode,
		MaxAge:   int(p.expiry(s) - p.cfg.Now().Unix()),
	}
	if names.session == domainSessionName {
		c.Domain = p.cfg.CookieDomain
	}
	return c
}

// clearCookie deletes a cookie in the browser.
func (p *Portal) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	c := &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: p.isSecure(r), SameSite: http.SameSiteLaxMode, MaxAge: -1}
	if name == domainSessionName {
		c.Domain = p.cfg.CookieDomain
	}
	http.SetCookie(w, c)
}
