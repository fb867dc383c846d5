package portal

import (
	"net/http"

	"go.uber.org/zap"
)

// audit writes one structured log entry for a sign-in event: what happened,
// to whom, with which method, from where, and the outcome.
func (p *Portal) audit(r *http.Request, event, user, method, outcome string, extra ...zap.Field) {
	fields := append([]zap.Field{
		zap.String("event", event),
		zap.String("user", user),
		zap.String("method", method),
		zap.String("client_ip", p.cfg.ClientIP(r)),
		zap.String("host", r.Host),
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
}
