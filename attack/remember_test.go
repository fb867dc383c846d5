package attack

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const rememberDevice = `session {
			remember_device 30d
		}`

// rememberBrowser signs user in for the first time on c and answers
// "Yes" to "Don't ask again on this device"; it returns the device cookie.
func (c *client) rememberBrowser(user string) string {
	c.t.Helper()
	c.register(user)
	return c.rememberThis()
}

// rememberThis answers "Yes" to "Don't ask again on this device" (and to
// "Stay signed in?" where it is offered too) right after c's sign-in; it
// returns the device cookie.
func (c *client) rememberThis() string {
	c.t.Helper()
	r := c.post("/.stepgate/stay-signed-in?rd=%2F", "/.stepgate/stay-signed-in", url.Values{"device": {"yes"}, "stay": {"yes"}, "rd": {"/"}})
	if r.status != http.StatusSeeOther || c.cookie("stepgate-device") == "" {
		c.t.Fatalf("remembering the browser: %d %q", r.status, r.location)
	}
	return c.cookie("stepgate-device")
}

// rememberedIDRe finds the first remembered browser's ID in Security
// info's Forget form.
var rememberedIDRe = regexp.MustCompile(`forget-device" class="inline action">\s*<input type="hidden" name="csrf" value="[^"]*">\s*<input type="hidden" name="id" value="([^"]+)"`)

// skips reports whether the password alone signs user in on a fresh
// client holding device (a device cookie value, or "").
func skips(t *testing.T, user, device string) bool {
	t.Helper()
	c := newClient(t)
	if device != "" {
		u, _ := url.Parse(base)
		c.c.Jar.SetCookies(u, []*http.Cookie{{Name: "stepgate-device", Value: device, Path: "/"}})
	}
	r := c.login(user, password_)
	switch r.location {
	case "/":
		return true
	case "/.stepgate/verify":
		return false
	}
	t.Fatalf("password step for %s: %d %q", user, r.status, r.location)
	return false
}

// TestRememberedBrowserCookie: a remembered browser's cookie skips the
// second step for its user only. Carried to another account, altered, or
// replayed after the user signed out everywhere (also after a restart),
// it asks for the second step; the app never sees it.
func TestRememberedBrowserCookie(t *testing.T) {
	g := start(t, []string{"alice", "mallory"}, rememberDevice)
	alice := newClient(t)
	stolen := alice.rememberBrowser("alice")
	newClient(t).register("mallory")

	if !skips(t, "alice", stolen) {
		t.Fatal("the remembered browser's cookie did not skip alice's second step")
	}
	if r := alice.get("/app"); strings.Contains(r.body, "stepgate-device") {
		t.Fatalf("the app received the device cookie:\n%s", r.body)
	}
	if skips(t, "mallory", stolen) {
		t.Fatal("alice's device cookie skipped mallory's second step")
	}
	for _, forged := range []string{stolen[:len(stolen)-4] + "AAAA", "x", strings.Repeat("A", 300), ""} {
		if skips(t, "alice", forged) {
			t.Fatalf("a forged device cookie %q skipped the second step", forged)
		}
	}
	if r := alice.post("/.stepgate/security-info", "/.stepgate/security-info/sign-out-others", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out everywhere else: %d %s", r.status, r.body)
	}
	if skips(t, "alice", stolen) {
		t.Fatal("the device cookie still skips the second step after sign-out everywhere")
	}
	g.restart()
	if skips(t, "alice", stolen) {
		t.Fatal("the device cookie skips the second step after a restart")
	}
}

// TestRememberedBrowsersBounded: 30 parallel answers to the offer from
// one session, none holding the device cookie yet, remember one browser:
// a session cannot push the user's real browsers out of the list.
func TestRememberedBrowsersBounded(t *testing.T) {
	start(t, []string{"alice"}, rememberDevice)
	c := newClient(t)
	c.register("alice")
	token := c.csrf("/.stepgate/stay-signed-in?rd=%2F")
	var cookies []*http.Cookie
	u, _ := url.Parse(base)
	for _, k := range c.c.Jar.Cookies(u) {
		if k.Name != "stepgate-device" {
			cookies = append(cookies, k)
		}
	}
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"device": {"yes"}, "rd": {"/"}, "csrf": {token}}
			req, _ := http.NewRequest("POST", base+"/.stepgate/stay-signed-in", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
			for _, k := range cookies {
				req.AddCookie(k)
			}
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
		}()
	}
	wg.Wait()
	page := c.get("/.stepgate/security-info").body
	if n := strings.Count(page, ">Forget</button>"); n != 1 {
		t.Fatalf("%d remembered browsers listed, want 1", n)
	}
}
