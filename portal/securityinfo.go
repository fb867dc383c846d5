package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/push"
)

// SecurityInfoPath is the Security info page, where signed-in users manage
// their own sign-in methods. Apps may link to it from their menus.
const SecurityInfoPath = Prefix + "security-info"

// defaultReauth is how recent a second step must be for a change on the
// Security info page.
const defaultReauth = 10 * time.Minute

// activityShown is how many recent sign-in events the page lists.
const activityShown = 20

// securityInfo serves the Security info page and its forms under
// security-info/.
func (p *Portal) securityInfo(w http.ResponseWriter, r *http.Request, rest string) {
	if methodNotAllowed(w, r) {
		return
	}
	id := p.Authenticate(r)
	if id == nil {
		if r.Method == http.MethodPost {
			l := p.lang(r)
			p.render(w, r, http.StatusUnauthorized, "message", pageData{Title: l.T("portal.security.signed_out.title"), Heading: l.T("portal.security.signed_out.heading"),
				Info: l.T("portal.security.signed_out.info"), Continue: Prefix + "?rd=" + url.QueryEscape(SecurityInfoPath)})
			return
		}
		http.Redirect(w, r, Prefix+"?rd="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	if rest == "" {
		if r.Method == http.MethodPost {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p.showSecurityInfo(w, r, id, "", http.StatusOK)
		return
	}
	if slugPath, ok := strings.CutPrefix(rest, "add/"); ok {
		p.addMethod(w, r, id, slugPath)
		return
	}
	if rest == "password" && r.Method != http.MethodPost {
		p.changePassword(w, r, id)
		return
	}
	if r.Method != http.MethodPost {
		http.Redirect(w, r, SecurityInfoPath, http.StatusSeeOther)
		return
	}
	switch rest {
	case "verify":
		p.startReauth(w, r, id)
		return
	case "forget-device":
		// Forgetting only takes trust away: no fresh second step needed.
		p.forgetDevice(w, r, id)
		return
	case "password":
		// The current password is the proof here, not a recent second
		// step.
		p.changePassword(w, r, id)
		return
	}
	if !p.fresh(id) {
		p.showSecurityInfo(w, r, id, p.lang(r).T("portal.security.error.verify_first"), http.StatusForbidden)
		return
	}
	switch rest {
	case "default":
		p.setDefault(w, r, id)
	case "remove":
		p.removeMethod(w, r, id)
	case "rename":
		p.renameMethod(w, r, id)
	case "sign-out-others":
		p.signOutOthers(w, r, id)
	default:
		p.notFound(w, r)
	}
}

// fresh reports whether the session's last second step is recent enough
// for a change.
func (p *Portal) fresh(id *Identity) bool {
	if id.sess.By == byPass || id.sess.By == bySetUpPass {
		// The pass stands for a second step until the session ends,
		// when the pass expires at the latest: the user may have no
		// method to verify with.
		return true
	}
	v := id.sess.Verified
	now := p.cfg.Now().Unix()
	return v != 0 && v <= now+60 && now-v < int64(p.cfg.Reauth/time.Second)
}

// confirmations are the message IDs of the page's confirmations after a
// change, by the key the change redirects with: the page never shows text
// from the URL.
var confirmations = map[string]string{
	"pass":              "portal.security.done.pass",
	"set-up-first":      "portal.security.done.set_up_first",
	"password-changed":  "portal.security.done.password_changed",
	"added":             "portal.security.done.added",
	"added-default":     "portal.security.done.added_default",
	"replaced":          "portal.security.done.replaced",
	"removed":           "portal.security.done.removed",
	"renamed":           "portal.security.done.renamed",
	"default":           "portal.security.done.default",
	"signed-out":        "portal.security.done.signed_out",
	"signed-out-forgot": "portal.security.done.signed_out_forgot",
	"device-forgotten":  "portal.security.done.device_forgotten",
	"verified":          "portal.security.done.verified",
	"phone-saved":       "portal.security.done.phone_saved",
}

// credentialRow is one credential as the page lists it.
type credentialRow struct {
	Method    string // the method's name
	Title     string
	ID        string
	Name      string
	Added     string
	LastUsed  string
	Renamable bool
	Change    string // a link that sets up a replacement ("" none)
	ChangeURL string
	Removable bool
}

// eventRow is one recent sign-in event.
type eventRow struct {
	At, Method, ClientIP, Site, Outcome string
	// Detail names the passkey or device the event was about.
	Detail string
	Good   bool
}

// securityInfoPage is the page's data.
type securityInfoPage struct {
	Rows      []credentialRow
	Defaults  []choice // the methods that can be the default
	Default   string   // the default's name
	Adds      []offer
	Events    []eventRow
	Fresh     bool   // changes are allowed without verifying again
	Done      string // a confirmation
	LastOnly  bool   // the only method: it cannot be deleted
	ReauthFor string // how long a second step allows changes, in words
	// PasswordElsewhere says where to change the password when the
	// directory keeps it ("" for the users file).
	PasswordElsewhere string
	// Remembered are the browsers that skip the second step; Remembering
	// says whether remember_device is on.
	Remembered  []rememberedRow
	Remembering bool
}

// showSecurityInfo renders the page with an optional error, errMsg, in
// the user's language.
func (p *Portal) showSecurityInfo(w http.ResponseWriter, r *http.Request, id *Identity, errMsg string, status int) {
	ctx := r.Context()
	user := id.User
	l := p.lang(r)
	d := securityInfoPage{Fresh: p.fresh(id), ReauthFor: reauthWordsIn(l, p.cfg.Reauth), PasswordElsewhere: p.passwordKeptIn(l)}
	if done := confirmations[r.URL.Query().Get("done")]; done != "" && errMsg == "" {
		d.Done = l.T(done)
	}
	have, err := p.userMethods(ctx, user)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	d.Defaults = have
	if id.sess.By == bySetUpPass && len(have) > 0 {
		// A method was added in a session begun with a Temporary Access
		// Pass: the protected sites let the user in from now on.
		s := id.sess
		s.By = byPass
		if !p.setSession(w, r, s) {
			p.storeError(w, r, errors.New("encoding session cookie"))
			return
		}
	}
	if len(have) > 0 {
		if d.Default, err = p.defaultMethod(ctx, user, have); err != nil {
			p.storeError(w, r, err)
			return
		}
	}
	hs, err := p.holdings(ctx, user, have)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	for _, h := range hs {
		m := h.m
		_, renamer := m.Method.(verifiers.Renamer)
		for _, c := range h.creds {
			row := credentialRow{Method: m.desc.Name, Title: l.T(m.desc.Title), ID: c.ID, Name: c.Name,
				Added: when(l, c.Added), LastUsed: when(l, c.LastUsed), Renamable: c.Renamable && renamer, Removable: leavesUsable(hs, c.ID)}
			if m.enrol != nil && !m.desc.Many && m.desc.Change != "" {
				row.Change, row.ChangeURL = l.T(m.desc.Change), SecurityInfoPath+"/add/"+m.desc.Slug
			}
			if !row.Removable {
				d.LastOnly = true
			}
			d.Rows = append(d.Rows, row)
		}
	}
	for _, m := range p.reg.setUp {
		has, err := m.Registered(ctx, user)
		if err != nil {
			p.storeError(w, r, err)
			return
		}
		if !has || m.desc.Many {
			var label string
			if m.desc.Add != "" {
				label = l.T(m.desc.Add)
			} else {
				label = l.T("portal.security.add.fallback", "Method", l.T(m.desc.Title))
			}
			d.Adds = append(d.Adds, offer{ID: m.desc.Name, URL: SecurityInfoPath + "/add/" + m.desc.Slug, Label: label})
		}
	}
	// With remember_device off, stored browsers skip nothing: none is
	// listed.
	if d.Remembering = p.cfg.RememberDevice > 0; d.Remembering {
		if d.Remembered, err = p.rememberedRows(r, user.Name); err != nil {
			p.storeError(w, r, err)
			return
		}
	}
	events, err := p.cfg.Store.RecentSignInEvents(ctx, user.Name, activityShown)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	for _, e := range events {
		// The time is in the language's own numeric layout, in UTC; the
		// address as the Authenticator shows it ("the server itself
		// (127.0.0.1)", not "::ffff:…").
		d.Events = append(d.Events, eventRow{At: e.At.UTC().Format(l.T("portal.security.format.date_time")), Method: p.methodTitle(l, e.Method),
			ClientIP: push.ReadableAddress(l, e.ClientIP), Site: e.Site, Outcome: outcomeWords(l, e.Outcome), Detail: e.Detail, Good: !suspicious[e.Outcome]})
	}
	p.render(w, r, status, "securityinfo", pageData{Title: l.T("portal.security.page.title"), Heading: l.T("portal.security.page.heading"), Username: user.Name,
		Error: errMsg, Step: d, Wide: true})
}

// reauthWordsIn says in l's language how long a second step allows
// changes, in whole minutes or, under a minute, seconds ("10 minutes",
// "1 minute", "30 seconds"), rounded down so the page never promises more
// than fresh allows.
func reauthWordsIn(l *messages.Localizer, d time.Duration) string {
	return roundedDownIn(l, d, minute, second)
}

// timeUnit is a unit durations are said in: its length and the plural
// message that says a number of it ("{{.Count}} minutes").
type timeUnit struct {
	d  time.Duration
	id string
}

var (
	day    = timeUnit{24 * time.Hour, "portal.security.duration.day"}
	hour   = timeUnit{time.Hour, "portal.security.duration.hour"}
	minute = timeUnit{time.Minute, "portal.security.duration.minute"}
	second = timeUnit{time.Second, "portal.security.duration.second"}
)

// roundedDownIn says d in l's language in the first of units (largest
// first) it holds one of, rounded down ("10 minutes", "1 day"); in the
// last unit when it holds none.
func roundedDownIn(l *messages.Localizer, d time.Duration, units ...timeUnit) string {
	u := units[len(units)-1]
	for _, c := range units {
		if d >= c.d {
			u = c
			break
		}
	}
	return l.T(u.id, "Count", int64(d/u.d))
}

// when formats a time for the page ("" when unknown) as l's language
// writes a date.
func when(l *messages.Localizer, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(l.T("portal.security.format.date"))
}

// methodTitle is what users call a method, by its name, in l's language.
func (p *Portal) methodTitle(l *messages.Localizer, name string) string {
	if m := p.reg.get(name); m != nil {
		return l.T(m.desc.Title)
	}
	switch name {
	case "password":
		return l.T("portal.security.method.password")
	case byPass, bySetUpPass:
		return l.T("portal.security.method.access_pass")
	case byDevice:
		return l.T("portal.security.method.remembered_device")
	case methodReset:
		return l.T("portal.security.method.password_reset")
	case "":
		return ""
	}
	return name
}

// suspicious outcomes are highlighted in Recent activity.
var suspicious = map[string]bool{"password-reset-replayed": true, "failure": true, "replayed": true, "denied": true, "lockout": true, "fraud-reported": true}

// outcomes are the messages that say what a sign-in event's outcome
// means, by the outcome.
var outcomes = map[string]string{
	"success":                 "portal.security.outcome.success",
	"password-ok":             "portal.security.outcome.password_ok",
	"failure":                 "portal.security.outcome.failure",
	"replayed":                "portal.security.outcome.replayed",
	"locked":                  "portal.security.outcome.locked",
	"denied":                  "portal.security.outcome.denied",
	"fraud-reported":          "portal.security.outcome.fraud_reported",
	"disabled":                "portal.security.outcome.disabled",
	"reauth":                  "portal.security.outcome.reauth",
	"lockout":                 "portal.security.outcome.lockout",
	"method-added":            "portal.security.outcome.method_added",
	"method-removed":          "portal.security.outcome.method_removed",
	"method-renamed":          "portal.security.outcome.method_renamed",
	"default-method-changed":  "portal.security.outcome.default_method_changed",
	"signed-out-others":       "portal.security.outcome.signed_out_others",
	"device-remembered":       "portal.security.outcome.device_remembered",
	"device-forgotten":        "portal.security.outcome.device_forgotten",
	"password-set":            "portal.security.outcome.password_set",
	"methods-reset":           "portal.security.outcome.methods_reset",
	"access-pass-issued":      "portal.security.outcome.access_pass_issued",
	"user-signed-out":         "portal.security.outcome.user_signed_out",
	"user-disabled":           "portal.security.outcome.user_disabled",
	"user-enabled":            "portal.security.outcome.user_enabled",
	"password-reset-started":  "portal.security.outcome.password_reset_started",
	"password-reset-success":  "portal.security.outcome.password_reset_success",
	"password-reset-refused":  "portal.security.outcome.password_reset_refused",
	"password-reset-replayed": "portal.security.outcome.password_reset_replayed",
	"no-method":               "portal.security.outcome.no_method",
	"no-usable-method":        "portal.security.outcome.no_method",
}

// outcomeWords says in l's language what a sign-in event's outcome means;
// an outcome it does not know, as its name in words.
func outcomeWords(l *messages.Localizer, outcome string) string {
	if id, ok := outcomes[outcome]; ok {
		return l.T(id)
	}
	return strings.ReplaceAll(outcome, "-", " ")
}

// startReauth begins a second step for a signed-in user who wants to
// change their security info: the sign-in's verify pages run it (with
// "Sign in another way"), and finishing it renews the session's
// verification time instead of issuing a session.
func (p *Portal) startReauth(w http.ResponseWriter, r *http.Request, id *Identity) {
	ctx := r.Context()
	have, err := p.userMethods(ctx, id.User)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	if len(have) == 0 {
		p.showSecurityInfo(w, r, id, p.lang(r).T("portal.security.error.no_usable_method", "Help", p.help(p.lang(r))), http.StatusForbidden)
		return
	}
	// After verifying, the user goes back to the page, or to the set-up
	// they were about to start: only a set-up of this site's methods.
	next := SecurityInfoPath
	if slug, ok := strings.CutPrefix(r.PostFormValue("next"), "add/"); ok && p.reg.setUpBySlug(slug) != nil && slug != "" {
		next += "/add/" + slug
	}
	pd := pending{ID: randomID(), User: id.User.Name, Stage: stageVerify, Rd: next, Aud: p.requestHost(r), Created: p.cfg.Now().Unix(),
		Session: id.SessionID}
	if pd.M, err = p.defaultMethod(ctx, id.User, have); err != nil {
		p.storeError(w, r, err)
		return
	}
	p.start(r, &pd, id.User)
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, Prefix+"verify", http.StatusSeeOther)
}

// reverifiedMethods is a session's Remote-Auth-Methods after verifying
// again with method: the first step as before, then method. "" stands for
// the password first (the registry adds the second step).
func reverifiedMethods(methods, method string) string {
	first, _, _ := strings.Cut(methods, ",")
	switch {
	case first == "" || first == "password":
		return ""
	case first == method:
		return first
	}
	return first + "," + method
}

// reverified finishes a second step a signed-in user took for Security
// info: the session it was started from (and only that one, still valid,
// for the same user) gets a new verification time.
func (p *Portal) reverified(w http.ResponseWriter, r *http.Request, pd pending, user verifiers.User, method string) {
	id := p.Authenticate(r)
	if id == nil || id.SessionID != pd.Session || id.User.Name != user.Name {
		p.restart(w, r, msgRestart)
		return
	}
	s := id.sess
	now := p.cfg.Now().Unix()
	s.Verified, s.By, s.Seen = now, method, now
	s.Methods = reverifiedMethods(s.Methods, method)
	if !p.setSession(w, r, s) {
		p.storeError(w, r, errors.New("encoding session cookie"))
		return
	}
	p.clearCookie(w, r, p.names(r).pending)
	p.audit(r, "sign-in", user.Name, method, "reauth", zap.String("session", s.ID[:min(8, len(s.ID))]))
	rd := pd.Rd
	if rd == SecurityInfoPath {
		rd += "?done=verified"
	}
	if pd.Strong {
		p.toSite(w, r, p.safeRd(r, rd), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

// changed logs a change and sends the browser back to the page with its
// confirmation.
func (p *Portal) changed(w http.ResponseWriter, r *http.Request, user, event, method, done string, fields ...zap.Field) {
	p.audit(r, event, user, method, "success", fields...)
	http.Redirect(w, r, SecurityInfoPath+"?done="+done, http.StatusSeeOther)
}

// nowDefault reports whether method, just added, is where the user's
// sign-in starts (their strongest method, with no other default chosen)
// while they have others it could start with.
func (p *Portal) nowDefault(ctx context.Context, user verifiers.User, method string) bool {
	have, err := p.userMethods(ctx, user)
	if err != nil || len(have) < 2 {
		return false
	}
	def, err := p.defaultMethod(ctx, user, have)
	return err == nil && def == method
}

// setDefault changes the user's default method to one they can use.
func (p *Portal) setDefault(w http.ResponseWriter, r *http.Request, id *Identity) {
	ctx := r.Context()
	want := r.PostFormValue("method")
	have, err := p.userMethods(ctx, id.User)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	found := false
	for _, c := range have {
		found = found || c.Method == want
	}
	if !found {
		p.showSecurityInfo(w, r, id, p.lang(r).T("portal.security.error.not_default"), http.StatusBadRequest)
		return
	}
	if err := p.cfg.Store.SetDefaultMethod(ctx, id.User.Name, want); err != nil {
		p.storeError(w, r, err)
		return
	}
	p.changed(w, r, id.User.Name, "default-method-changed", want, "default")
}

// managed returns the method a form names, if it is one whose credentials
// users manage.
func (p *Portal) managed(r *http.Request) (*method, verifiers.Manager) {
	m := p.reg.get(r.PostFormValue("method"))
	if m == nil {
		return nil, nil
	}
	mg, _ := m.Method.(verifiers.Manager)
	if mg == nil {
		return nil, nil
	}
	return m, mg
}

// msgNoSuchMethod refuses a change of a method or device the user does
// not have.
const msgNoSuchMethod = "portal.security.error.no_such_method"

// removeMethod deletes one of the user's credentials, never the last one.
func (p *Portal) removeMethod(w http.ResponseWriter, r *http.Request, id *Identity) {
	ctx := r.Context()
	m, mg := p.managed(r)
	if m == nil {
		p.showSecurityInfo(w, r, id, p.lang(r).T(msgNoSuchMethod), http.StatusBadRequest)
		return
	}
	credID := r.PostFormValue("id")
	// The store refuses atomically to delete the last credential; the
	// page also keeps a user with a method usable here: deleting the only
	// one, beside one this site has turned off, would lock them out.
	have, err := p.userMethods(ctx, id.User)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	hs, err := p.holdings(ctx, id.User, have)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	if !leavesUsable(hs, credID) {
		p.showSecurityInfo(w, r, id, p.lang(r).T(msgLastMethod), http.StatusConflict)
		return
	}
	switch err := mg.Remove(ctx, id.User, credID, true); {
	case errors.Is(err, store.ErrLastMethod):
		p.showSecurityInfo(w, r, id, p.lang(r).T(msgLastMethod), http.StatusConflict)
		return
	case errors.Is(err, store.ErrNotFound):
		p.showSecurityInfo(w, r, id, p.lang(r).T(msgNoSuchMethod), http.StatusNotFound)
		return
	case err != nil:
		p.storeError(w, r, err)
		return
	}
	p.changed(w, r, id.User.Name, "method-removed", m.desc.Name, "removed", zap.String("credential", credID), verifiers.Named(credentialName(hs, m, credID)))
}

// holding is what a user signs in with through one method the site
// offers: the credentials it lists, or, for a method without a Manager,
// fixed (it cannot be deleted here, so deleting never touches it).
type holding struct {
	m      *method
	creds  []verifiers.Credential
	usable bool // the user can sign in with the method now
	fixed  bool
}

// credentialName is what the user calls credential id of m, from hs.
func credentialName(hs []holding, m *method, id string) string {
	for _, h := range hs {
		if h.m != m {
			continue
		}
		for _, c := range h.creds {
			if c.ID == id {
				return c.Name
			}
		}
	}
	return ""
}

// holdings lists, strongest first, the user's credentials of each method
// the site offers, marking the methods of have (the ones the user can use
// now). A method that can be used but lists no credential rides on
// another's (calls on the phone that texts list) and holds nothing of its
// own.
func (p *Portal) holdings(ctx context.Context, user verifiers.User, have []choice) ([]holding, error) {
	usable := make(map[string]bool, len(have))
	for _, c := range have {
		usable[c.Method] = true
	}
	var hs []holding
	for _, m := range p.reg.byStrength {
		mg, managed := m.Method.(verifiers.Manager)
		if !managed {
			if usable[m.desc.Name] {
				hs = append(hs, holding{m: m, usable: true, fixed: true})
			}
			continue
		}
		creds, err := mg.Credentials(ctx, user)
		if err != nil {
			return nil, err
		}
		if len(creds) > 0 {
			hs = append(hs, holding{m: m, creds: creds, usable: usable[m.desc.Name]})
		}
	}
	return hs, nil
}

// leavesUsable reports whether the user still has a method usable here
// once the credential with this ID is deleted. Methods that share a
// credential list it under the same ID (the phone is "phone" for texts
// and calls), so deleting it takes all of them.
func leavesUsable(hs []holding, id string) bool {
	for _, h := range hs {
		if !h.usable {
			continue
		}
		if h.fixed {
			return true
		}
		for _, c := range h.creds {
			if c.ID != id {
				return true
			}
		}
	}
	return false
}

// msgLastMethod refuses to delete the user's last usable method.
const msgLastMethod = "portal.security.error.last_method"

// renameMethod renames one of the user's credentials.
func (p *Portal) renameMethod(w http.ResponseWriter, r *http.Request, id *Identity) {
	m, _ := p.managed(r)
	var rn verifiers.Renamer
	if m != nil {
		rn, _ = m.Method.(verifiers.Renamer)
	}
	if rn == nil {
		p.showSecurityInfo(w, r, id, p.lang(r).T(msgNoSuchMethod), http.StatusBadRequest)
		return
	}
	name := r.PostFormValue("name")
	switch err := rn.Rename(r.Context(), id.User, r.PostFormValue("id"), name); {
	case errors.Is(err, store.ErrNotFound):
		p.showSecurityInfo(w, r, id, p.lang(r).T(msgNoSuchMethod), http.StatusNotFound)
		return
	case isRefusal(err):
		var refusal verifiers.Refusal
		errors.As(err, &refusal)
		l := p.lang(r)
		p.showSecurityInfo(w, r, id, l.T("portal.security.error.refused", "Reason", refusal.Explain(l, p.help(l), p.cfg.Now())), http.StatusBadRequest)
		return
	case err != nil:
		p.storeError(w, r, err)
		return
	}
	p.changed(w, r, id.User.Name, "method-renamed", m.desc.Name, "renamed", zap.String("credential", r.PostFormValue("id")), verifiers.Named(strings.TrimSpace(name)))
}

// signOutOthers revokes every session of the user but this one: all
// sessions issued before the next second are revoked, and this browser
// gets its session reissued in that second.
func (p *Portal) signOutOthers(w http.ResponseWriter, r *http.Request, id *Identity) {
	ctx := r.Context()
	now := p.cfg.Now()
	from := now.Truncate(time.Second).Add(time.Second)
	rv := store.Revocation{Username: id.User.Name, NotBefore: from, Expires: now.Add(max(p.cfg.longestSession(), store.UserRevocationKept) + time.Minute)}
	stored, err := p.cfg.Store.Revoke(ctx, rv)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	p.revoked.add(stored)
	p.dropSetUps(r, id.User.Name)
	if err := p.forgetDevices(ctx, id.User.Name); err != nil {
		p.storeError(w, r, err)
		return
	}
	s := id.sess
	// The reissued session ends when this one would have: moving Issued
	// must not lengthen a session from before sessions carried their
	// expiry.
	s.Expires = p.expiry(s)
	s.ID = randomID()
	s.Issued = from.Unix()
	s.Seen = now.Unix()
	if !p.setSession(w, r, s) {
		p.storeError(w, r, errors.New("encoding session cookie"))
		return
	}
	done := "signed-out"
	if p.cfg.RememberDevice > 0 {
		done = "signed-out-forgot"
	}
	p.changed(w, r, id.User.Name, "signed-out-others", "", done, zap.String("session", s.ID[:8]))
}

// dropSetUps ends the user's set-ups of devices that enrol themselves
// (their links stop working) when sessions end: a link made by a session
// that has signed out, or been signed out, adds nothing.
func (p *Portal) dropSetUps(r *http.Request, user string) {
	if err := p.cfg.Store.DropPushEnrolments(r.Context(), user); err != nil {
		p.log.Error("ending the set-up links of a signed-out user", zap.String("user", user), zap.Error(err))
	}
}

// stageAdd is the stage of a pending set-up started on the Security info
// page: it belongs to a session, not to a sign-in.
const stageAdd = "add"

// addCookie is the cookie that keeps a Security info set-up of one method
// (each method its own, so set-ups in two tabs do not end each other).
func (p *Portal) addCookie(r *http.Request, m *method) string {
	return p.names(r).pending + "-add-" + m.desc.Slug
}

// readAdd returns the session's set-up of m under way, or a new one. The
// set-up of a method that finishes elsewhere (a phone enrolling itself
// with a link), begun before the session's latest second step, is not
// carried on: its link expired with the window it was begun in. Other
// set-ups go on where they were (a code already texted still counts).
func (p *Portal) readAdd(r *http.Request, id *Identity, m *method) pending {
	var pd pending
	name := p.addCookie(r, m)
	now := p.cfg.Now().Unix()
	if raw, ok := findCookie(r, name); ok && securecookie.DecodeMulti(name, raw, &pd, p.pendings...) == nil &&
		pd.Stage == stageAdd && pd.Session == id.SessionID && pd.User == id.User.Name && pd.M == m.desc.Name &&
		pd.Aud == p.requestHost(r) && now-pd.Created <= int64(pendingLifetime/time.Second) && pd.Created <= now+60 &&
		(m.own == nil || pd.Created >= id.sess.Verified) {
		return pd
	}
	return pending{ID: randomID(), User: id.User.Name, Stage: stageAdd, Aud: p.requestHost(r), Created: now, M: m.desc.Name, Session: id.SessionID}
}

// addMethod serves a set-up on the Security info page: a new method, a
// replacement (a new phone number, a new authenticator app) or another
// device, with the same steps as first-sign-in registration. It needs a
// recent second step, like every change.
func (p *Portal) addMethod(w http.ResponseWriter, r *http.Request, id *Identity, rest string) {
	slug, sub, ok := splitSetUpPath(rest)
	var m *method
	if ok && slug != "" {
		m = p.reg.setUpBySlug(slug)
	}
	if m == nil {
		p.notFound(w, r)
		return
	}
	action := SecurityInfoPath + "/add/" + slug
	// A stale session gets no set-up, not even its QR code or status: a
	// set-up link is a way to add a method.
	if !p.fresh(id) {
		switch sub {
		case "qr.png":
			p.notFound(w, r)
		case "status":
			p.serveStatus(w, verifiers.EnrolStep{}, false)
		default:
			l := p.lang(r)
			p.render(w, r, http.StatusForbidden, "reauth", pageData{Title: l.T("portal.security.reauth.title"), Heading: l.T("portal.security.reauth.heading"), Username: id.User.Name,
				Info: l.T("portal.security.reauth.info"), Step: "add/" + slug})
		}
		return
	}
	pd := p.readAdd(r, id, m)
	req := verifiers.EnrolRequest{User: id.User, Challenge: p.attempt(r, &pd), State: pd.State, Site: p.siteOrigin(r), Guard: p.guard(r, id.User, m),
		Until: time.Unix(id.sess.Verified, 0).Add(p.cfg.Reauth)}
	switch sub {
	case "qr.png", "status":
		var step verifiers.EnrolStep
		var err error
		if pd.State != "" {
			step, err = m.enrol.Enrol(r.Context(), req)
		}
		if sub == "qr.png" {
			p.serveQR(w, r, step, err)
		} else {
			p.serveStatus(w, step, err == nil && pd.State != "")
		}
		return
	}
	// Setting up a method the user has one of replaces it (a new phone
	// number, a new app): the confirmation says so, since the old one
	// stops working.
	replacing := false
	if r.Method == http.MethodPost {
		req.Form = r.PostForm
		if !m.desc.Many {
			var err error
			if replacing, err = m.Registered(r.Context(), id.User); err != nil {
				p.storeError(w, r, err)
				return
			}
		}
	}
	step, err := m.enrol.Enrol(r.Context(), req)
	switch {
	case err != nil && step.Page != "" && isRefusal(err):
		step.Error = p.refusalMessage(r, id.User.Name, m, err, zap.String("purpose", "security-info"))
		step.Status = refusalStatus(err)
	case err != nil:
		p.storeError(w, r, err)
		return
	case step.Done:
		p.clearCookie(w, r, p.addCookie(r, m))
		done := "added"
		if replacing {
			done = "replaced"
		} else if p.nowDefault(r.Context(), id.User, m.desc.Name) {
			// Sign-in would start with it from now on: say so.
			done = "added-default"
		}
		p.changed(w, r, id.User.Name, "method-added", m.desc.Name, done, zap.String("added", step.Added), verifiers.Named(step.Name), zap.String("purpose", "security-info"),
			zap.Bool("replaced", replacing))
		return
	case step.Sent && m.desc.StartEvent != "":
		p.audit(r, m.desc.StartEvent, id.User.Name, m.desc.Name, "success", zap.String("purpose", "security-info"))
	}
	pd.State = step.State
	v, err := securecookie.EncodeMulti(p.addCookie(r, m), &pd, p.pendings[0])
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: p.addCookie(r, m), Value: v, Path: "/", HttpOnly: true, Secure: p.isSecure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(pendingLifetime / time.Second)})
	p.showStep(w, r, m, step, pageData{Username: id.User.Name, Action: action, Cancel: SecurityInfoPath, CancelLabel: p.lang(r).T("portal.security.add.cancel")})
}
