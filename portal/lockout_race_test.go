package portal

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// burst posts form to path from each browser at the same instant, n posts
// in all spread over the browsers, and counts the answers by status.
func burst(t *testing.T, browsers []*browser, path string, n int, form func(i int) url.Values) map[int]int {
	t.Helper()
	tokens := make([]string, len(browsers))
	for i, b := range browsers {
		page := b.get(path)
		m := csrfRe.FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("no form at %s: %d %s", path, page.status, page.body)
		}
		tokens[i] = m[1]
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := browsers[i%len(browsers)]
			f := form(i)
			f.Set("csrf", tokens[i%len(browsers)])
			<-start
			s := b.postRaw(path, f, nil).status
			mu.Lock()
			statuses[s]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

// checked counts the guesses the portals actually checked and found wrong.
func checked(envs ...*env) int {
	n := 0
	for _, e := range envs {
		n += len(e.events("sign-in", "failure"))
	}
	return n
}

// TestParallelWrongPasswordsCheckOnlyThreshold: 300 wrong passwords for one
// account at the same instant, over two portal instances on one store,
// check no more than the lockout threshold; the rest are refused as locked
// before any hashing.
func TestParallelWrongPasswordsCheckOnlyThreshold(t *testing.T) {
	e := newEnv(t)
	e2 := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now = e.clock.Now })
	var browsers []*browser
	for range 3 {
		browsers = append(browsers, e.browser(), e2.browser())
	}
	got := burst(t, browsers, Prefix, 300, func(int) url.Values {
		return url.Values{"username": {"alice"}, "password": {"wrong"}}
	})
	threshold := e.p.cfg.Lockout.Threshold
	if n := checked(e, e2); n > threshold || got[http.StatusUnauthorized] != n {
		t.Fatalf("%d wrong passwords checked (answers %v), want at most %d", n, got, threshold)
	}
	if got[http.StatusTooManyRequests] < 300-threshold {
		t.Fatalf("answers %v: want at least %d refused as locked", got, 300-threshold)
	}
	if f, _ := e.st.Failures(t.Context(), "alice", "password"); f.Count > threshold {
		t.Fatalf("failure counter %d after the burst, want at most %d", f.Count, threshold)
	}
	// The right password is refused until the back-off is over.
	if r := e.browser().login("alice", testPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("right password during back-off: %d", r.status)
	}
}

// TestParallelWrongCodesCheckOnlyThreshold: 300 wrong app codes at the same
// instant, from three sign-ins that passed the password on two portal
// instances sharing one store, check no more than the threshold; then a
// hard limit holds however the attempts are spread over time.
func TestParallelWrongCodesCheckOnlyThreshold(t *testing.T) {
	lo := Lockout{Threshold: 3, BaseDelay: time.Minute, MaxDelay: 4 * time.Minute, HardLimit: 8}
	e := newEnv(t, func(c *Config) { c.Lockout = lo })
	e.browser().register("alice")
	e2 := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now, c.Lockout = e.clock.Now, lo })
	var browsers []*browser
	for _, env := range []*env{e, e2, e} {
		b := env.browser()
		if r := b.login("alice", testPassword); r.status != http.StatusSeeOther {
			t.Fatalf("login: %d", r.status)
		}
		browsers = append(browsers, b)
	}
	wrong := func(int) url.Values { return url.Values{"code": {"000000"}} }
	got := burst(t, browsers, Prefix+"verify", 300, wrong)
	if n := checked(e, e2); n > lo.Threshold || got[http.StatusUnauthorized] != n {
		t.Fatalf("%d wrong codes checked (answers %v), want at most %d", n, got, lo.Threshold)
	}
	// Each back-off period lets exactly one more guess through, until the
	// hard limit locks the account for good. (A sign-in lasts ten minutes,
	// so each round starts a new one.)
	for range 2 * lo.HardLimit {
		e.clock.Add(lo.MaxDelay)
		b := browsers[0]
		if r := b.login("alice", testPassword); r.status != http.StatusSeeOther {
			t.Fatalf("login: %d", r.status)
		}
		burst(t, browsers[:1], Prefix+"verify", 30, wrong)
	}
	if n := checked(e, e2); n != lo.HardLimit {
		t.Fatalf("%d wrong codes checked in all, want exactly the hard limit %d", n, lo.HardLimit)
	}
}
