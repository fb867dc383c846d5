package password

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
)

// ErrBusy is returned when a password check could not get a hashing slot:
// it waited Limits.Wait in line, or the line was full (Limits.Queue).
var ErrBusy = errors.New("password: too many sign-ins at once, try again in a moment")

// ErrTooManyAttempts matches (with errors.Is) every *TooManyAttemptsError.
var ErrTooManyAttempts = errors.New("password: too many sign-in attempts from this network")

// TooManyAttemptsError is returned when the client's network (its source,
// see verifiers.SourceKey) has used its budget of failed attempts, or has
// Limits.QueuePerSource checks waiting already. No password was checked,
// and no account's failure count changes.
type TooManyAttemptsError struct {
	// RetryAfter is when the source may try again, at least a second.
	RetryAfter time.Duration
}

// Error says when the source may try again.
func (e *TooManyAttemptsError) Error() string {
	return fmt.Sprintf("password: too many sign-in attempts from this network, try again in %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrTooManyAttempts) true.
func (e *TooManyAttemptsError) Is(target error) bool { return target == ErrTooManyAttempts }

// Limits are what the hashing gate allows. A zero field takes its value
// from DefaultLimits.
type Limits struct {
	// Attempts is how many failed password checks one source (an IPv4
	// address, or an IPv6 /64) may have in a row before its next attempt is
	// refused, without checking it, with ErrTooManyAttempts. A correct
	// password gives its attempt back, so people who know their passwords
	// never use the budget up, however many share one address.
	Attempts int
	// Per is how long a source takes to regain all Attempts: one comes
	// back every Per/Attempts.
	Per time.Duration
	// CPUShare is the fraction of the machine's CPU time (0 < share ≤ 1)
	// hashing may take in the long run; 1 removes the ceiling.
	CPUShare float64
	// CPUBurst is how much hashing time may be spent beyond the share after
	// a quiet spell (the 9 o'clock rush), counted in time of one core.
	CPUBurst time.Duration
	// QueuePerSource is how many checks of one source may wait for a
	// hashing slot at once; more are refused with ErrTooManyAttempts.
	QueuePerSource int
	// Queue is how many checks may wait for a hashing slot at once in all;
	// more get ErrBusy.
	Queue int
	// Wait is how long a check waits for a hashing slot before ErrBusy.
	Wait time.Duration
	// RefusalDelay holds a refused attempt this long before answering, so
	// a client that retries at once retries slowly (negative: not at all).
	// At most Queue refusals are held at a time; others are answered at
	// once.
	RefusalDelay time.Duration
}

// DefaultLimits are the gate's limits unless configured otherwise.
//
// 20 failures in a row per source, regained at one every 3 s: a person
// mistyping a password ten times in a row never meets the limit, an office
// behind one NAT meets it only if its people fail 20 times within a
// minute, and a flood from one source gets one hash every 3 s.
// 10 % of the CPU in the long run with a 10 s burst: with checks of
// 40–100 ms (DefaultParams on the benchmark machine), 100–250 checks at
// once, then 2–5 a second on two cores.
var DefaultLimits = Limits{
	Attempts:       20,
	Per:            time.Minute,
	CPUShare:       0.10,
	CPUBurst:       10 * time.Second,
	QueuePerSource: 8,
	Queue:          256,
	Wait:           30 * time.Second,
	RefusalDelay:   time.Second,
}

// withDefaults fills l's zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Attempts <= 0 {
		l.Attempts = d.Attempts
	}
	if l.Per <= 0 {
		l.Per = d.Per
	}
	if l.CPUShare <= 0 || l.CPUShare > 1 {
		l.CPUShare = d.CPUShare
	}
	if l.CPUBurst <= 0 {
		l.CPUBurst = d.CPUBurst
	}
	if l.QueuePerSource <= 0 {
		l.QueuePerSource = d.QueuePerSource
	}
	if l.Queue <= 0 {
		l.Queue = d.Queue
	}
	if l.Wait <= 0 {
		l.Wait = d.Wait
	}
	switch {
	case l.RefusalDelay == 0:
		l.RefusalDelay = d.RefusalDelay
	case l.RefusalDelay < 0:
		l.RefusalDelay = 0
	}
	return l
}

// gate decides when a password check may hash. It separates attackers from
// users in three steps:
//
//  1. Per source, a budget of failed attempts, checked before anything is
//     hashed. Refused attempts cost a map lookup and are held
//     RefusalDelay, so a flood from one address costs almost nothing.
//  2. A bounded number of hashing slots (half the cores, divided by the
//     lanes one hash uses), which bounds hashing memory at slots × m,
//     whatever the number of requests. Waiting checks queue per source and
//     are served round robin across sources (the least recently served
//     source first), so a source with many attempts in line delays another
//     source by at most the hashes already running.
//  3. A long-run CPU ceiling with a burst allowance: a bucket of hashing
//     time that refills at CPUShare of the machine and holds CPUBurst. A
//     check starts only while the bucket is not empty; it is never made to
//     rest after the fact.
type gate struct {
	mu    sync.Mutex
	lim   Limits
	slots int
	busy  int

	cpu   float64 // seconds of hashing the bucket holds (may go below zero)
	cpuAt time.Time
	cores float64

	sources map[string]*source
	sweepAt int
	active  []*source // sources with checks in line
	queued  int
	seq     uint64
	vt      uint64 // turn of the source served last
	waking  bool
	holding int

	now   func() time.Time
	timer func(time.Duration) (<-chan time.Time, func())
}

type source struct {
	key     string
	tokens  float64
	at      time.Time
	vt      uint64 // turn at which the source is served next
	waiting []*waiter
}

type waiter struct {
	src     *source
	seq     uint64
	ready   chan struct{}
	granted bool
	// turnedAway: taken out of line to make room for another source's
	// check (see makeRoom); ready is closed, and the check gets ErrBusy.
	turnedAway bool
}

func newGate(lim Limits, threads uint8) *gate {
	g := &gate{
		sources: map[string]*source{},
		sweepAt: 1024,
		cores:   float64(runtime.GOMAXPROCS(0)),
		now:     time.Now,
		timer: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTimer(d)
			return t.C, func() { t.Stop() }
		},
	}
	g.configure(lim, threads)
	g.cpu = g.lim.CPUBurst.Seconds()
	g.cpuAt = g.now()
	return g
}

// configure sets the limits and the number of slots for hashes of threads
// lanes: half the cores, so hashing never takes the whole machine at once.
func (g *gate) configure(lim Limits, threads uint8) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lim = lim.withDefaults()
	g.slots = max(1, runtime.GOMAXPROCS(0)/(2*max(1, int(threads))))
	g.cpu = min(g.cpu, g.lim.CPUBurst.Seconds())
	// Budgets carry over (a config reload keeps the gate), but never above
	// the new limit.
	for _, s := range g.sources {
		s.tokens = min(s.tokens, float64(g.lim.Attempts))
	}
}

// perToken is how long a source takes to regain one attempt.
func (g *gate) perToken() time.Duration {
	return g.lim.Per / time.Duration(g.lim.Attempts)
}

// source returns key's budget, refilled up to now. Callers hold g.mu.
func (g *gate) source(key string, now time.Time) *source {
	s := g.sources[key]
	if s == nil {
		if len(g.sources) >= g.sweepAt {
			g.sweep(now)
		}
		s = &source{key: key, tokens: float64(g.lim.Attempts), at: now, vt: g.vt}
		g.sources[key] = s
		return s
	}
	if el := now.Sub(s.at); el > 0 {
		s.tokens = min(float64(g.lim.Attempts), s.tokens+float64(el)/float64(g.perToken()))
		s.at = now
	}
	return s
}

// sweep forgets sources whose budget is full again and that have nothing
// in line: they are the same as sources never seen. The next sweep comes
// when the map has doubled, so sweeping costs O(1) per new source.
func (g *gate) sweep(now time.Time) {
	for k, s := range g.sources {
		full := s.tokens+float64(now.Sub(s.at))/float64(g.perToken()) >= float64(g.lim.Attempts)
		if full && len(s.waiting) == 0 {
			delete(g.sources, k)
		}
	}
	g.sweepAt = max(1024, 2*len(g.sources))
}

// refillCPU brings the CPU bucket up to now and returns what it holds.
// Callers hold g.mu.
func (g *gate) refillCPU(now time.Time) float64 {
	if g.lim.CPUShare >= 1 {
		return math.Inf(1)
	}
	if el := now.Sub(g.cpuAt); el > 0 {
		g.cpu = min(g.lim.CPUBurst.Seconds(), g.cpu+el.Seconds()*g.lim.CPUShare*g.cores)
		g.cpuAt = now
	}
	return g.cpu
}

// run calls f (one password hash) when the source key may hash and a slot
// is free. It returns giveBack, which returns the attempt to the source's
// budget (call it when the password was right), or an error without
// calling f: *TooManyAttemptsError, ErrBusy, or ctx's error.
func (g *gate) run(ctx context.Context, key string, f func()) (giveBack func(), err error) {
	g.mu.Lock()
	now := g.now()
	src := g.source(key, now)
	switch {
	case src.tokens < 1:
		retry := time.Duration((1 - src.tokens) * float64(g.perToken()))
		g.mu.Unlock()
		return nil, g.refuse(ctx, retry)
	case len(src.waiting) >= g.lim.QueuePerSource:
		retry := g.perToken()
		g.mu.Unlock()
		return nil, g.refuse(ctx, retry)
	case g.queued >= g.lim.Queue && !g.makeRoom(src):
		g.mu.Unlock()
		return nil, ErrBusy
	}
	src.tokens--
	if g.queued == 0 && g.busy < g.slots && g.refillCPU(now) > 0 {
		g.busy++
		g.turn(src)
		g.mu.Unlock()
	} else {
		w := g.enqueue(src)
		g.dispatch()
		g.mu.Unlock()
		if err := g.await(ctx, w); err != nil {
			return nil, err
		}
	}

	start := g.now()
	defer func() {
		took := g.now().Sub(start)
		g.mu.Lock()
		g.busy--
		g.refillCPU(g.now())
		g.cpu -= took.Seconds()
		g.dispatch()
		g.mu.Unlock()
	}()
	f()
	return func() { g.giveBack(key) }, nil
}

// enqueue puts a check of src in line. Callers hold g.mu.
func (g *gate) enqueue(src *source) *waiter {
	g.seq++
	w := &waiter{src: src, seq: g.seq, ready: make(chan struct{})}
	if len(src.waiting) == 0 {
		// A source that had nothing in line has had no turn since: it
		// comes before every source served since it last waited.
		src.vt = max(src.vt, g.vt)
		g.active = append(g.active, src)
	}
	src.waiting = append(src.waiting, w)
	g.queued++
	return w
}

// dispatch hands free slots to waiting checks, the source with the
// earliest turn first (ties: the earliest in line), while the CPU bucket
// is not empty. When it is, a timer dispatches again once it refills.
// Callers hold g.mu.
func (g *gate) dispatch() {
	for g.queued > 0 && g.busy < g.slots {
		now := g.now()
		if cpu := g.refillCPU(now); cpu <= 0 {
			if !g.waking {
				g.waking = true
				d := time.Duration(-cpu/(g.lim.CPUShare*g.cores)*float64(time.Second)) + time.Millisecond
				c, _ := g.timer(d)
				go func() {
					<-c
					g.mu.Lock()
					g.waking = false
					g.dispatch()
					g.mu.Unlock()
				}()
			}
			return
		}
		best := 0
		for i, s := range g.active {
			b := g.active[best]
			if s.vt < b.vt || (s.vt == b.vt && s.waiting[0].seq < b.waiting[0].seq) {
				best = i
			}
		}
		src := g.active[best]
		w := src.waiting[0]
		src.waiting = src.waiting[1:]
		if len(src.waiting) == 0 {
			src.waiting = nil
			g.active = append(g.active[:best], g.active[best+1:]...)
		}
		g.queued--
		g.turn(src)
		g.busy++
		w.granted = true
		close(w.ready)
	}
}

// makeRoom makes room in a full line for a check of src by turning away
// the newest check of the source with the most checks in line, when that
// source has more in line than src would have with this check: networks
// with many checks waiting cannot fill the line against everyone else, so
// a source with nothing in line is refused as busy only when every
// source in the full line has one check waiting. It reports whether it made room. Callers
// hold g.mu.
func (g *gate) makeRoom(src *source) bool {
	var most *source
	for _, s := range g.active {
		if most == nil || len(s.waiting) > len(most.waiting) {
			most = s
		}
	}
	if most == nil || len(most.waiting) <= len(src.waiting)+1 {
		return false
	}
	// most keeps at least one check in line, so it stays active.
	w := most.waiting[len(most.waiting)-1]
	most.waiting = most.waiting[:len(most.waiting)-1]
	g.queued--
	w.turnedAway = true
	close(w.ready)
	return true
}

// turn records that src is served now: its next turn comes after every
// source that has waited since. Callers hold g.mu.
func (g *gate) turn(src *source) {
	src.vt = max(src.vt, g.vt)
	g.vt = src.vt
	src.vt++
}

// await waits until w is granted a slot. When it gives up first (Wait, or
// ctx), the attempt goes back to the source: nothing was checked.
func (g *gate) await(ctx context.Context, w *waiter) error {
	c, stop := g.timer(g.lim.Wait)
	defer stop()
	var err error
	select {
	case <-w.ready:
		if !w.turnedAway {
			return nil
		}
		err = ErrBusy
	case <-c:
		err = ErrBusy
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case w.turnedAway:
		// Already out of line (makeRoom).
	case w.granted:
		// Granted while giving up: pass the slot on.
		g.busy--
	default:
		src := w.src
		for i, o := range src.waiting {
			if o == w {
				src.waiting = append(src.waiting[:i], src.waiting[i+1:]...)
				break
			}
		}
		if len(src.waiting) == 0 {
			src.waiting = nil
			for i, s := range g.active {
				if s == src {
					g.active = append(g.active[:i], g.active[i+1:]...)
					break
				}
			}
		}
		g.queued--
	}
	if s := g.sources[w.src.key]; s == w.src {
		s.tokens = min(float64(g.lim.Attempts), s.tokens+1)
	}
	g.dispatch()
	return err
}

// admit reports, without using any of it, whether key's budget allows a
// check now: nil, or the *TooManyAttemptsError run would return (held
// RefusalDelay, as there). It lets a caller refuse an attempt before it
// does anything else for it, such as counting it against an account.
func (g *gate) admit(ctx context.Context, key string) error {
	g.mu.Lock()
	src := g.source(key, g.now())
	var retry time.Duration
	switch {
	case src.tokens < 1:
		retry = time.Duration((1 - src.tokens) * float64(g.perToken()))
	case len(src.waiting) >= g.lim.QueuePerSource:
		retry = g.perToken()
	default:
		g.mu.Unlock()
		return nil
	}
	g.mu.Unlock()
	return g.refuse(ctx, retry)
}

// take uses one attempt of key's budget for a check that needs no hashing
// slot (a Temporary Access Pass): refused as run refuses when the budget
// is used up. It returns the giveBack for a check that succeeded.
func (g *gate) take(ctx context.Context, key string) (giveBack func(), err error) {
	g.mu.Lock()
	src := g.source(key, g.now())
	if src.tokens < 1 {
		retry := time.Duration((1 - src.tokens) * float64(g.perToken()))
		g.mu.Unlock()
		return nil, g.refuse(ctx, retry)
	}
	src.tokens--
	g.mu.Unlock()
	return func() { g.giveBack(key) }, nil
}

// giveBack returns one attempt to key's budget.
func (g *gate) giveBack(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.sources[key]; s != nil {
		s.tokens = min(float64(g.lim.Attempts), s.tokens+1)
	}
}

// refuse answers an attempt the source may not make, after holding it
// RefusalDelay (unless Queue refusals are held already, or ctx ends).
func (g *gate) refuse(ctx context.Context, retry time.Duration) error {
	g.mu.Lock()
	hold := g.lim.RefusalDelay > 0 && g.holding < g.lim.Queue
	if hold {
		g.holding++
	}
	delay := g.lim.RefusalDelay
	g.mu.Unlock()
	if hold {
		c, stop := g.timer(delay)
		select {
		case <-c:
		case <-ctx.Done():
		}
		stop()
		g.mu.Lock()
		g.holding--
		g.mu.Unlock()
		retry -= delay
	}
	// Whole seconds, rounded up, at least one: what the page says.
	secs := max(1, int64(math.Ceil(retry.Seconds())))
	return &TooManyAttemptsError{RetryAfter: time.Duration(secs) * time.Second}
}

// limits are the limits in force.
func (g *gate) limits() Limits {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lim
}

// Gate is a hashing gate several Directories can share (see UseGate): when
// a Caddy config reload replaces the Directory while the old one still
// answers sign-ins in flight, both hash in one set of slots, so hashing
// memory stays bounded across the reload, and the per-network budgets
// carry over instead of starting afresh.
type Gate struct{ g *gate }

// NewGate returns a gate with DefaultLimits for hashes of DefaultParams.
func NewGate() *Gate { return &Gate{g: newGate(DefaultLimits, DefaultParams.Threads)} }

// UseGate makes d check passwords through g from now on, and gives g d's
// limits and hash parameters (the latest Directory's settings apply to
// every Directory sharing g). Call it before serving.
func (d *Directory) UseGate(g *Gate) {
	g.g.configure(d.hashing.limits(), d.Params().Threads)
	d.hashing = g.g
}

// Admit is the gate's CheckSource for a directory that checks passwords
// elsewhere (LDAP): nil, or the *TooManyAttemptsError after the refusal
// delay.
func (g *Gate) Admit(ctx context.Context, source string) error { return g.g.admit(ctx, source) }

// Take uses one attempt of source's budget for a password checked
// elsewhere (an LDAP bind): a *TooManyAttemptsError when it is used up.
// Call giveBack when the password was right.
func (g *Gate) Take(ctx context.Context, source string) (giveBack func(), err error) {
	return g.g.take(ctx, source)
}

// Limits are the gate's limits.
func (g *Gate) Limits() Limits { return g.g.limits() }

// SetLimits sets the gate's limits (the per-network budget is what a
// directory that hashes nothing uses).
func (g *Gate) SetLimits(l Limits) {
	g.g.configure(l, DefaultParams.Threads)
}
