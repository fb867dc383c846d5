package password

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// ErrBusy is returned when a password check waited too long for its turn:
// the gateway is hashing as much as it allows itself to.
var ErrBusy = errors.New("password: too many sign-ins at once, try again in a moment")

// DefaultCPUShare is the fraction of the machine's time password hashing
// may take when sign-ins queue up. Each argon2id check costs ~160 ms of
// one core; without a ceiling, 20 clients posting wrong passwords as fast
// as they can take nearly all the CPU from proxied traffic (measured in
// bench/: a 90 % drop on one core). The hashes also cost beyond their own
// time (64 MiB allocated, faulted in and given back each time), so 10 %
// is what keeps the measured drop under 20 %; one core then still checks
// about 0.6 passwords a second, two cores about 1.2.
const DefaultCPUShare = 0.10

// DefaultHashWait is how long a sign-in waits in line for a hashing slot
// before it is told to try again.
const DefaultHashWait = 10 * time.Second

// gate bounds password hashing twice over: at most len(slots) hashes run at
// once (each argon2id run holds 64 MiB), and a slot stays closed after each
// hash for long enough that hashing keeps to its share of the time. The
// check itself is never slowed down: the rest is taken by the next caller
// in line, only when there is one.
type gate struct {
	slots chan struct{}
	share float64
	wait  time.Duration

	now   func() time.Time
	after func(time.Duration, func())
}

func newGate(share float64) *gate {
	// Each hash runs two argon2 lanes, so half as many slots as cores
	// keeps a full set of slots within the share of the whole machine.
	return &gate{
		slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		share: share,
		wait:  DefaultHashWait,
		now:   time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
	}
}

// run calls f when a slot is free, or returns ErrBusy (or ctx's error when
// the caller went away) without calling it.
func (g *gate) run(ctx context.Context, f func()) error {
	wait := time.NewTimer(g.wait)
	defer wait.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-wait.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	start := g.now()
	f()
	release := func() { <-g.slots }
	if g.share <= 0 || g.share >= 1 {
		release()
		return nil
	}
	took := g.now().Sub(start)
	g.after(time.Duration(float64(took)*(1-g.share)/g.share), release)
	return nil
}
