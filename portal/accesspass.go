package portal

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/store"
)

// A session begun with a Temporary Access Pass says so in By. A user who
// had no usable method gets bySetUpPass: the protected sites send them to
// Security info until they add one (the session is then reissued as
// byPass), without any lookup on the hot path.
const (
	byPass      = "access-pass"
	bySetUpPass = "access-pass-set-up"
)

// AccessPassPath is the page where a user signs in with a Temporary
// Access Pass.
const AccessPassPath = Prefix + "access-pass"

// accessPass serves the Temporary Access Pass page: a username and a pass
// sign the user in without password or second step, to Security info.
// It runs like the password step, and for every name, existing or not: the
// network's budget is checked first, an attempt is taken on the account's
// password counter (wrong passes count toward its lockout), and the pass
// is looked up in the store for unknown names too.
func (p *Portal) accessPass(w http.ResponseWriter, r *http.Request) {
	l := p.lang(r)
	f, ok := p.nameForm(w, r, "accesspass", l.T("portal.access_pass.heading"))
	if !ok {
		return
	}
	ctx, name, again := r.Context(), f.name, f.again
	var taken store.Attempt
	if name != "" {
		a, msg, ok := p.takeAttempt(r, name, store.FailuresPassword, byPass)
		if !ok {
			again(lockStatus(l, msg), msg)
			return
		}
		taken = a
	}
	giveBack, err := p.cfg.Users.TakeSourceAttempt(ctx, f.source)
	if err != nil {
		if name != "" {
			p.returnAttempt(ctx, name, store.FailuresPassword, taken)
		}
		p.passwordRefused(w, r, name, err, again)
		return
	}
	user, known := p.cfg.Users.Lookup(name)
	pass, err := p.accounts.UseAccessPass(ctx, name, r.PostFormValue("pass"))
	switch {
	case err != nil && !errors.Is(err, account.ErrBadPass):
		if name != "" {
			p.returnAttempt(ctx, name, store.FailuresPassword, taken)
		}
		giveBack()
		p.storeError(w, r, err)
		return
	case err != nil || !known || name == "":
		p.failed(r, name, byPass, "failure", taken.Failures)
		again(http.StatusUnauthorized, l.T("portal.access_pass.bad", "Help", p.help(l)))
		return
	}
	giveBack()
	if err := p.cfg.Store.ResetFailures(ctx, user.Name, store.FailuresPassword); err != nil {
		p.log.Error("resetting failures", zap.Error(err))
	}
	if user.Disabled {
		p.audit(r, "sign-in", user.Name, byPass, "disabled")
		again(http.StatusForbidden, l.T("portal.signin.disabled", "Help", p.help(l)))
		return
	}
	have, err := p.userMethods(ctx, user)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	s := p.newSession(r, user.Name)
	// The pass stands for the second step: the user can change their
	// security info without verifying again, until the session ends,
	// which is when the pass expires at the latest.
	s.Verified, s.By = s.Issued, byPass
	if len(have) == 0 {
		s.By = bySetUpPass
	}
	if end := pass.Expires.Unix(); end < s.Expires {
		s.Expires = end
	}
	if !p.setSession(w, r, s) {
		p.storeError(w, r, errors.New("encoding session cookie"))
		return
	}
	p.clearCookie(w, r, p.names(r).pending)
	p.audit(r, "sign-in", user.Name, byPass, "success", zap.String("session", s.ID[:8]), zap.Time("pass_expires", pass.Expires),
		zap.Time("session_expires", time.Unix(s.Expires, 0)))
	http.Redirect(w, r, SecurityInfoPath+"?done=pass", http.StatusSeeOther)
}
