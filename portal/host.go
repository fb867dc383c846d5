package portal

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
)

// host is what the portal offers to the methods' own endpoints.
type host struct{ p *Portal }

func (h host) Audit(r *http.Request, event, user, method, outcome string, fields ...zap.Field) {
	h.p.audit(r, event, user, method, outcome, fields...)
}

func (h host) Failed(r *http.Request, user, method, outcome string) {
	h.p.addFailure(r, user, method, outcome)
}

func (h host) FraudReported(r *http.Request, user, method, detail string) {
	h.p.fraudReported(r, user, method, detail)
}

func (h host) ClientIP(r *http.Request) string { return h.p.cfg.ClientIP(r) }

func (h host) HelpContact(l *messages.Localizer) string { return h.p.help(l) }

func (h host) Signing(r *http.Request) (verifiers.User, verifiers.Challenge, bool) {
	pd, user, ok := h.p.readPending(r, stageVerify)
	if !ok {
		return user, verifiers.Challenge{}, false
	}
	return user, h.p.attempt(r, &pd), true
}

func (h host) Local(r *http.Request) bool { return h.p.fromThisMachine(r) }

func (h host) FirstSignInRegistration() bool { return h.p.cfg.FirstSignInRegistration }

// fraudReported logs a user's fraud report as a high-priority event.
func (p *Portal) fraudReported(r *http.Request, user, method, detail string) {
	p.log.Error("sign-in event", zap.String("event", "fraud-report"), zap.String("user", user),
		zap.String("method", method), zap.String("outcome", "method-blocked"), zap.String("detail", detail),
		zap.String("client_ip", p.cfg.ClientIP(r)))
	p.remember(r, "fraud-report", user, method, "fraud-reported", "")
}

var _ verifiers.Host = host{}
