package caddymodule

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stepgate/stepgate/portal"
)

// metrics are Stepgate's Prometheus metrics, on Caddy's registry: the
// `metrics` handler and the admin endpoint's /metrics show them.
type metrics struct {
	events      *prometheus.CounterVec
	decisions   [portal.Forbidden + 1]prometheus.Counter
	storeErrors prometheus.Counter
	storeTime   *prometheus.HistogramVec
}

// newMetrics registers the metrics on reg (taking over those a previous
// configuration registered there). feedAge reads the portal's revocation
// feed age once the portal exists.
func newMetrics(reg *prometheus.Registry, feedAge func() float64) (*metrics, error) {
	m := &metrics{}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "stepgate", Name: "events_total",
		Help: "Sign-in events by event (sign-in, code-sent, call-placed, push-sent, lockout, …), method and outcome."},
		[]string{"event", "method", "outcome"})
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "stepgate", Name: "decisions_total",
		Help: "Per-request decisions: allow, sign-in (sent to sign in), step-up, forbidden."}, []string{"outcome"})
	storeErrors := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "stepgate", Name: "store_errors_total",
		Help: "Failures of the store (SQLite or PostgreSQL) seen by the sign-in pages and the revocation feed."})
	feed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "stepgate", Name: "revocation_feed_age_seconds",
		Help: "Seconds since this instance last read the sign-outs of other instances from the store."}, feedAge)
	storeTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "stepgate", Name: "store_seconds",
		Help:    "Time of each store operation (its method: TakeAttempt, UseCode, …), whatever the backend.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"op"})
	var err error
	if m.storeTime, err = register(reg, storeTime); err != nil {
		return nil, err
	}
	if m.events, err = register(reg, events); err != nil {
		return nil, err
	}
	dec, err := register(reg, decisions)
	if err != nil {
		return nil, err
	}
	for o := portal.Allow; o <= portal.Forbidden; o++ {
		m.decisions[o] = dec.WithLabelValues(o.String())
	}
	if m.storeErrors, err = register(reg, storeErrors); err != nil {
		return nil, err
	}
	// A gauge function reads this configuration's portal: the previous
	// configuration's is replaced.
	reg.Unregister(feed)
	if err := reg.Register(feed); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the collector already there
// under its name (after a config reload the counters go on).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Event implements portal.Observer.
func (m *metrics) Event(event, method, outcome string) {
	m.events.WithLabelValues(event, method, outcome).Inc()
}

// Decided implements portal.Observer.
func (m *metrics) Decided(o portal.Outcome) {
	if int(o) < len(m.decisions) && m.decisions[o] != nil {
		m.decisions[o].Inc()
	}
}

// storeOp records one store operation's time (see store.Timed).
func (m *metrics) storeOp(op string, d time.Duration) {
	m.storeTime.WithLabelValues(op).Observe(d.Seconds())
}

// StoreFailed implements portal.Observer.
func (m *metrics) StoreFailed() { m.storeErrors.Inc() }
