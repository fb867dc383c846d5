package password

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a hand-driven clock: timers fire when Advance passes them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t.c, func() {
		c.mu.Lock()
		t.stopped = true
		c.mu.Unlock()
	}
}

// Advance moves the clock on and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var keep []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.c <- c.now
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
}

// testGate is a gate with one slot on a fake clock, on one core, with lim
// (zero fields from DefaultLimits; no refusal delay unless set).
func testGate(lim Limits) (*gate, *fakeClock) {
	c := newFakeClock()
	if lim.RefusalDelay == 0 {
		lim.RefusalDelay = -1
	}
	g := newGate(lim, 1)
	g.now, g.timer = c.Now, c.Timer
	g.cpuAt = c.Now()
	g.slots, g.cores = 1, 1
	return g, c
}

// eventually polls cond (the state of goroutines the test started) until
// it holds; it asserts nothing about speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 10000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

func (g *gate) queuedNow() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.queued
}

// TestSourceBudget: failed attempts are budgeted per source before any
// hashing; a correct password gives its attempt back; the budget refills
// with time. A lone user's hashes take 1.5 s (a loaded machine, as in the
// issue); a flood's attempts are concurrent (no time passes).
func TestSourceBudget(t *testing.T) {
	type step struct {
		source  string
		right   bool          // the password was right: give the attempt back
		n       int           // this many attempts in a row
		hash    time.Duration // each taking this long
		after   time.Duration // clock moves on this much first
		refused int           // how many of them are refused
		retry   time.Duration // RetryAfter of the last refusal
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a lone user mistyping ten times in a row is never refused", []step{{source: "10.0.0.1", n: 10, hash: 1500 * time.Millisecond}}},
		{"a lone user signing in ten times in a row is never refused", []step{{source: "10.0.0.1", n: 10, right: true, hash: 1500 * time.Millisecond}}},
		{"a lone user mistyping 30 times, a few seconds apart, is never refused", []step{{source: "10.0.0.1", n: 30, hash: 1500 * time.Millisecond, after: 1500 * time.Millisecond}}},
		{"an office behind one NAT: 500 sign-ins and 19 typos", []step{
			{source: "198.51.100.7", n: 19}, {source: "198.51.100.7", n: 500, right: true}}},
		{"the 21st failure in a row is refused, the 20 before are not", []step{
			{source: "10.0.0.1", n: 21, refused: 1, retry: 3 * time.Second}}},
		{"one attempt comes back every 3 s", []step{
			{source: "10.0.0.1", n: 25, refused: 5, retry: 3 * time.Second},
			{source: "10.0.0.1", after: 3 * time.Second, n: 2, refused: 1, retry: 3 * time.Second}}},
		{"other sources are not affected", []step{
			{source: "10.0.0.1", n: 40, refused: 20, retry: 3 * time.Second}, {source: "10.0.0.2", n: 20}}},
		{"a refused attempt is not counted", []step{
			{source: "10.0.0.1", n: 1000, refused: 980, retry: 3 * time.Second},
			{source: "10.0.0.1", after: time.Minute, n: 20}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, clock := testGate(Limits{Attempts: 20, Per: time.Minute, CPUShare: 1})
			for i, s := range tc.steps {
				refused := 0
				var last *TooManyAttemptsError
				for j := range s.n {
					if j == 0 || s.hash > 0 {
						clock.Advance(s.after)
					}
					hashed := false
					giveBack, err := g.run(context.Background(), s.source, func() {
						hashed = true
						clock.Advance(s.hash)
					})
					switch {
					case errors.As(err, &last):
						refused++
						if hashed {
							t.Fatalf("step %d: a refused attempt was hashed", i)
						}
					case err != nil:
						t.Fatalf("step %d: %v", i, err)
					case s.right:
						giveBack()
					}
				}
				if refused != s.refused {
					t.Fatalf("step %d: %d of %d attempts refused, want %d", i, refused, s.n, s.refused)
				}
				if s.refused > 0 && last.RetryAfter != s.retry {
					t.Fatalf("step %d: retry after %v, want %v", i, last.RetryAfter, s.retry)
				}
			}
		})
	}
}

// TestRefusalIsHeld: a refused attempt is answered after RefusalDelay, so
// a flood client that retries at once retries once a second.
func TestRefusalIsHeld(t *testing.T) {
	g, clock := testGate(Limits{Attempts: 1, Per: time.Minute, CPUShare: 1, RefusalDelay: time.Second})
	if _, err := g.run(context.Background(), "a", func() {}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := g.run(context.Background(), "a", func() { t.Error("refused attempt hashed") })
		done <- err
	}()
	eventually(t, "the refusal is held", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.holding == 1 })
	select {
	case err := <-done:
		t.Fatalf("answered before the delay: %v", err)
	default:
	}
	clock.Advance(time.Second)
	var tm *TooManyAttemptsError
	if err := <-done; !errors.As(err, &tm) || !errors.Is(err, ErrTooManyAttempts) || tm.RetryAfter != 59*time.Second {
		t.Fatalf("after the delay: %v, want TooManyAttempts, retry in 59s", err)
	}
}

// queueUp starts n checks of source that wait in line behind a blocked
// slot; each reports its source on order when it gets to hash.
func queueUp(t *testing.T, g *gate, source string, n int, order chan<- string, errs chan<- error) {
	for range n {
		before := g.queuedNow()
		goRun(g, source, order, errs)
		eventually(t, "check in line", func() bool { return g.queuedNow() == before+1 })
	}
}

// goRun starts a check of source that sends source to order when it
// hashes, or its error to errs.
func goRun(g *gate, source string, order chan<- string, errs chan<- error) {
	go func() {
		_, err := g.run(context.Background(), source, func() { order <- source })
		if err != nil {
			errs <- err
		}
	}()
}

// TestFairQueueing: with one slot busy and a flooding source's checks in
// line, another source's check is the next to hash: the flood delays it by
// the hash already running and no more. The flooding source cannot put
// more than QueuePerSource checks in line, and the line as a whole is
// bounded by Queue.
func TestFairQueueing(t *testing.T) {
	g, _ := testGate(Limits{Attempts: 100, CPUShare: 1, QueuePerSource: 8, Queue: 12, Wait: time.Hour})
	release := make(chan struct{})
	running := make(chan struct{})
	go g.run(context.Background(), "flood", func() { close(running); <-release })
	<-running

	order := make(chan string, 32)
	errs := make(chan error, 32)
	queueUp(t, g, "flood", 8, order, errs)
	if _, err := g.run(context.Background(), "flood", func() {}); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("9th check of one source in line: %v, want ErrTooManyAttempts", err)
	}
	queueUp(t, g, "user1", 1, order, errs)
	queueUp(t, g, "user2", 1, order, errs)
	queueUp(t, g, "user3", 2, order, errs)
	// The line is full (12): a fourth user still gets in, and the
	// flood's newest check is turned away as busy to make room.
	goRun(g, "user4", order, errs)
	if err := <-errs; !errors.Is(err, ErrBusy) {
		t.Fatalf("the flood's check turned away: %v, want ErrBusy", err)
	}
	eventually(t, "user4 in line", func() bool { return g.queuedNow() == 12 })
	close(release)
	var got []string
	for range 12 {
		got = append(got, <-order)
	}
	// The flood was served last (the running hash): each user's first
	// check comes first, then the flood and user3 take turns.
	want := []string{"user1", "user2", "user3", "user4", "flood", "user3", "flood", "flood", "flood", "flood", "flood", "flood"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("hashing order\n got %v\nwant %v", got, want)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// TestFullLineOfSmallSourcesIsBusy: when the line is full of sources with
// one check each, nobody is turned away for a newcomer, who is told the
// gateway is busy; a turned-away check's attempt goes back to its source.
func TestFullLineOfSmallSourcesIsBusy(t *testing.T) {
	g, _ := testGate(Limits{Attempts: 3, CPUShare: 1, QueuePerSource: 8, Queue: 3, Wait: time.Hour})
	release := make(chan struct{})
	running := make(chan struct{})
	go g.run(context.Background(), "a", func() { close(running); <-release })
	<-running
	order := make(chan string, 8)
	errs := make(chan error, 8)
	queueUp(t, g, "a", 2, order, errs)
	queueUp(t, g, "b", 1, order, errs)
	// The line is full; c has none in line, a has 2: a's newest check
	// makes room for c.
	goRun(g, "c", order, errs)
	if err := <-errs; !errors.Is(err, ErrBusy) {
		t.Fatalf("a's check turned away: %v, want ErrBusy", err)
	}
	eventually(t, "c in line", func() bool { return g.queuedNow() == 3 })
	g.mu.Lock()
	tokens := g.sources["a"].tokens
	g.mu.Unlock()
	if tokens != 1 {
		t.Fatalf("a's budget after one of its three checks was turned away: %v, want 1 (two taken)", tokens)
	}
	// Now a, b and c have one each: d is busy.
	if _, err := g.run(context.Background(), "d", func() {}); !errors.Is(err, ErrBusy) {
		t.Fatalf("d with a full line of single checks: %v, want ErrBusy", err)
	}
	close(release)
	for range 3 {
		<-order
	}
}

// TestLateSourceWaitsOneHash: a source arriving while a flooding source
// has been served many times goes next, not after the flood's line.
func TestLateSourceWaitsOneHash(t *testing.T) {
	g, _ := testGate(Limits{Attempts: 1000, CPUShare: 1, QueuePerSource: 8, Wait: time.Hour})
	order := make(chan string, 64)
	errs := make(chan error, 64)
	release := make(chan struct{}, 64)
	var wg sync.WaitGroup
	flood := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.run(context.Background(), "flood", func() { order <- "flood"; <-release })
			if err != nil {
				errs <- err
			}
		}()
	}
	flood()
	eventually(t, "flood hashing", func() bool { return len(order) == 1 })
	<-order
	for range 8 {
		before := g.queuedNow()
		flood()
		eventually(t, "flood in line", func() bool { return g.queuedNow() == before+1 })
	}
	// Twenty flood hashes go by, the flood topping its line up each time.
	for range 20 {
		release <- struct{}{}
		<-order
		before := g.queuedNow()
		flood()
		eventually(t, "flood in line", func() bool { return g.queuedNow() == before+1 })
	}
	queueUp(t, g, "user", 1, order, errs)
	release <- struct{}{}
	if got := <-order; got != "user" {
		t.Fatalf("after the running hash, %s hashed; want the user", got)
	}
	for range 9 {
		release <- struct{}{}
	}
	wg.Wait()
}

// TestCPUBurstThenCeiling: checks run at once while the burst allowance
// lasts, then at CPUShare of the machine; a lone check after a quiet spell
// never waits.
func TestCPUBurstThenCeiling(t *testing.T) {
	g, clock := testGate(Limits{Attempts: 1000, CPUShare: 0.25, CPUBurst: 2 * time.Second, Wait: time.Hour})
	hash := func() { clock.Advance(time.Second) }
	// 2 s of burst, and a quarter second back per second of hashing:
	// three 1 s hashes run at once and leave the bucket half a second short.
	for i := range 3 {
		if _, err := g.run(context.Background(), fmt.Sprint("u", i), hash); err != nil || g.queuedNow() != 0 {
			t.Fatal(err)
		}
	}
	// The next check waits until it is refilled: 2 s at a 25 % share.
	done := make(chan error, 1)
	go func() {
		_, err := g.run(context.Background(), "u3", hash)
		done <- err
	}()
	eventually(t, "fourth check in line", func() bool { return g.queuedNow() == 1 })
	clock.Advance(1900 * time.Millisecond)
	time.Sleep(10 * time.Millisecond) // a wrongly woken check would run now
	select {
	case err := <-done:
		t.Fatalf("ran after 1.9 s: %v", err)
	default:
	}
	clock.Advance(200 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// After a quiet spell the burst is back and a check runs at once.
	clock.Advance(time.Hour)
	for i := range 2 {
		if _, err := g.run(context.Background(), "later", hash); err != nil || g.queuedNow() != 0 {
			t.Fatalf("check %d after a quiet hour: %v", i, err)
		}
	}
}

// TestWaitGivesUp: a check that waited Wait in line, or whose client left,
// is not hashed, and its attempt goes back to the source.
func TestWaitGivesUp(t *testing.T) {
	g, clock := testGate(Limits{Attempts: 1, Per: time.Hour, CPUShare: 1, Wait: 10 * time.Second})
	release := make(chan struct{})
	running := make(chan struct{})
	go g.run(context.Background(), "other", func() { close(running); <-release })
	<-running
	done := make(chan error, 1)
	go func() {
		_, err := g.run(context.Background(), "a", func() { t.Error("hashed after giving up") })
		done <- err
	}()
	eventually(t, "in line", func() bool { return g.queuedNow() == 1 })
	clock.Advance(10 * time.Second)
	if err := <-done; !errors.Is(err, ErrBusy) {
		t.Fatalf("after waiting: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := g.run(ctx, "a", func() { t.Error("hashed after the client left") })
		done <- err
	}()
	eventually(t, "in line again (the attempt came back)", func() bool { return g.queuedNow() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client left: %v", err)
	}
	close(release)
	eventually(t, "slot free", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.busy == 0 })
	if _, err := g.run(context.Background(), "a", func() {}); err != nil {
		t.Fatalf("the attempts were not given back: %v", err)
	}
}

// TestNewLimitsClampBudgets: the budgets carry over a reconfiguration
// (Caddy's config reload keeps the gate), but never above the new limit.
func TestNewLimitsClampBudgets(t *testing.T) {
	g, _ := testGate(Limits{Attempts: 1000, CPUShare: 1})
	for range 3 {
		if _, err := g.run(context.Background(), "a", func() {}); err != nil {
			t.Fatal(err)
		}
	}
	g.configure(Limits{Attempts: 2, Per: time.Hour, CPUShare: 1, RefusalDelay: -1}, 1)
	for i, want := range []error{nil, nil, ErrTooManyAttempts} {
		if _, err := g.run(context.Background(), "a", func() {}); !errors.Is(err, want) {
			t.Fatalf("attempt %d under the new limit: %v, want %v", i+1, err, want)
		}
	}
}
