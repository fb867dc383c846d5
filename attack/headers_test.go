package attack

import (
	"net/http"
	"strings"
	"testing"
)

// spoofed returns identity header names in the spellings an attacker
// would try: as documented, lower and upper case, and with _ or . for -.
func spoofed() []string {
	var out []string
	for _, h := range []string{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name", "X-Remote-User", "X-Forwarded-User", "X-Authenticated-User"} {
		out = append(out, h, strings.ToLower(h), strings.ToUpper(h),
			strings.ReplaceAll(h, "-", "_"), strings.ReplaceAll(h, "-", "."))
	}
	return out
}

// TestIdentityHeaderSpoofing sends every spelling, once and duplicated,
// with and without a session, and as an API client: no spoofed value ever
// reaches the app, and with a session the app sees the real user once.
func TestIdentityHeaderSpoofing(t *testing.T) {
	start(t, []string{"alice"}, "")
	signedIn := newClient(t)
	signedIn.register("alice")
	anonymous := newClient(t)
	tried := 0
	for _, name := range spoofed() {
		for _, values := range [][]string{{"mallory"}, {"mallory", "admins"}} {
			for _, c := range []*client{signedIn, anonymous} {
				for _, accept := range []string{"text/html", "application/json"} {
					req, _ := http.NewRequest("GET", base+"/app", nil)
					req.Header.Set("Accept", accept)
					req.Header[name] = values // the raw spelling, not canonicalised
					_, got := c.send(req, 8192)
					tried++
					if strings.Contains(got, "mallory") || strings.Contains(got, "admins") {
						t.Errorf("%s: %v reached the app:\n%s", name, values, got)
					}
					if c == anonymous && strings.HasPrefix(got, "BACKEND") {
						t.Errorf("%s: an anonymous request reached the app", name)
					}
					if c == signedIn && strings.Count(got, "Remote-User: alice") != 1 {
						t.Errorf("%s: the app did not see alice exactly once:\n%s", name, got)
					}
				}
			}
		}
	}
	t.Logf("%d spoofing requests", tried)
}

// TestForwardedHeaderTricks forges Host and X-Forwarded-* from a client
// that is not a trusted proxy: redirects stay on the configured site, the
// log records the real client address.
func TestForwardedHeaderTricks(t *testing.T) {
	g := start(t, []string{"alice"}, "")
	c := newClient(t)
	forged := map[string]string{"X-Forwarded-Host": "evil.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9;host=evil.com;proto=https"}
	r := c.do("GET", "/app", nil, forged)
	if r.status != http.StatusFound || strings.Contains(r.location, "evil") || !strings.HasPrefix(r.location, "/.stepgate/") {
		t.Fatalf("redirect with forged forwarding headers: %d %q", r.status, r.location)
	}
	// A Host that is no site here gets nothing from the app.
	if r := c.do("GET", "/app", nil, map[string]string{"Host": "evil.com"}); strings.HasPrefix(r.body, "BACKEND") || strings.Contains(r.location, "evil") {
		t.Fatalf("forged Host: %d %q %q", r.status, r.location, r.body)
	}
	// The sign-in page's links and cookies do not follow the forged host.
	page := c.do("GET", "/.stepgate/", nil, forged)
	if strings.Contains(page.body, "evil.com") {
		t.Fatal("the sign-in page mentions the forged host")
	}
	for _, ck := range page.header.Values("Set-Cookie") {
		if strings.Contains(strings.ToLower(ck), "domain=") {
			t.Errorf("cookie with a domain: %s", ck)
		}
	}
	// The audit log has the connection's address, not the forged one.
	form := "username=alice&password=wrong&csrf=" + c.csrf("/.stepgate/")
	hdr := map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9"}
	c.do("POST", "/.stepgate/", strings.NewReader(form), hdr)
	lines := g.logLines(`"event":"sign-in"`, `"outcome":"failure"`)
	if len(lines) != 1 || !strings.Contains(lines[0], `"client_ip":"127.0.0.1"`) || strings.Contains(lines[0], "203.0.113.9") {
		t.Fatalf("audit log: %v", lines)
	}
}

// TestSessionCookieKeptFromApp: a signed-in browser's request reaches the
// app with the app's own cookies unchanged and none of Stepgate's (session,
// pending, CSRF), so neither the app nor its logs can replay a session;
// the session still works for the browser afterwards.
func TestSessionCookieKeptFromApp(t *testing.T) {
	start(t, []string{"alice"}, "")
	c := newClient(t)
	c.register("alice")
	session := c.cookie("stepgate")
	if session == "" {
		t.Fatal("no session cookie after sign-in")
	}
	c.get("/.stepgate/") // a CSRF cookie too
	for _, cookies := range []string{"", "theme=dark; lang=\"en GB\""} {
		req, _ := http.NewRequest("GET", base+"/app", nil)
		req.Header.Set("Accept", "text/html")
		if cookies != "" {
			req.Header.Set("Cookie", cookies) // the jar adds Stepgate's after these
		}
		status, got := c.send(req, 8192)
		if !strings.HasPrefix(got, "BACKEND") || !strings.Contains(got, "Remote-User: alice") {
			t.Fatalf("signed-in request did not reach the app: %d\n%s", status, got)
		}
		if strings.Contains(got, "stepgate") || strings.Contains(got, session) {
			t.Errorf("a Stepgate cookie reached the app:\n%s", got)
		}
		if cookies == "" && strings.Contains(got, "Cookie:") {
			t.Errorf("an empty Cookie header reached the app:\n%s", got)
		}
		if cookies != "" && !strings.Contains(got, "\nCookie: "+cookies+"\n") {
			t.Errorf("the app's own cookies changed:\n%s", got)
		}
	}
}
