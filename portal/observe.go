package portal

import (
	"time"

	"go.uber.org/zap"
)

// Observer is told what the portal counts: every sign-in event it logs,
// every per-request decision and every failure of the store. caddymodule
// makes Prometheus metrics of them on Caddy's registry. Decided is on the
// hot path: it must not block.
type Observer interface {
	Event(event, method, outcome string)
	Decided(Outcome)
	StoreFailed()
}

// feedStale is how long the revocation feed may go without a refresh
// before each failure is logged at error level: a sign-out on another
// instance may not be honoured here meanwhile.
const feedStale = 30 * time.Second

// RevocationFeedAge is how long ago this instance last read the store's
// sign-outs (since the portal was built, before the first read).
func (p *Portal) RevocationFeedAge() time.Duration {
	return p.cfg.Now().Sub(time.Unix(0, p.feedSynced.Load()))
}

// feedSucceeded records a refresh of the revocation feed.
func (p *Portal) feedSucceeded() { p.feedSynced.Store(p.cfg.Now().UnixNano()) }

// feedFailed logs a failed refresh: a warning while the feed is fresh,
// an error once it is older than feedStale.
func (p *Portal) feedFailed(err error) {
	p.storeFailed()
	age := p.RevocationFeedAge()
	if age > feedStale {
		p.log.Error("the sign-outs of other instances have not been read for "+age.Round(time.Second).String()+": the store cannot be reached", zap.Error(err))
		return
	}
	p.log.Warn("reading sign-outs from the store", zap.Error(err))
}

// storeFailed counts a failure of the store.
func (p *Portal) storeFailed() {
	if p.cfg.Observer != nil {
		p.cfg.Observer.StoreFailed()
	}
}
