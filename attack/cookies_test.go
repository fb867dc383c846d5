package attack

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// app requests the protected app with exactly the given cookie header, as
// an API client (a refused session gets 401, never a redirect loop).
func app(t *testing.T, host, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/app", nil)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Accept", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestCookieTampering signs in, then replays the session cookie altered
// in every way an attacker could: each is refused, the original works.
func TestCookieTampering(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, `session {
			lifetime 3s
		}`)
	c := newClient(t)
	c.register("alice")
	good := c.cookie("stepgate")
	if app(t, "", "stepgate="+good) != http.StatusOK {
		t.Fatal("the real cookie does not work")
	}
	var bad []string
	raw, _ := base64.URLEncoding.DecodeString(good)
	for i := 0; i < len(good); i += max(1, len(good)/40) { // ~40 byte flips
		b := []byte(good)
		b[i] ^= 0x01
		bad = append(bad, string(b))
	}
	for _, n := range []int{1, 10, len(good) / 2, len(good) - 1} {
		bad = append(bad, good[:len(good)-n])
	}
	if parts := strings.Split(string(raw), "|"); len(parts) == 3 {
		// securecookie's date|value|mac, fields swapped.
		for _, p := range [][3]int{{1, 0, 2}, {0, 2, 1}, {2, 1, 0}} {
			bad = append(bad, base64.URLEncoding.EncodeToString([]byte(parts[p[0]]+"|"+parts[p[1]]+"|"+parts[p[2]])))
		}
	}
	bad = append(bad, "", "x", strings.Repeat("A", 4096), good+good)
	for _, v := range bad {
		if status := app(t, "", "stepgate="+v); status != http.StatusUnauthorized {
			t.Errorf("tampered cookie %.40q…: %d", v, status)
		}
	}
	// The pending cookie (password only) is no session, under either name.
	p := newClient(t)
	p.login("bob", password_)
	pending := p.cookie("stepgate-pending")
	if pending == "" {
		t.Fatal("no pending cookie")
	}
	for _, ck := range []string{"stepgate=" + pending, "stepgate-pending=" + pending} {
		if status := app(t, "", ck); status != http.StatusUnauthorized {
			t.Errorf("pending cookie as %s: %d", strings.Split(ck, "=")[0], status)
		}
	}
	// A cookie for localhost on the other host name of the same site.
	if status := app(t, "127.0.0.1:9280", "stepgate="+good); status != http.StatusUnauthorized {
		t.Errorf("cookie from localhost on 127.0.0.1: %d", status)
	}
	// A cookie made with another secret: restart with a new one.
	g.cfg = strings.Replace(g.cfg, secret, "another-secret-for-the-attack-suite-000", 1)
	g.restart()
	if status := app(t, "", "stepgate="+good); status != http.StatusUnauthorized {
		t.Errorf("cookie from the old secret: %d", status)
	}
	g.cfg = strings.Replace(g.cfg, "another-secret-for-the-attack-suite-000", secret, 1)
	g.restart()
	// Expired: the session lasts 3 s.
	time.Sleep(3500 * time.Millisecond)
	if status := app(t, "", "stepgate="+good); status != http.StatusUnauthorized {
		t.Errorf("expired cookie: %d", status)
	}
	t.Logf("%d tampered cookies, pending-as-session, other host, other secret, expired", len(bad))
}

// TestCookieReplayAfterSignOut copies the session cookie, signs out, and
// replays the copy, also after a restart (the revocation is in the store).
func TestCookieReplayAfterSignOut(t *testing.T) {
	g := start(t, []string{"alice"}, "")
	c := newClient(t)
	c.register("alice")
	stolen := c.cookie("stepgate")
	if r := c.post("/.stepgate/logout", "/.stepgate/logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("sign out: %d", r.status)
	}
	if status := app(t, "", "stepgate="+stolen); status != http.StatusUnauthorized {
		t.Fatalf("cookie after sign-out: %d", status)
	}
	g.restart()
	time.Sleep(100 * time.Millisecond) // the revocation list loads at start
	if status := app(t, "", "stepgate="+stolen); status != http.StatusUnauthorized {
		t.Fatalf("cookie after sign-out and a restart: %d", status)
	}
}

// TestSessionFixation plants a session cookie (an attacker's own valid one,
// or garbage) before the victim signs in: the sign-in replaces it, and the
// planted value never becomes the victim's session.
func TestSessionFixation(t *testing.T) {
	start(t, []string{"alice", "mallory"}, "")
	attacker := newClient(t)
	attacker.register("mallory")
	planted := attacker.cookie("stepgate")
	victim := newClient(t)
	u, _ := url.Parse(base)
	victim.c.Jar.SetCookies(u, []*http.Cookie{{Name: "stepgate", Value: planted, Path: "/"}})
	victim.register("alice")
	if got := victim.cookie("stepgate"); got == planted || got == "" {
		t.Fatal("the planted cookie survived the sign-in")
	}
	r := victim.get("/app")
	if !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatalf("victim's session: %s", r.body)
	}
	// And the planted cookie is still only mallory's.
	req, _ := http.NewRequest("GET", base+"/app", nil)
	req.Header.Set("Cookie", "stepgate="+planted)
	res, _ := http.DefaultClient.Do(req)
	body := make([]byte, 4096)
	n, _ := res.Body.Read(body)
	res.Body.Close()
	if !strings.Contains(string(body[:n]), "Remote-User: mallory") {
		t.Fatalf("planted cookie: %s", body[:n])
	}
}
