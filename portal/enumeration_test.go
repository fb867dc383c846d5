package portal

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
)

// writeLog is a store that notes every write the password step makes.
type writeLog struct {
	store.Store
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) note(s string) {
	w.mu.Lock()
	w.writes = append(w.writes, s)
	w.mu.Unlock()
}

func (w *writeLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.writes
	w.writes = nil
	return s
}

func (w *writeLog) TakeAttempt(ctx context.Context, user, counter string, now time.Time, wait store.Backoff) (store.Attempt, error) {
	w.note("take attempt")
	return w.Store.TakeAttempt(ctx, user, counter, now, wait)
}

func (w *writeLog) RecordSignInEvent(ctx context.Context, e store.SignInEvent) error {
	w.note("record " + e.Outcome)
	return w.Store.RecordSignInEvent(ctx, e)
}

// TestWrongPasswordCostsTheSameForAnyName: a wrong password makes the same
// store writes whether the name exists or not, up to and past the lockout
// threshold. A write for real accounts only (Recent activity's) took a few
// milliseconds that told existing names apart by timing alone.
func TestWrongPasswordCostsTheSameForAnyName(t *testing.T) {
	var log *writeLog
	e := newEnv(t, func(c *Config) {
		log = &writeLog{Store: c.Store}
		c.Store = log
	})
	b := e.browser()
	for i := range 7 { // past the lockout threshold (5)
		var seen [2][]string
		for j, name := range []string{"alice", "nobody-here"} {
			if r := b.login(name, "wrong"); r.status != http.StatusUnauthorized {
				t.Fatalf("%s: status %d", name, r.status)
			}
			seen[j] = log.take()
		}
		if !slices.Equal(seen[0], seen[1]) {
			t.Fatalf("wrong password #%d: alice's store writes %q, an unknown name's %q", i+1, seen[0], seen[1])
		}
		if len(seen[0]) < 2 {
			t.Fatalf("wrong password #%d wrote only %q", i+1, seen[0])
		}
		e.clock.Add(time.Hour) // past the back-off
	}
	// Alice sees her failed passwords; nothing is kept under the name
	// typed for nobody.
	b.register("alice")
	if r := b.get(sip); !strings.Contains(r.body, "Failed: wrong password, code or pass") {
		t.Errorf("Security info does not show alice's failed passwords:\n%s", r.body)
	}
	if ev, _ := e.st.RecentSignInEvents(context.Background(), "nobody-here", 1); len(ev) > 0 {
		t.Errorf("events kept under a name that does not exist: %+v", ev)
	}
}
