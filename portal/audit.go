package portal

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// audit writes one structured log entry for a sign-in event: what happened,
// to whom, with which method, from where, and the outcome. Events a user
// should see on their Security info page are also kept in the store.
func (p *Portal) audit(r *http.Request, event, user, method, outcome string, extra ...zap.Field) {
	fields := append([]zap.Field{
		zap.String("event", event),
		zap.String("user", user),
		zap.String("method", method),
		zap.String("client_ip", p.cfg.ClientIP(r)),
		zap.String("host", p.hostOf(r)),
		zap.String("outcome", outcome),
	}, extra...)
	switch outcome {
	case "success", "password-ok":
		p.log.Info("sign-in event", fields...)
	case "error":
		p.log.Error("sign-in event", fields...)
	default:
		p.log.Warn("sign-in event", fields...)
	}
	p.remember(r, event, user, method, outcome, verifiers.NameIn(extra))
	if p.cfg.Observer != nil {
		p.cfg.Observer.Event(event, method, outcome)
	}
}

// nobody is where the password step's events for names that do not exist
// are kept: no user name can start with "*", so no page ever shows them.
const nobody = "*nobody"

// remember keeps an event for the user's Recent activity. Events for names
// that do not exist go to nobody (see below). The refusals that cost
// nothing to make (a locked account, a network over its budget) are not
// kept: those would turn a flood into a write per request.
func (p *Portal) remember(r *http.Request, event, user, method, outcome, detail string) {
	switch event {
	case "sign-in":
		switch outcome {
		case "locked", "busy", "source-limited", "error", "expired":
			return
		}
	case "lockout":
		outcome = "lockout"
	case "fraud-report":
		outcome = "fraud-reported"
	case "device-enrolled":
		// A device is added (and works) when it enrols itself; the page
		// that finishes its set-up records nothing more (below).
		outcome = "method-added"
	case "method-added":
		if m := p.reg.get(method); m != nil && m.own != nil {
			return
		}
		outcome = event
	case "method-removed", "method-renamed", "default-method-changed", "signed-out-others", "device-remembered", "device-forgotten":
		outcome = event
	case "password-reset":
		switch outcome {
		case "started", "success", "replayed":
			outcome = "password-reset-" + outcome
		case "not-enough-methods", "disabled":
			// Written for names that do not exist too (below), so a
			// refusal costs the same for any name.
			outcome = "password-reset-refused"
		default:
			return
		}
	default:
		return
	}
	if user == "" {
		return
	}
	if _, ok := p.cfg.Users.Lookup(user); !ok {
		if method != "password" && method != byPass && method != methodReset {
			return
		}
		// A wrong password (or pass), or a refused password reset, for a name that does not exist is written
		// too, under a name no account can have: the write costs a few
		// milliseconds, and a sign-in that took them only for real
		// accounts would tell which names exist. The store keeps that
		// name's newest events only, so a flood takes bounded space.
		user = nobody
	}
	site := p.requestHost(r)
	e := store.SignInEvent{Username: user, At: p.cfg.Now(), Method: method, ClientIP: p.cfg.ClientIP(r), Site: site, Outcome: outcome, Detail: detail}
	if err := p.cfg.Store.RecordSignInEvent(r.Context(), e); err != nil {
		p.log.Error("recording a sign-in event for Recent activity", zap.Error(err))
	}
}
