package portal

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/password"
)

// PasswordResetPath is the page where a user who forgot their password
// starts resetting it ("Forgot my password?").
const PasswordResetPath = Prefix + "password-reset"

// NewPasswordPath is where a password reset ends: the user, verified with
// enough of their methods, chooses a new password.
const NewPasswordPath = PasswordResetPath + "/new"

// methodReset names the password reset in the audit log and in the store
// (its one-time token is kept as a code of this method).
const methodReset = "password-reset"

// cantReset is what a name that cannot reset its password here gets, in
// l's language: one that does not exist, a disabled account, or one with
// fewer usable methods than a reset needs. The words and status are the
// same for all.
func (p *Portal) cantReset(l *messages.Localizer) string {
	if p.cfg.PasswordResetMethods == 1 {
		return l.T("portal.reset.cant_one_method", "Help", p.help(l))
	}
	return l.T("portal.reset.cant_two_methods", "Help", p.help(l))
}

// passwordReset serves "Reset your password": a username, then the
// verify pages with the user's methods, each method counting once, until
// PasswordResetMethods of them are done (resetVerified).
//
// It answers every name alike until the user must verify: the network's
// budget is checked and one attempt of it used, and every method is asked
// whether the name has it, for names that exist or not, so neither the page nor the store's work tells
// which names exist. Only a user with enough methods gets to the verify
// page, which an attacker can use only with those methods in hand. No
// attempt is taken on the account's counters here: nothing is guessed,
// and anyone could otherwise lock a user out by starting resets. The
// codes typed later count toward the account's lockout as in sign-in
// (checkCode).
func (p *Portal) passwordReset(w http.ResponseWriter, r *http.Request) {
	if !p.cfg.PasswordReset {
		p.notFound(w, r)
		return
	}
	l := p.lang(r)
	f, ok := p.nameForm(w, r, "passwordreset", l.T("portal.reset.heading"))
	if !ok {
		return
	}
	ctx, name, rd, again := r.Context(), f.name, f.rd, f.again
	giveBack, err := p.cfg.Users.TakeSourceAttempt(ctx, f.source)
	if err != nil {
		p.passwordRefused(w, r, name, err, again)
		return
	}
	user, known := p.cfg.Users.Lookup(name)
	if !known {
		// The same queries as for an account: a name that does not exist
		// has no methods in the store, and is refused below whatever it
		// finds there (a deleted user's leftovers).
		user = verifiers.User{Name: name}
	}
	n, err := p.usableCount(ctx, user)
	if err != nil {
		giveBack()
		p.storeError(w, r, err)
		return
	}
	if !known || name == "" || user.Disabled || n < p.cfg.PasswordResetMethods {
		outcome := "not-enough-methods"
		if known && user.Disabled {
			outcome = "disabled"
		}
		p.audit(r, "password-reset", name, methodReset, outcome, zap.Int("methods", n))
		again(http.StatusForbidden, p.cantReset(l))
		return
	}
	// The attempt taken from the network's budget is kept: starting a
	// reset proves nothing, and sends a text, a call or a request to the
	// user's device, so a flood of them from one network stops where a
	// flood of wrong passwords would.
	have, err := p.userMethods(ctx, user)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	if len(have) < p.cfg.PasswordResetMethods {
		// A method went away since it was counted.
		again(http.StatusForbidden, p.cantReset(l))
		return
	}
	pd := pending{ID: randomID(), User: user.Name, Stage: stageVerify, Rd: rd, Aud: p.requestHost(r), Created: p.cfg.Now().Unix(),
		Reset: p.cfg.PasswordResetMethods}
	if pd.M, err = p.defaultMethod(ctx, user, have); err != nil {
		p.storeError(w, r, err)
		return
	}
	p.audit(r, "password-reset", user.Name, methodReset, "started", zap.Int("methods_needed", pd.Reset))
	p.start(r, &pd, user)
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, Prefix+"verify", http.StatusSeeOther)
}

// usableCount counts the methods the user can use now. It asks every
// method, as userMethods does, without reading labels: the same store
// queries for any name, whether it exists or has methods or not.
func (p *Portal) usableCount(ctx context.Context, user verifiers.User) (int, error) {
	n := 0
	for _, m := range p.reg.byStrength {
		ok, err := m.Enrolled(ctx, user)
		if err != nil {
			return 0, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// resetVerified counts a second step of a password reset: the next unused
// method is started, or, after the last one, the user goes on to choose a
// new password. That page needs the reset's one-time token, whose hash is
// kept in the store as a code bound to a new challenge ID: the new
// password uses it up (UseCode), so the pending cookie cannot set a
// password twice, and a pending of a sign-in or a reauth never holds one.
func (p *Portal) resetVerified(w http.ResponseWriter, r *http.Request, pd pending, user verifiers.User, method string) {
	ctx := r.Context()
	if slices.Contains(pd.Used, method) {
		// verifyingWithMethods offers and accepts unused methods only.
		p.restart(w, r, msgRestart)
		return
	}
	pd.Used = append(pd.Used, method)
	pd.Reset--
	p.audit(r, "password-reset", user.Name, method, "verified", zap.Int("methods_still_needed", pd.Reset))
	// Each step is a challenge of its own: nothing a method kept for the
	// last one carries over.
	pd.ID = randomID()
	pd.Prompt, pd.Err, pd.Show, pd.State = "", "", "", ""
	if pd.Reset > 0 {
		have, err := p.userMethods(ctx, user)
		if err != nil {
			p.storeError(w, r, err)
			return
		}
		have = p.offered(pd, have)
		if len(have) == 0 {
			p.clearCookie(w, r, p.names(r).pending)
			l := p.lang(r)
			p.render(w, r, http.StatusForbidden, "message", pageData{Title: l.T("portal.reset.heading"), Heading: l.T("portal.reset.cant_heading"),
				Info: p.cantReset(l), Continue: Prefix})
			return
		}
		if pd.M, err = p.defaultMethod(ctx, user, have); err != nil {
			p.storeError(w, r, err)
			return
		}
		p.start(r, &pd, user)
		if !p.setPending(w, r, pd) {
			p.storeError(w, r, errors.New("encoding pending cookie"))
			return
		}
		http.Redirect(w, r, Prefix+"verify", http.StatusSeeOther)
		return
	}
	pd.Stage, pd.M, pd.Nonce = stageNewPassword, "", randomID()
	if err := p.cfg.Store.PutCode(ctx, p.resetToken(pd)); err != nil {
		p.storeError(w, r, err)
		return
	}
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, NewPasswordPath, http.StatusSeeOther)
}

// resetToken is the store's record of a verified reset's one-time token,
// live as long as the reset's pending cookie.
func (p *Portal) resetToken(pd pending) store.Code {
	h := sha256.Sum256([]byte(pd.Nonce))
	return store.Code{ChallengeID: pd.ID, Username: pd.User, Method: methodReset, Hash: h[:],
		Expires: time.Unix(pd.Created, 0).Add(pendingLifetime)}
}

// newPassword serves "Choose a new password", the end of a password reset:
// only for a reset verified with enough methods (stageNewPassword), once.
// The new password is set as an administrator's `passwd` would set it
// (the policy, the users file, every session of the user ended); no
// session is issued: the user signs in with it.
func (p *Portal) newPassword(w http.ResponseWriter, r *http.Request) {
	if !p.cfg.PasswordReset {
		p.notFound(w, r)
		return
	}
	if methodNotAllowed(w, r) {
		return
	}
	// A pending of another stage is left alone: a sign-in under way in
	// this browser goes on. The reset that cannot go on is sent back to
	// its start.
	l := p.lang(r)
	over := func(clear bool) {
		if clear {
			p.clearCookie(w, r, p.names(r).pending)
		}
		p.render(w, r, http.StatusForbidden, "message", pageData{Title: l.T("portal.reset.heading"), Heading: l.T("portal.reset.over_heading"),
			Info: l.T("portal.reset.over"), Continue: PasswordResetPath})
	}
	pd, user, ok := p.readPending(r, stageNewPassword)
	if !ok || pd.Nonce == "" {
		over(false)
		return
	}
	show := func(status int, msg string) {
		p.render(w, r, status, "newpassword", pageData{Title: l.T("portal.reset.new_heading"), Heading: l.T("portal.reset.new_heading"), Error: msg,
			Username: user.Name})
	}
	if r.Method != http.MethodPost {
		show(http.StatusOK, "")
		return
	}
	ctx := r.Context()
	next, confirm := r.PostFormValue("new"), r.PostFormValue("confirm")
	if next != confirm {
		show(http.StatusBadRequest, l.T("portal.password.mismatch"))
		return
	}
	// The policy is checked before the token is used up, so a refused
	// password can be followed by another.
	if err := password.CheckNewPassword(next, user.Name, user.DisplayName); err != nil {
		show(http.StatusBadRequest, policyWords(l, err))
		return
	}
	token := p.resetToken(pd)
	res, err := p.cfg.Store.UseCode(ctx, token.ChallengeID, user.Name, methodReset, token.Hash, p.cfg.Now(), 1)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	if res != store.CodeAccepted {
		// Used before (a replay of this form, or two at once) or expired.
		p.audit(r, "password-reset", user.Name, methodReset, "replayed")
		over(true)
		return
	}
	rv, err := p.accounts.SetPassword(ctx, user.Name, next)
	var policy *password.PolicyError
	switch {
	case errors.As(err, &policy):
		// The users file changed in between (a new display name): the
		// token is put back for the next try.
		if err := p.cfg.Store.PutCode(ctx, token); err != nil {
			p.log.Error("restoring a password reset's token", zap.Error(err))
		}
		show(http.StatusBadRequest, policy.Explain(l))
		return
	case err != nil:
		p.audit(r, "password-reset", user.Name, methodReset, "error", zap.Error(err))
		p.storeError(w, r, err)
		return
	}
	// This instance checks the new password from now on; the others when
	// they next look at the users file.
	if _, err := p.cfg.Users.Reload(); err != nil {
		p.log.Error("reloading the users file after a password reset", zap.Error(err))
	}
	p.revoked.add(rv)
	p.dropSetUps(r, user.Name)
	p.clearCookie(w, r, p.names(r).pending)
	p.audit(r, "password-reset", user.Name, methodReset, "success", zap.Strings("verified_with", pd.Used),
		zap.Time("signed_out_before", rv.NotBefore.Truncate(time.Second)))
	signIn := Prefix
	if pd.Rd != "" && pd.Rd != "/" {
		signIn += "?rd=" + url.QueryEscape(pd.Rd)
	}
	p.render(w, r, http.StatusOK, "message", pageData{Title: l.T("portal.reset.changed_title"), Heading: l.T("portal.reset.changed_heading"),
		Info: l.T("portal.reset.changed"), Continue: signIn})
}

// nameForm is a posted form that starts with a username: the Temporary
// Access Pass and password reset pages.
type nameForm struct {
	name   string // the typed name, normalised
	rd     string // where to go after signing in
	source string // the client's network (verifiers.SourceKey)
	// again shows the page again with an error and the typed name.
	again func(status int, msg string)
}

// nameForm serves page (titled heading) to a GET, and for a POST returns
// the form once the client's network is within its budget
// (CheckSource); otherwise it has answered and returns false.
func (p *Portal) nameForm(w http.ResponseWriter, r *http.Request, page, heading string) (nameForm, bool) {
	if methodNotAllowed(w, r) {
		return nameForm{}, false
	}
	rd := p.safeRd(r, r.FormValue("rd"))
	typed := r.PostFormValue("username")
	f := nameForm{name: password.NormalizeName(typed), rd: rd, source: verifiers.SourceKey(p.cfg.ClientIP(r))}
	f.again = func(status int, msg string) {
		if len(typed) > 64 {
			typed = ""
		}
		p.render(w, r, status, page, pageData{Title: heading, Heading: heading, Error: msg, Rd: rd, Username: typed})
	}
	if r.Method != http.MethodPost {
		f.again(http.StatusOK, "")
		return nameForm{}, false
	}
	if err := p.cfg.Users.CheckSource(r.Context(), f.source); err != nil {
		p.passwordRefused(w, r, f.name, err, f.again)
		return nameForm{}, false
	}
	return f, true
}
