package portal

import (
	"time"

	"github.com/stepgate/stepgate/store"
)

// Lockout is the back-off applied after failures in a row on one account
// and method. Below Threshold failures nothing happens; from there each
// attempt must wait BaseDelay, doubling with every further failure up to
// MaxDelay. At HardLimit failures the method is locked until an
// administrator resets it: NIST SP 800-63B allows at most 100 failed
// attempts in a row, and back-off alone would allow more over days.
type Lockout struct {
	// Threshold is the number of failures allowed before back-off starts.
	Threshold int
	// BaseDelay is the wait after Threshold failures.
	BaseDelay time.Duration
	// MaxDelay caps the doubling wait.
	MaxDelay time.Duration
	// HardLimit locks the method until an administrator clears it.
	HardLimit int
}

// DefaultLockout is used for unset fields.
var DefaultLockout = Lockout{Threshold: 5, BaseDelay: time.Minute, MaxDelay: time.Hour, HardLimit: 50}

// WithDefaults returns l with its unset fields taken from DefaultLockout,
// and HardLimit kept within 100 and at least Threshold.
func (l Lockout) WithDefaults() Lockout {
	if l.Threshold <= 0 {
		l.Threshold = DefaultLockout.Threshold
	}
	if l.BaseDelay <= 0 {
		l.BaseDelay = DefaultLockout.BaseDelay
	}
	if l.MaxDelay <= 0 {
		l.MaxDelay = DefaultLockout.MaxDelay
	}
	if l.HardLimit <= 0 || l.HardLimit > 100 {
		l.HardLimit = DefaultLockout.HardLimit
	}
	if l.HardLimit < l.Threshold {
		l.HardLimit = l.Threshold
	}
	return l
}

// Wait returns how long the account must wait before its next attempt (0:
// go ahead), and whether it is locked until an administrator steps in.
func (l Lockout) Wait(f store.Failures, now time.Time) (time.Duration, bool) {
	if f.Count >= l.HardLimit {
		return 0, true
	}
	if f.Count < l.Threshold {
		return 0, false
	}
	delay := l.BaseDelay
	for i := l.Threshold; i < f.Count && delay < l.MaxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, l.MaxDelay)
	if wait := f.Last.Add(delay).Sub(now); wait > 0 {
		return wait, false
	}
	return 0, false
}
