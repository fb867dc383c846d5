package attack

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fromAddr makes c connect from the local address ip (any 127.x address
// works on loopback), as a person on another network would.
func (c *client) fromAddr(ip string) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c.c.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// TestPasswordFloodFromOneNetwork: one address posts 30 wrong passwords
// for made-up names (a password spray, which no account lockout stops).
// The first 20 are checked; the rest are refused before any hashing with
// 429 "Too many sign-in attempts from your network", Retry-After and an
// audit entry, without counting against any account (no lockout from
// someone else's flood). People on other addresses sign in as usual.
func TestPasswordFloodFromOneNetwork(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "password_attempts 20 per 1h") // one back every 3 min: none during the test
	seen := tally{}
	var refusal response
	for i := range 30 {
		r := newClient(t).login(fmt.Sprintf("spray%d", i), "Winter2026!")
		seen[r.status]++
		if r.status == http.StatusTooManyRequests {
			refusal = r
		}
	}
	if seen[http.StatusUnauthorized] != 20 || seen[http.StatusTooManyRequests] != 10 {
		t.Fatalf("30 sprayed passwords from one address: %v, want 20×401 then 10×429", seen)
	}
	if !strings.Contains(refusal.body, "Too many sign-in attempts from your network. Try again in ") || refusal.header.Get("Retry-After") == "" {
		t.Fatalf("refusal without the clear message or Retry-After: %v\n%s", refusal.header, refusal.body)
	}
	if n := len(g.logLines(`"outcome":"source-limited"`)); n != 10 {
		t.Fatalf("%d refusals audited, want 10", n)
	}
	// Another network is not affected: alice signs in from 127.0.0.2.
	if r := newClient(t).fromAddr("127.0.0.2").login("alice", password_); r.status != http.StatusSeeOther {
		t.Fatalf("alice from another address during the flood: %d", r.status)
	}
	// Refused attempts are not account failures: six wrong passwords for
	// bob from the flooding address (a lockout threshold's worth) are all
	// refused, and bob, elsewhere, is not locked out.
	for i := range 6 {
		if r := newClient(t).login("bob", fmt.Sprintf("guess-%d", i)); r.status != http.StatusTooManyRequests {
			t.Fatalf("wrong password %d for bob from the flooding address: %d, want 429", i, r.status)
		}
	}
	if r := newClient(t).fromAddr("127.0.0.3").login("bob", password_); r.status != http.StatusSeeOther {
		t.Fatalf("bob from another address after the refused guesses: %d, want 303 (not locked)", r.status)
	}
	t.Logf("30 sprayed passwords from one address: %v", seen)
}
