package portal

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/verifiers/password"
)

// fromNetwork makes the portal take the client address from X-Test-Client
// (as Caddy's client_ip would from a trusted proxy).
func fromNetwork(c *Config) {
	c.ClientIP = func(r *http.Request) string {
		if ip := r.Header.Get("X-Test-Client"); ip != "" {
			return ip
		}
		return remoteIP(r)
	}
}

// loginFrom runs the password step as a client at ip.
func (b *browser) loginFrom(ip, user, pw string) resp {
	b.t.Helper()
	m := csrfRe.FindStringSubmatch(b.get(Prefix).body)
	if m == nil {
		b.t.Fatal("no CSRF token on the sign-in page")
	}
	return b.postRaw(Prefix, url.Values{"username": {user}, "password": {pw}, "csrf": {m[1]}}, http.Header{"X-Test-Client": {ip}})
}

// TestOverBudgetNetworkCannotLockOthersOut: a network that used its budget
// of failed attempts is refused before the account's failure counter is
// touched, so its refused requests neither lock the account while they
// are held nor restart the account's back-off.
func TestOverBudgetNetworkCannotLockOthersOut(t *testing.T) {
	e := newEnv(t, fromNetwork)
	e.cfg.Users.(*password.Directory).SetLimits(password.Limits{CPUShare: 1, Attempts: 3, Per: time.Hour, RefusalDelay: 500 * time.Millisecond})
	b := e.browser()
	for i := range 3 {
		if r := b.loginFrom("192.0.2.1", "alice", "wrong"); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d from the attacker's network: %d", i+1, r.status)
		}
	}
	// 20 more at once from that network are held and refused; while they
	// are held, alice signs in from her own network.
	var wg sync.WaitGroup
	refused := make([]int, 20)
	for i := range refused {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refused[i] = e.browser().loginFrom("192.0.2.1", "alice", "wrong").status
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if r := e.browser().loginFrom("198.51.100.7", "alice", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("alice from her network while the attacker's requests are held: %d, want 303", r.status)
	}
	wg.Wait()
	for i, s := range refused {
		if s != http.StatusTooManyRequests {
			t.Fatalf("request %d from the network over its budget: %d, want 429", i, s)
		}
	}

	// Alice's account at the lockout threshold, from two other networks;
	// the back-off ends; a request from the network over its budget must
	// not start it again.
	for i := range 5 {
		if r := b.loginFrom("203.0.113."+string(rune('1'+i%2)), "alice", "wrong"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.status)
		}
	}
	e.clock.Add(61 * time.Second)
	if r := b.loginFrom("192.0.2.1", "alice", "wrong"); r.status != http.StatusTooManyRequests {
		t.Fatalf("network over its budget: %d", r.status)
	}
	if r := e.browser().loginFrom("198.51.100.7", "alice", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("alice after her back-off, following a refused request: %d, want 303", r.status)
	}
}
