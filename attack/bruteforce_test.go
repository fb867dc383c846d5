package attack

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
)

// countStatuses tallies statuses.
type tally map[int]int

func (t tally) String() string { return fmt.Sprint(map[int]int(t)) }

// TestBruteForcePasswords tries 200 wrong passwords, each in a new sign-in
// flow: the account locks after a handful, stays locked across a restart,
// and another account is not affected.
func TestBruteForcePasswords(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "")
	seen := tally{}
	counted := 0
	for i := range 200 {
		r := newClient(t).login("alice", fmt.Sprintf("guess-%d", i))
		seen[r.status]++
		if r.status == http.StatusUnauthorized {
			counted++
		}
	}
	if counted > 10 || seen[http.StatusTooManyRequests] < 190 {
		t.Fatalf("200 wrong passwords: %v (%d checked before the lock)", seen, counted)
	}
	// Even the right password is refused while locked.
	if r := newClient(t).login("alice", password_); r.status != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d", r.status)
	}
	g.restart()
	if r := newClient(t).login("alice", password_); r.status != http.StatusTooManyRequests {
		t.Fatalf("after a restart: %d", r.status)
	}
	if r := newClient(t).login("bob", password_); r.status != http.StatusSeeOther {
		t.Fatalf("another account: %d", r.status)
	}
	t.Logf("200 wrong passwords: %v", seen)
}

// TestBruteForceAppCodes tries 200 wrong authenticator codes, starting a
// new sign-in (with the right password) every 5 tries: the code step locks
// and stays locked across new flows and a restart.
func TestBruteForceAppCodes(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "")
	s := newClient(t).register("alice")
	newClient(t).register("bob")
	seen := tally{}
	var c *client
	for i := range 200 {
		if i%5 == 0 {
			c = newClient(t)
			if r := c.login("alice", password_); r.location != "/.stepgate/verify" {
				t.Fatalf("password step: %d %q", r.status, r.location)
			}
		}
		wrong := fmt.Sprintf("%06d", i)
		if wrong == code(t, s, time.Now()) {
			continue
		}
		r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {wrong}})
		seen[r.status]++
	}
	if seen[http.StatusUnauthorized] > 10 || seen[http.StatusTooManyRequests] < 185 {
		t.Fatalf("200 wrong codes: %v", seen)
	}
	g.restart()
	c = newClient(t)
	c.login("alice", password_)
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, s, time.Now().Add(30*time.Second))}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("right code while locked, after a restart: %d", r.status)
	}
	t.Logf("200 wrong app codes: %v", seen)
}

// TestBruteForceTextCodes guesses texted codes, asking for a new code
// every 3 guesses: guesses across resends count toward one lockout.
func TestBruteForceTextCodes(t *testing.T) {
	g := start(t, []string{"alice"}, `sms outbox
		send_limits {
			cooldown 1ms
			per_user 1000
			per_number 1000
			per_ip 1000
		}`)
	st, err := store.OpenSQLite(g.db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetPhone(context.Background(), "alice", "+14155552671")
	st.Close()
	c := newClient(t)
	if r := c.login("alice", password_); r.location != "/.stepgate/verify" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	seen := tally{}
	for i := range 60 {
		if i%3 == 0 {
			c.post("/.stepgate/verify", "/.stepgate/verify/method", url.Values{"method": {"sms"}})
		}
		r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {fmt.Sprintf("%06d", 999000+i)}})
		seen[r.status]++
	}
	if seen[http.StatusUnauthorized] > 10 || seen[http.StatusTooManyRequests] < 50 {
		t.Fatalf("60 wrong text codes across 20 resends: %v", seen)
	}
	t.Logf("60 wrong text codes across 20 resends: %v", seen)
}
