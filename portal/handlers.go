package portal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/password"
)

// maxFormBytes bounds every POST body; sign-in forms are tiny.
const maxFormBytes = 16 << 10

// pending is the state between the password step and the second step. It
// grants no access: Authenticate never reads it, and securecookie binds the
// cookie's name into its MAC, so it cannot pass for a session cookie.
type pending struct {
	ID      string `json:"i"`           // challenge ID
	User    string `json:"u"`           // username whose password was right
	Stage   string `json:"s"`           // stageVerify or stageRegister
	Rd      string `json:"r"`           // safe return URL
	Aud     string `json:"a"`           // host the sign-in runs on
	Created int64  `json:"c"`           // unix seconds
	M       string `json:"m,omitempty"` // the second-step method in use (registration: the one being set up)
	Prompt  string `json:"n,omitempty"` // what starting it said ("We texted your phone …")
	Err     string `json:"e,omitempty"` // why starting it failed
	Show    string `json:"d,omitempty"` // the number to pick on the phone (approval requests)
	State   string `json:"t,omitempty"` // the set-up's state (registration), the method's own
	// Session is set when a signed-in user verifies again (for Security
	// info): the ID of the session whose verification time the second
	// step renews. No new session is issued.
	Session string `json:"v,omitempty"`
	// Grant is set on a registration that an administrator's
	// `reset-methods` allowed where first-sign-in registration is off.
	Grant bool `json:"g,omitempty"`
	// Reset is set on a password reset (see passwordreset.go): how many
	// more methods the user must verify with. Finishing a second step
	// with it set never issues a session.
	Reset int `json:"x,omitempty"`
	// Used are the methods a password reset was verified with so far: none
	// counts twice, and "Sign in another way" offers only the others.
	Used []string `json:"w,omitempty"`
	// Nonce is the one-time token of a password reset whose verifications
	// are done (stageNewPassword): its hash is in the store, and the new
	// password uses it up.
	Nonce string `json:"o,omitempty"`
	// Strong is set on a step-up for a site that requires a
	// phishing-resistant second step: only such methods are offered.
	Strong bool `json:"k,omitempty"`
	// First is the first step when it was not the password: a passkey
	// without user verification, whose second step follows.
	First string `json:"f,omitempty"`
}

const (
	stageVerify   = "verify"
	stageRegister = "register"
	// stageNewPassword is a password reset whose verifications are done:
	// only its page (choose a new password) reads it.
	stageNewPassword = "new-password"
)

// ServeHTTP serves the portal's pages under Prefix.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ForwardAuthPath:
		p.serveAuthz(w, r, false)
		return
	case AuthRequestPath:
		p.serveAuthz(w, r, true)
		return
	}
	// Everything below speaks the user's language: pages, and what
	// methods say (they read it from the context).
	r = r.WithContext(messages.With(r.Context(), p.chooseLang(r)))
	path := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(Prefix, "/"))
	if strings.HasPrefix(path, "/"+staticDir+"/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		serveStatic(w, r)
		return
	}
	if strings.HasPrefix(path, "/"+brandDir+"/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		p.brand.serve(w, r, strings.TrimPrefix(path, "/"))
		return
	}
	rt, methodRoute := p.reg.route(strings.TrimPrefix(path, "/"))
	// A method's own API (anything but GET or HEAD: the Authenticator's
	// answers, a telephony callback) is served wherever it is sent; every
	// page moves to the central portal.
	if api := methodRoute && r.Method != http.MethodGet && r.Method != http.MethodHead; !api && p.central != nil {
		if f := p.decisionFacts(r); p.signsInElsewhere(f.Host) {
			p.central.redirect(w, r, &f)
			return
		}
	}
	if methodRoute && rt.Insecure {
		p.serveRoute(w, r, rt)
		return
	}
	l := p.lang(r)
	if !p.insecureOK(r) {
		p.audit(r, "insecure-request", "", "", "refused")
		p.render(w, r, http.StatusForbidden, "message", pageData{
			Title: l.T("portal.insecure.title"), Heading: l.T("portal.insecure.heading"),
			Info: l.T("portal.insecure.info", "Help", p.help(l)),
		})
		return
	}
	if methodRoute && !rt.Form {
		p.serveRoute(w, r, rt)
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			status := http.StatusBadRequest
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			p.render(w, r, status, "message", pageData{Title: l.T("portal.request.unreadable.title"), Heading: l.T("portal.request.unreadable.heading"),
				Info: l.T("portal.request.unreadable.info"), Continue: Prefix})
			return
		}
		if !p.checkCSRF(r) {
			p.audit(r, "csrf-rejected", "", "", "refused", zap.String("path", r.URL.Path))
			p.render(w, r, http.StatusForbidden, "message", pageData{Title: l.T("portal.request.expired.title"), Heading: l.T("portal.request.expired.heading"),
				Info: l.T("portal.request.expired.info"), Continue: Prefix})
			return
		}
	}
	if methodRoute {
		p.serveRoute(w, r, rt)
		return
	}
	if path == "" {
		http.Redirect(w, r, Prefix, http.StatusFound)
		return
	}
	pg, rest, ok := findPage(strings.TrimPrefix(path, "/"))
	if !ok {
		p.notFound(w, r)
		return
	}
	pg.serve(p, w, r, rest)
}

// portalPage is one of the portal's own pages.
type portalPage struct {
	// path is relative to Prefix, without a leading or trailing "/": ""
	// is the sign-in page itself.
	path string
	// below: the page also serves every path under path + "/", and is
	// given what follows that as rest.
	below bool
	serve func(p *Portal, w http.ResponseWriter, r *http.Request, rest string)
}

// staticDir holds the portal's CSS and scripts, under Prefix.
const staticDir = "static"

// portalPages is every path the portal serves itself: ServeHTTP finds its
// pages here, and newRegistry refuses a method route at, above or below
// any of them (reservedBy). Method routes are matched before these pages,
// so a page served any other way could be taken over by a plugged-in
// method; add new pages here.
var portalPages = []portalPage{
	{path: "", serve: func(p *Portal, w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPost {
			p.postLogin(w, r)
		} else {
			p.getLogin(w, r)
		}
	}},
	{path: "verify", serve: noRest((*Portal).verify)},
	{path: "verify/status", serve: noRest((*Portal).verifyStatus)},
	{path: "verify/other", serve: noRest((*Portal).otherMethods)},
	{path: "verify/method", serve: noRest((*Portal).chooseMethod)},
	{path: "register", below: true, serve: (*Portal).register},
	{path: "logout", serve: noRest((*Portal).logout)},
	{path: "access-pass", serve: noRest((*Portal).accessPass)},
	{path: "passkey-sign-in", serve: noRest((*Portal).passkeySignIn)},
	{path: strings.TrimPrefix(RememberPath, Prefix), serve: noRest((*Portal).stayOffer)},
	{path: strings.TrimPrefix(StepUpPath, Prefix), serve: noRest((*Portal).stepUp)},
	{path: strings.TrimPrefix(LanguagePath, Prefix), serve: noRest((*Portal).switchLanguage)},
	{path: "password-reset", serve: noRest((*Portal).passwordReset)},
	{path: "password-reset/new", serve: noRest((*Portal).newPassword)},
	{path: strings.TrimPrefix(SecurityInfoPath, Prefix), below: true, serve: (*Portal).securityInfo},
	// GET and HEAD of static files are answered before anything else
	// (ServeHTTP); other requests find nothing there.
	{path: staticDir, below: true, serve: noRest((*Portal).notFound)},
	// So are the branding files (the logo, the colours).
	{path: brandDir, below: true, serve: noRest((*Portal).notFound)},
}

// noRest adapts a page that serves one path only.
func noRest(f func(*Portal, http.ResponseWriter, *http.Request)) func(*Portal, http.ResponseWriter, *http.Request, string) {
	return func(p *Portal, w http.ResponseWriter, r *http.Request, _ string) { f(p, w, r) }
}

// findPage returns the portal page serving rel (a path under Prefix,
// without its leading "/"), and the rest of rel below the page.
func findPage(rel string) (portalPage, string, bool) {
	for _, pg := range portalPages {
		if rel == pg.path {
			return pg, "", true
		}
		if pg.below && strings.HasPrefix(rel, pg.path+"/") {
			return pg, rel[len(pg.path)+1:], true
		}
	}
	return portalPage{}, "", false
}

// reservedBy returns the page of pages (portalPages) that a method route
// at path (under Prefix) would overlap: one at, above or below the page ("verify/",
// "verify/status" and "register/sms/x" all overlap a page). Even a route
// below a page that serves one path only is refused, so a subpage the
// portal adds later cannot already belong to a method. The sign-in page
// "" reserves only itself.
func reservedBy(pages []portalPage, path string) (string, bool) {
	path = strings.TrimSuffix(path, "/")
	for _, pg := range pages {
		switch {
		case pg.path == "":
			if path == "" {
				return pg.path, true
			}
		case path == pg.path, strings.HasPrefix(path, pg.path+"/"), strings.HasPrefix(pg.path, path+"/"):
			return pg.path, true
		}
	}
	return "", false
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	l := p.lang(r)
	// The Stepgate Authenticator's address (the push method's, see
	// builtin.go), kept on a phone's home screen after push was turned
	// off: say so, rather than that the page never existed.
	if app := Prefix + "authenticator"; p.cfg.Push == nil && (r.URL.Path == app || strings.HasPrefix(r.URL.Path, app+"/")) {
		p.render(w, r, http.StatusNotFound, "message", pageData{Title: l.T("portal.not_found.authenticator.title"),
			Heading: l.T("portal.not_found.authenticator.heading"), Info: l.T("portal.not_found.authenticator.info", "Help", p.help(l))})
		return
	}
	p.render(w, r, http.StatusNotFound, "message", pageData{Title: l.T("portal.not_found.title"), Heading: l.T("portal.not_found.heading"),
		Info: l.T("portal.not_found.info"), Continue: Prefix})
}

// serveRoute serves one of a method's own endpoints.
func (p *Portal) serveRoute(w http.ResponseWriter, r *http.Request, rt verifiers.Route) {
	securityHeaders(w.Header())
	if !routeAllows(rt, r.Method) {
		notAllowed(w, r, strings.Join(rt.Methods, ", "))
		return
	}
	rt.Handler.ServeHTTP(w, r)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		notAllowed(w, r, "GET, HEAD, POST")
		return true
	}
	return false
}

// notAllowed answers a request whose HTTP method the page does not take
// (405), naming the methods it takes in allow.
func notAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, messages.From(r.Context()).T("portal.http.method_not_allowed"), http.StatusMethodNotAllowed)
}

// help is who users are told to contact, in l's language when the
// administrator named nobody (help_contact).
func (p *Portal) help(l *messages.Localizer) string {
	if p.helpDefault {
		return l.T("portal.help.default")
	}
	return p.cfg.HelpContact
}

func (p *Portal) safeRd(r *http.Request, raw string) string {
	return SafeReturnURL(raw, p.hostOf(r), p.cfg.CookieDomain, !p.isSecure(r))
}

// getLogin shows the password step, or sends a signed-in user on.
func (p *Portal) getLogin(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	rd := p.safeRd(r, r.URL.Query().Get("rd"))
	if id := p.Authenticate(r); id != nil {
		if r.URL.Query().Has("rd") {
			p.toSite(w, r, rd, http.StatusFound)
			return
		}
		// On a central portal "/" is this page again: Continue leads to
		// the site the user last went to from here, if any.
		cont := p.backURL(r)
		l := p.lang(r)
		p.render(w, r, http.StatusOK, "message", pageData{Title: l.T("portal.signed_in.title"), Heading: l.T("portal.signed_in.heading"),
			Info: l.T("portal.signed_in.info", "User", id.User.Name), Continue: cont, SignOut: true, Manage: true})
		return
	}
	p.signInPage(w, r, http.StatusOK, pageData{Rd: rd})
}

// signInPage shows the password step with d (its error or notice, what
// was typed), titled.
func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	l := p.lang(r)
	d.Title, d.Heading = l.T("portal.signin.heading"), l.T("portal.signin.heading")
	p.render(w, r, status, "login", d)
}

// postLogin runs the password step.
func (p *Portal) postLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typed := r.PostFormValue("username")
	// Every name of one account (an Active Directory user's
	// userPrincipalName and sAMAccountName) shares its lockout.
	name := directory.Canonical(p.cfg.Users, password.NormalizeName(typed))
	rd := p.safeRd(r, r.PostFormValue("rd"))
	l := p.lang(r)
	again := func(status int, msg string) {
		if len(typed) > 64 {
			typed = ""
		}
		p.signInPage(w, r, status, pageData{Error: msg, Rd: rd, Username: typed})
	}
	// A network over its budget of failed attempts is refused before
	// anything else: nothing is checked, and no account's failures count
	// it, so nobody is locked out by someone else's flood.
	source := verifiers.SourceKey(p.cfg.ClientIP(r))
	if err := p.cfg.Users.CheckSource(ctx, source); err != nil {
		p.passwordRefused(w, r, name, err, again)
		return
	}
	// The attempt is taken for every name, existing or not, so a locked
	// message does not reveal that an account exists. It is counted as a
	// failure before the password is checked (see takeAttempt), so any
	// number of concurrent guesses check no more than the back-off allows.
	var taken store.Attempt
	if name != "" {
		a, msg, ok := p.takeAttempt(r, name, store.FailuresPassword, "password")
		if !ok {
			again(lockStatus(l, msg), msg)
			return
		}
		taken = a
	}
	user, ok, err := p.cfg.Users.Authenticate(ctx, source, typed, r.PostFormValue("password"))
	if err != nil {
		// The password was never checked (the network used its budget
		// since CheckSource, no hashing slot came free, or the client
		// left): the attempt is given back.
		if name != "" {
			p.returnAttempt(ctx, name, "password", taken)
		}
		p.passwordRefused(w, r, name, err, again)
		return
	}
	if !ok {
		// Unknown names were counted too: the same store write keeps the
		// timing equal, and the same lockout keeps the messages equal.
		p.failed(r, name, "password", "failure", taken.Failures)
		again(http.StatusUnauthorized, l.T("portal.signin.bad_login", "Help", p.help(l)))
		return
	}
	// The password was right: the attempt taken for it is given back with
	// the failures before it.
	if err := p.cfg.Store.ResetFailures(ctx, user.Name, "password"); err != nil {
		p.log.Error("resetting failures", zap.Error(err))
	}
	if user.Disabled {
		p.audit(r, "sign-in", user.Name, "password", "disabled")
		again(http.StatusForbidden, l.T("portal.signin.disabled", "Help", p.help(l)))
		return
	}
	// A browser the user chose not to be asked on again skips the
	// second step (only when remember_device is on).
	if p.skipSecondStep(w, r, user, rd) {
		return
	}
	p.audit(r, "sign-in", user.Name, "password", "password-ok")

	have, err := p.userMethods(ctx, user)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	setUp, err := p.anySetUp(ctx, user)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	pd := pending{ID: randomID(), User: user.Name, Rd: rd, Aud: p.requestHost(r), Created: p.cfg.Now().Unix()}
	switch {
	case len(have) > 0:
		pd.Stage = stageVerify
		if pd.M, err = p.defaultMethod(ctx, user, have); err != nil {
			p.storeError(w, r, err)
			return
		}
		p.start(r, &pd, user)
	case !setUp && p.cfg.FirstSignInRegistration:
		pd.Stage = stageRegister
	case !setUp && p.granted(ctx, user.Name):
		pd.Stage, pd.Grant = stageRegister, true
	case setUp:
		p.audit(r, "sign-in", user.Name, "", "no-usable-method")
		p.render(w, r, http.StatusForbidden, "message", pageData{Title: l.T("portal.cant_finish.title"), Heading: l.T("portal.cant_finish.heading"),
			Info: l.T("portal.cant_finish.no_usable_method", "Help", p.help(l))})
		return
	default:
		p.audit(r, "sign-in", user.Name, "", "no-method")
		p.render(w, r, http.StatusForbidden, "message", pageData{Title: l.T("portal.cant_finish.title"), Heading: l.T("portal.cant_finish.heading"),
			Info: l.T("portal.cant_finish.no_method", "Help", p.help(l))})
		return
	}
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, Prefix+pd.Stage, http.StatusSeeOther)
}

// granted reports whether an administrator's `reset-methods` lets the user
// set up a method at sign-in where registration is off. A store error
// counts as no: the user is told to contact the help desk.
func (p *Portal) granted(ctx context.Context, user string) bool {
	ok, err := p.cfg.Store.RegistrationGranted(ctx, user)
	if err != nil {
		p.log.Error("reading a registration grant", zap.String("user", user), zap.Error(err))
	}
	return ok && err == nil
}

// passwordRefused answers a password that was not checked: the client's
// network used its budget of failed attempts (429, with when to try
// again), or no hashing slot came free in time (503).
func (p *Portal) passwordRefused(w http.ResponseWriter, r *http.Request, name string, err error, again func(int, string)) {
	l := p.lang(r)
	var tooMany *password.TooManyAttemptsError
	var refused *directory.PasswordError
	switch {
	case errors.As(err, &refused):
		// The directory checked the password and will not take it now
		// (expired): the user is told what to do.
		p.audit(r, "sign-in", name, "password", "password-expired")
		again(http.StatusForbidden, refused.Reason)
		return
	case errors.Is(err, directory.ErrUnavailable):
		p.audit(r, "sign-in", name, "password", "directory-unavailable")
		again(http.StatusServiceUnavailable, l.T(msgUnavailable))
		return
	}
	if !errors.As(err, &tooMany) {
		p.audit(r, "sign-in", name, "password", "busy")
		again(http.StatusServiceUnavailable, l.T("portal.signin.busy"))
		return
	}
	secs := int(tooMany.RetryAfter / time.Second)
	p.audit(r, "sign-in", name, "password", "source-limited", zap.Int("retry_after_s", secs))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	again(http.StatusTooManyRequests, l.T("portal.signin.network_limited", "Count", secs))
}

// locked reports whether the account's method is in back-off, with the
// message to show. It only reads the counter: where the user makes a guess,
// takeAttempt counts it atomically instead.
func (p *Portal) locked(r *http.Request, name, method string) (string, bool) {
	l := p.lang(r)
	f, err := p.cfg.Store.Failures(r.Context(), name, method)
	if err != nil {
		// Fail closed: without the counter we cannot enforce the limit.
		p.storeFailed()
		p.log.Error("reading failure counter", zap.Error(err))
		return l.T(msgUnavailable), true
	}
	wait, hard := p.cfg.Lockout.Wait(f, p.cfg.Now())
	return lockedMessage(l, wait, hard, p.help(l)), hard || wait > 0
}

// msgUnavailable is the message of a guess refused because the store
// could not be asked.
const msgUnavailable = "portal.signin.unavailable"

// lockStatus is the status of a page refusing a guess with msg (in l's
// language): 503 when the store could not be asked (msgUnavailable), 429
// for a lockout.
func lockStatus(l *messages.Localizer, msg string) int {
	if msg == l.T(msgUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusTooManyRequests
}

// lockedMessage says that the account is locked (hard) or must wait, in
// l's language: the wait rounded up, as "a second", "2 minutes" or "an
// hour" (any wait longer than 59 minutes); "" when it need not wait.
func lockedMessage(l *messages.Localizer, wait time.Duration, hard bool, help string) string {
	switch {
	case hard:
		return l.T("portal.lockout.hard", "Help", help)
	case wait <= 0:
		return ""
	}
	return lockoutWait.Say(l, wait)
}

var lockoutWait = verifiers.WaitWords{Seconds: "portal.lockout.seconds", Minutes: "portal.lockout.minutes", Hour: "portal.lockout.hour"}

// takeAttempt takes one attempt at a guess (a password, a typed code) on
// the user's counter before the guess is checked: the store counts it as a
// failure in the same atomic step that applies the back-off, so a burst of
// parallel guesses cannot all be checked before the first failures are
// counted. The caller gives the attempt back: ResetFailures after a
// success, returnAttempt when the guess could not be checked. When the
// attempt is refused (back-off, lockout, or the store failing: fail
// closed) it returns false and the message to show.
func (p *Portal) takeAttempt(r *http.Request, user, counter, method string) (store.Attempt, string, bool) {
	a, err := p.cfg.Store.TakeAttempt(r.Context(), user, counter, p.cfg.Now(), p.cfg.Lockout.Wait)
	if err != nil {
		p.storeFailed()
		p.log.Error("taking an attempt", zap.Error(err))
		p.audit(r, "sign-in", user, method, "error", zap.Error(err))
		return store.Attempt{}, p.lang(r).T(msgUnavailable), false
	}
	if !a.Taken {
		p.audit(r, "sign-in", user, method, "locked", zap.Int("failures_in_a_row", a.Failures.Count))
		l := p.lang(r)
		return a, lockedMessage(l, a.Wait, a.Locked, p.help(l)), false
	}
	return a, "", true
}

// returnAttempt gives back an attempt whose guess could not be checked.
func (p *Portal) returnAttempt(ctx context.Context, user, counter string, a store.Attempt) {
	if err := p.cfg.Store.ReturnAttempt(ctx, user, counter, a); err != nil {
		p.log.Error("returning an attempt", zap.Error(err))
	}
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (p *Portal) setPending(w http.ResponseWriter, r *http.Request, pd pending) bool {
	name := p.names(r).pending
	v, err := securecookie.EncodeMulti(name, &pd, p.pendings[0])
	if err != nil {
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: p.isSecure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(pendingLifetime / time.Second)})
	return true
}

// readPending returns the request's pending sign-in at the given stage, and
// the user it is for.
func (p *Portal) readPending(r *http.Request, stage string) (pending, verifiers.User, bool) {
	var pd pending
	name := p.names(r).pending
	raw, ok := findCookie(r, name)
	if !ok || securecookie.DecodeMulti(name, raw, &pd, p.pendings...) != nil {
		return pd, verifiers.User{}, false
	}
	now := p.cfg.Now().Unix()
	if pd.Stage != stage || pd.Aud != p.requestHost(r) || now-pd.Created > int64(pendingLifetime/time.Second) || pd.Created > now+60 {
		return pd, verifiers.User{}, false
	}
	u, ok := p.cfg.Users.Lookup(pd.User)
	if !ok || u.Disabled {
		return pd, verifiers.User{}, false
	}
	return pd, u, true
}

// restart sends the user back to the password step, keeping the return
// URL, with message id (and its args) as a notice.
func (p *Portal) restart(w http.ResponseWriter, r *http.Request, id string, args ...any) {
	p.clearCookie(w, r, p.names(r).pending)
	p.signInPage(w, r, http.StatusOK, pageData{Info: p.lang(r).T(id, args...), Rd: "/"})
}

// msgRestart is restart's notice for a sign-in that cannot go on.
const msgRestart = "portal.signin.restart"

// msgSetUpMeanwhile is restart's notice for a user whose set-up found the
// account already set up: by this set-up finishing before (a second
// click), or by someone else who knows the password. It takes "Help".
const msgSetUpMeanwhile = "portal.signin.set_up_meanwhile"

// codeFormat is what a code of the wrong form gets.
func codeFormat(l *messages.Localizer, digits int) string {
	return l.T("portal.code.format", "Digits", digits)
}

// verify runs the second step with the pending sign-in's current method.
func (p *Portal) verify(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	pd, user, ok := p.readPending(r, stageVerify)
	m := p.reg.get(pd.M)
	if !ok || m == nil {
		p.restart(w, r, msgRestart)
		return
	}
	show := func(status int, msg string) {
		d, err := p.verifyPage(r, pd, user, m, msg)
		if err != nil {
			p.storeError(w, r, err)
			return
		}
		if status >= http.StatusBadRequest {
			// The request is over (denied, expired, …): nothing to wait
			// for, no number to pick.
			d.Live, d.Number = false, ""
		}
		p.renderPage(w, r, status, "verify", m.verify, d)
	}
	if r.Method != http.MethodPost {
		show(http.StatusOK, pd.Err)
		return
	}
	var res verifiers.Result
	var msg string
	var status int
	switch m.desc.Answer {
	case verifiers.Approval:
		p.checkAnswered(w, r, pd, user, m, show)
		return
	case verifiers.Ceremony:
		res, msg, status = p.checkCeremony(r, user, m, func(answer string) (verifiers.Result, error) {
			return m.Check(r.Context(), user, p.attempt(r, &pd), answer)
		})
	default:
		res, msg, status = p.checkCode(r, user, m, m.desc.CodeDigits, func(code string) (verifiers.Result, error) {
			return m.Check(r.Context(), user, p.attempt(r, &pd), code)
		})
	}
	if res != verifiers.Accepted {
		show(status, msg)
		return
	}
	p.finish(w, r, pd, user, pd.M)
}

// verifyPage is what the verify page shows for the current method.
func (p *Portal) verifyPage(r *http.Request, pd pending, user verifiers.User, m *method, msg string) (pageData, error) {
	ctx := r.Context()
	have, err := p.userMethods(ctx, user)
	if err != nil {
		return pageData{}, err
	}
	// The method may have just been turned off (a fraud report on a call
	// or a sign-in request): then nothing on the page offers it again,
	// and every method left counts as another way.
	current, others := false, false
	for _, c := range p.offered(pd, have) {
		if c.Method == pd.M {
			current = true
		} else {
			others = true
		}
	}
	// The method's words are message IDs (English until it has moved
	// them into its catalogue, which T gives back unchanged).
	l := p.lang(r)
	d := pageData{Title: l.T(m.desc.Heading), Heading: l.T(m.desc.Heading), Error: msg, Username: user.Name,
		Method: pd.M, Prompt: pd.Prompt, Others: others, Answer: string(m.desc.Answer), Hint: l.T(m.desc.Hint),
		Again: l.T(m.desc.Again), Number: pd.Show, Live: pd.Err == "", Digits: m.desc.CodeDigits, GoOn: l.T(m.desc.Continue),
		BackTo: backToPassword(pd.Rd)}
	if !current {
		d.Again, d.Live, d.Number, d.Gone = "", false, "", true
		if d.Error == "" {
			// A reload of the page after the answer that turned it off:
			// say what happened.
			d.Error = l.T("portal.verify.method_gone")
			if m.deny != nil {
				if den, err := m.deny.Denied(ctx, user, p.attempt(r, &pd), p.help(l)); err == nil && den.Message != "" {
					d.Error = l.T(den.Message)
				}
			}
		}
	}
	if pd.Reset > 0 {
		d.Info = l.T("portal.verify.reset_step", "Step", len(pd.Used)+1, "Steps", len(pd.Used)+pd.Reset)
		d.Resetting = true
	}
	if pd.Session != "" && !pd.Strong {
		// Verifying again on Security info, signed in: there is no
		// password step to go back to, and cancelling returns there.
		d.Info = l.T("portal.verify.reverify")
		d.BackTo, d.Cancel, d.CancelLabel = "", p.safeRd(r, pd.Rd), l.T("portal.verify.cancel")
	}
	if m.extra != nil {
		if d.Step, err = m.extra.PageData(ctx, user, p.attempt(r, &pd)); err != nil {
			return pageData{}, err
		}
	}
	return d, nil
}

// checkCode runs one typed code's check with the lockout around it and
// returns the result, and for a failure the message and status to show.
func (p *Portal) checkCode(r *http.Request, user verifiers.User, m *method, digits int, check func(code string) (verifiers.Result, error)) (verifiers.Result, string, int) {
	l := p.lang(r)
	code, ok := verifiers.NormalizeCode(r.PostFormValue("code"), digits)
	if !ok {
		if msg, locked := p.locked(r, user.Name, codeFailures); locked {
			return verifiers.Rejected, msg, lockStatus(l, msg)
		}
		return verifiers.Rejected, codeFormat(l, digits), http.StatusBadRequest
	}
	return p.guess(r, user, m, l.T("portal.code.gone"), l.T("portal.code.unchecked"), func() (verifiers.Result, error) {
		return check(code)
	})
}

// checkCeremony checks a ceremony's answer (the form's "credential") with
// the lockout around it, like a typed code.
func (p *Portal) checkCeremony(r *http.Request, user verifiers.User, m *method, check func(answer string) (verifiers.Result, error)) (verifiers.Result, string, int) {
	l := p.lang(r)
	answer := r.PostFormValue("credential")
	if answer == "" {
		if msg, locked := p.locked(r, user.Name, codeFailures); locked {
			return verifiers.Rejected, msg, lockStatus(l, msg)
		}
		return verifiers.Rejected, l.T("portal.passkey.missing"), http.StatusBadRequest
	}
	gone := l.T(m.desc.Gone)
	if gone == "" {
		gone = l.T("portal.code.gone")
	}
	return p.guess(r, user, m, gone, l.T("portal.passkey.unchecked"), func() (verifiers.Result, error) {
		return check(answer)
	})
}

// guess runs one check of a user's answer (a code, a ceremony's result)
// with an attempt taken from the account's lockout first, and returns the
// result, and for a failure the message and status to show: gone when the
// challenge had no live answer, unavailable when it could not be checked.
func (p *Portal) guess(r *http.Request, user verifiers.User, m *method, gone, unavailable string, check func() (verifiers.Result, error)) (verifiers.Result, string, int) {
	ctx := r.Context()
	l := p.lang(r)
	method := m.desc.Name
	taken, msg, ok := p.takeAttempt(r, user.Name, codeFailures, method)
	if !ok {
		return verifiers.Rejected, msg, lockStatus(l, msg)
	}
	res, err := check()
	if err != nil {
		p.returnAttempt(ctx, user.Name, codeFailures, taken)
		p.audit(r, "sign-in", user.Name, method, "error", zap.Error(err))
		return verifiers.Rejected, unavailable, http.StatusServiceUnavailable
	}
	switch res {
	case verifiers.Accepted:
		if err := p.cfg.Store.ResetFailures(ctx, user.Name, codeFailures); err != nil {
			p.log.Error("resetting failures", zap.Error(err))
		}
		return res, "", http.StatusOK
	case verifiers.Replayed:
		p.failed(r, user.Name, method, "replayed", taken.Failures)
		return res, l.T("portal.code.used"), http.StatusUnauthorized
	case verifiers.Expired:
		// No guess was checked: there was no live code to compare with.
		p.returnAttempt(ctx, user.Name, codeFailures, taken)
		p.audit(r, "sign-in", user.Name, method, "expired")
		return res, gone, http.StatusUnauthorized
	default:
		p.failed(r, user.Name, method, "failure", taken.Failures)
		wrong := l.T(m.desc.WrongCode)
		if wrong == "" {
			wrong = l.T("portal.code.wrong")
		}
		return res, wrong, http.StatusUnauthorized
	}
}

// addFailure counts a failure that was not a guess made here (a denial
// given on the phone) and logs it.
func (p *Portal) addFailure(r *http.Request, user, method, outcome string) {
	f, err := p.cfg.Store.AddFailure(r.Context(), user, codeFailures, p.cfg.Now())
	if err != nil {
		p.log.Error("counting failure", zap.Error(err))
	}
	p.failed(r, user, method, outcome, f)
}

// failed logs a failure already counted (f is the counter with it), and
// the lockout when this failure starts the back-off or the hard lock.
func (p *Portal) failed(r *http.Request, user, method, outcome string, f store.Failures) {
	p.audit(r, "sign-in", user, method, outcome, zap.Int("failures_in_a_row", f.Count))
	if user != "" && (f.Count == p.cfg.Lockout.Threshold || f.Count == p.cfg.Lockout.HardLimit) {
		p.audit(r, "lockout", user, method, "locked", zap.Int("failures_in_a_row", f.Count))
	}
}

// finish completes sign-in: a new session, the pending state dropped, and
// the user sent back where they were going.
func (p *Portal) finish(w http.ResponseWriter, r *http.Request, pd pending, user verifiers.User, method string) {
	if pd.Session != "" {
		p.reverified(w, r, pd, user, method)
		return
	}
	if pd.Reset > 0 {
		p.resetVerified(w, r, pd, user, method)
		return
	}
	s := p.newSession(r, user.Name)
	s.Verified, s.By = s.Issued, method
	if pd.First != "" {
		s.Methods = pd.First + "," + method
	}
	if !p.setSession(w, r, s) {
		p.storeError(w, r, errors.New("encoding session cookie"))
		return
	}
	p.clearCookie(w, r, p.names(r).pending)
	p.audit(r, "sign-in", user.Name, method, "success", zap.String("session", s.ID[:8]))
	p.afterSignIn(w, r, s, p.safeRd(r, pd.Rd))
}

// logout asks for confirmation (GET) or ends the session (POST). The
// session ID is revoked in the store, so a copy of the cookie stops working
// on every instance, not only in this browser.
func (p *Portal) logout(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	names := p.names(r)
	s, valid := p.sessionCookie(r)
	// After signing out, signing in again returns to rd (a page the
	// sign-out was asked for from); then=sign-in goes straight there.
	again := Prefix
	if rd := p.safeRd(r, r.FormValue("rd")); rd != "/" {
		again = Prefix + "?rd=" + url.QueryEscape(rd)
	}
	switchUser := r.FormValue("then") == "sign-in"
	l := p.lang(r)
	if r.Method != http.MethodPost {
		if id := p.Authenticate(r); id != nil {
			pd := pageData{Title: l.T("portal.sign_out.heading"), Heading: l.T("portal.sign_out.heading"), Username: id.User.Name, Action: LogoutPath}
			_, pd.Forget = p.rememberedDevice(r, id.User.Name)
			if switchUser || again != Prefix {
				pd.Action = r.URL.RequestURI()
			}
			if switchUser {
				pd.Title, pd.Heading, pd.Switch = l.T("portal.sign_out.switch"), l.T("portal.sign_out.switch"), pd.Action
			}
			p.render(w, r, http.StatusOK, "logout", pd)
			return
		}
		if switchUser {
			http.Redirect(w, r, again, http.StatusFound)
			return
		}
		p.render(w, r, http.StatusOK, "message", pageData{Title: l.T("portal.sign_out.done_title"), Heading: l.T("portal.sign_out.done_heading"),
			Info: l.T("portal.sign_out.not_signed_in"), Continue: again})
		return
	}
	// A remembered browser that stays remembered is said so: the next
	// person here needs only the password.
	stillRemembered := false
	if valid && s.ID != "" {
		rv := storeRevocation(s, p.cfg.Lifetime)
		if stored, err := p.cfg.Store.Revoke(r.Context(), rv); err != nil {
			// Still revoke here and clear the cookie; other instances will
			// not learn of it, so say so in the log.
			p.log.Error("recording logout in the store; the session is revoked on this instance only", zap.Error(err))
		} else {
			rv = stored
		}
		p.revoked.add(rv)
		p.dropSetUps(r, s.User)
		p.audit(r, "sign-out", s.User, "", "success", zap.String("session", s.ID[:min(8, len(s.ID))]))
		if dev, ok := p.rememberedDevice(r, s.User); ok {
			stillRemembered = true
			if r.PostFormValue("forget") == "yes" {
				if _, err := p.cfg.Store.ForgetDevice(r.Context(), s.User, dev.ID); err != nil {
					p.storeError(w, r, err)
					return
				}
				p.audit(r, "device-forgotten", s.User, "", "success", verifiers.Named(dev.Name))
				p.clearCookie(w, r, names.device)
				stillRemembered = false
			}
		}
	}
	p.clearCookie(w, r, names.session)
	p.clearCookie(w, r, names.pending)
	if switchUser {
		http.Redirect(w, r, again, http.StatusSeeOther)
		return
	}
	info := l.T("portal.sign_out.done")
	if stillRemembered {
		info = l.T("portal.sign_out.done_remembered")
	}
	p.render(w, r, http.StatusOK, "message", pageData{Title: l.T("portal.sign_out.done_title"), Heading: l.T("portal.sign_out.done_heading"),
		Info: info, Continue: again})
}

// storeError answers a failure of the store or of an encoder: a clear page
// and a log line, never a stack trace.
func (p *Portal) storeError(w http.ResponseWriter, r *http.Request, err error) {
	p.storeFailed()
	p.log.Error("sign-in failed on an internal error", zap.Error(err), zap.String("path", r.URL.Path))
	l := p.lang(r)
	heading := l.T("portal.failure.heading")
	if store.Unavailable(err) {
		heading = l.T("portal.failure.heading_unavailable")
	}
	p.render(w, r, http.StatusServiceUnavailable, "message", pageData{Title: l.T("portal.failure.title"), Heading: heading,
		Info: l.T("portal.failure.info", "Help", p.help(l)), Continue: Prefix})
}
