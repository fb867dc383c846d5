package portal

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/password"
)

// passwordElsewhere names the directory that keeps the users' passwords
// when Stepgate cannot change them (LDAP), or "" (the users file).
func (p *Portal) passwordElsewhere() string {
	if _, ok := p.cfg.Users.(directory.Editor); ok {
		return ""
	}
	return p.cfg.Users.Name()
}

// passwordKeptIn is what users are told, in l's language, where the
// directory keeps their passwords: where to change them (the directory's
// password_help), or "" when Stepgate changes them.
func (p *Portal) passwordKeptIn(l *messages.Localizer) string {
	if p.passwordElsewhere() == "" {
		return ""
	}
	if h, ok := p.cfg.Users.(directory.PasswordHelper); ok && strings.TrimSpace(h.PasswordHelp()) != "" {
		return l.T("portal.password.kept", "Where", strings.TrimSpace(h.PasswordHelp()))
	}
	return l.T("portal.password.kept_default")
}

// passwordPage is the data of the Change password page.
type passwordPage struct {
	// NoCurrent: the session began with a Temporary Access Pass, which
	// the help desk gave to set things right: the current password (maybe
	// forgotten) is not asked for.
	NoCurrent bool
}

// changePassword serves Security info's Change password page: the current
// password, then the new one twice. The new password must pass the
// policy; every other session of the user ends, this one goes on.
// A wrong current password counts toward the account's lockout, like one
// typed on the sign-in page: a session left open is no way to guess it.
func (p *Portal) changePassword(w http.ResponseWriter, r *http.Request, id *Identity) {
	l := p.lang(r)
	if p.passwordElsewhere() != "" {
		p.render(w, r, http.StatusNotFound, "message", pageData{Title: l.T("portal.password.heading"), Heading: l.T("portal.password.elsewhere_heading"),
			Info: p.passwordKeptIn(l)})
		return
	}
	d := passwordPage{NoCurrent: id.sess.By == byPass || id.sess.By == bySetUpPass}
	show := func(status int, msg string) {
		p.render(w, r, status, "password", pageData{Title: l.T("portal.password.heading"), Heading: l.T("portal.password.heading"), Error: msg,
			Username: id.User.Name, Step: d})
	}
	if r.Method != http.MethodPost {
		show(http.StatusOK, "")
		return
	}
	ctx := r.Context()
	name := id.User.Name
	next, confirm := r.PostFormValue("new"), r.PostFormValue("confirm")
	if next != confirm {
		show(http.StatusBadRequest, l.T("portal.password.mismatch"))
		return
	}
	if err := password.CheckNewPassword(next, name, id.User.DisplayName); err != nil {
		show(http.StatusBadRequest, policyWords(l, err))
		return
	}
	if !d.NoCurrent {
		source := verifiers.SourceKey(p.cfg.ClientIP(r))
		if err := p.cfg.Users.CheckSource(ctx, source); err != nil {
			p.passwordRefused(w, r, name, err, show)
			return
		}
		taken, msg, ok := p.takeAttempt(r, name, store.FailuresPassword, "password")
		if !ok {
			show(lockStatus(l, msg), msg)
			return
		}
		_, right, err := p.cfg.Users.Authenticate(ctx, source, name, r.PostFormValue("current"))
		if err != nil {
			p.returnAttempt(ctx, name, store.FailuresPassword, taken)
			p.passwordRefused(w, r, name, err, show)
			return
		}
		if !right {
			p.failed(r, name, "password", "failure", taken.Failures)
			show(http.StatusUnauthorized, l.T("portal.password.wrong_current"))
			return
		}
		if err := p.cfg.Store.ResetFailures(ctx, name, store.FailuresPassword); err != nil {
			p.log.Error("resetting failures", zap.Error(err))
		}
	}
	rv, err := p.accounts.SetPassword(ctx, name, next)
	var policy *password.PolicyError
	switch {
	case errors.As(err, &policy):
		show(http.StatusBadRequest, policy.Explain(l))
		return
	case err != nil:
		p.storeError(w, r, err)
		return
	}
	// This instance checks the new password from now on; the others when
	// they next look at the users file (within seconds).
	if _, err := p.cfg.Users.Reload(); err != nil {
		p.log.Error("reloading the users file after a password change", zap.Error(err))
	}
	p.revoked.add(rv)
	p.dropSetUps(r, name)
	// Every session issued before the cut-off ended; this one is issued
	// again from it, ending when it would have.
	s := id.sess
	s.Expires = p.expiry(s)
	s.ID = randomID()
	s.Issued = rv.NotBefore.Unix()
	s.Seen = p.cfg.Now().Unix()
	if !p.setSession(w, r, s) {
		p.storeError(w, r, errors.New("encoding session cookie"))
		return
	}
	p.changed(w, r, name, "password-changed", "password", "password-changed", zap.Time("others_signed_out_before", rv.NotBefore.Truncate(time.Second)))
}

// policyWords is why the password policy refused a new password, in l's
// language.
func policyWords(l *messages.Localizer, err error) string {
	var policy *password.PolicyError
	if errors.As(err, &policy) {
		return policy.Explain(l)
	}
	return err.Error()
}
