package portal

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// This file is the sign-in with a passkey alone, from the sign-in page:
// the browser offers the passkeys it has for the site, and the one chosen
// names its user. With user verification (a PIN, a fingerprint, a face)
// it stands for both steps, as in Entra; without, it is the first step
// and another method follows.

// stagePasskey is a sign-in page's passkey ceremony: the cookie that binds
// it to the browser holds its ID.
const stagePasskey = "passkey"

// passkeyCookie binds the sign-in page's passkey ceremony to the browser
// that was shown it.
func (p *Portal) passkeyCookie(r *http.Request) string { return p.names(r).pending + "-passkey" }

// beginPasskeySignIn makes a new passkey ceremony for a sign-in page and
// returns its options ("" when passkeys are off or it could not be made:
// the page then offers the password only).
func (p *Portal) beginPasskeySignIn(w http.ResponseWriter, r *http.Request) string {
	if p.reg.discover == nil {
		return ""
	}
	pd := pending{ID: randomID(), Stage: stagePasskey, Aud: p.requestHost(r), Created: p.cfg.Now().Unix()}
	opts, err := p.reg.discover.BeginDiscover(r.Context(), verifiers.Challenge{ID: pd.ID, Created: time.Unix(pd.Created, 0), Origin: p.siteOrigin(r)})
	if err != nil {
		p.log.Error("starting a passkey sign-in", zap.Error(err))
		return ""
	}
	name := p.passkeyCookie(r)
	v, err := securecookie.EncodeMulti(name, &pd, p.pendings[0])
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: p.isSecure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(pendingLifetime / time.Second)})
	return opts
}

// passkeySignIn checks the sign-in page's passkey answer.
func (p *Portal) passkeySignIn(w http.ResponseWriter, r *http.Request) {
	if p.reg.discover == nil || r.Method != http.MethodPost {
		p.notFound(w, r)
		return
	}
	ctx := r.Context()
	rd := p.safeRd(r, r.PostFormValue("rd"))
	l := p.lang(r)
	again := func(status int, msg string) {
		p.signInPage(w, r, status, pageData{Error: msg, Rd: rd})
	}
	var pd pending
	name := p.passkeyCookie(r)
	raw, ok := findCookie(r, name)
	now := p.cfg.Now().Unix()
	if !ok || securecookie.DecodeMulti(name, raw, &pd, p.pendings...) != nil || pd.Stage != stagePasskey || pd.Aud != p.requestHost(r) ||
		now-pd.Created > int64(pendingLifetime/time.Second) || pd.Created > now+60 {
		again(http.StatusBadRequest, l.T("portal.passkey.gone"))
		return
	}
	p.clearCookie(w, r, name)
	// A network over its budget of failed attempts is refused first, as
	// at the password step.
	source := verifiers.SourceKey(p.cfg.ClientIP(r))
	if err := p.cfg.Users.CheckSource(ctx, source); err != nil {
		p.passwordRefused(w, r, "", err, again)
		return
	}
	method := p.reg.discoverName
	username, verified, err := p.reg.discover.Discovered(ctx, verifiers.Challenge{ID: pd.ID, Created: time.Unix(pd.Created, 0), Origin: p.siteOrigin(r)}, r.PostFormValue("credential"))
	switch {
	case errors.Is(err, verifiers.ErrGone):
		again(http.StatusBadRequest, l.T("portal.passkey.gone"))
		return
	case errors.Is(err, verifiers.ErrNotAccepted):
		p.audit(r, "sign-in", "", method, "failure", zap.Bool("passwordless", true))
		again(http.StatusUnauthorized, l.T("portal.passkey.refused"))
		return
	case err != nil:
		p.storeError(w, r, err)
		return
	}
	user, ok := p.cfg.Users.Lookup(username)
	if !ok {
		p.audit(r, "sign-in", username, method, "unknown-user", zap.Bool("passwordless", true))
		again(http.StatusUnauthorized, l.T("portal.passkey.refused"))
		return
	}
	if user.Disabled {
		p.audit(r, "sign-in", user.Name, method, "disabled", zap.Bool("passwordless", true))
		again(http.StatusForbidden, l.T("portal.signin.disabled", "Help", p.help(l)))
		return
	}
	// A locked account stays locked, whichever way the user comes in.
	for _, counter := range []string{store.FailuresPassword, codeFailures} {
		if msg, locked := p.locked(r, user.Name, counter); locked {
			p.audit(r, "sign-in", user.Name, method, "locked", zap.Bool("passwordless", true))
			again(lockStatus(l, msg), msg)
			return
		}
	}
	if verified {
		s := p.newSession(r, user.Name)
		s.Verified, s.By, s.Methods = s.Issued, method, method
		if !p.setSession(w, r, s) {
			p.storeError(w, r, errors.New("encoding session cookie"))
			return
		}
		p.clearCookie(w, r, p.names(r).pending)
		p.audit(r, "sign-in", user.Name, method, "success", zap.Bool("passwordless", true), zap.String("session", s.ID[:8]))
		p.afterSignIn(w, r, s, rd)
		return
	}
	// Without user verification the passkey is the first step only.
	next := pending{ID: randomID(), User: user.Name, Stage: stageVerify, Rd: rd, Aud: p.requestHost(r), Created: now,
		Used: []string{method}, First: method}
	have, err := p.userMethods(ctx, user)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	have = p.offered(next, have)
	if len(have) == 0 {
		p.audit(r, "sign-in", user.Name, method, "no-second-step", zap.Bool("passwordless", true))
		again(http.StatusForbidden, l.T("portal.passkey.unverified"))
		return
	}
	if next.M, err = p.defaultMethod(ctx, user, have); err != nil {
		p.storeError(w, r, err)
		return
	}
	p.audit(r, "sign-in", user.Name, method, "first-step-ok", zap.Bool("passwordless", true))
	p.start(r, &next, user)
	if !p.setPending(w, r, next) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, Prefix+stageVerify, http.StatusSeeOther)
}
