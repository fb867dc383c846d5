package portal

import (
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"
)

func TestSafeReturnURL(t *testing.T) {
	const host = "app.example.com"
	for _, tc := range []struct {
		in, want string
		domain   string
	}{
		{"/reports?q=1#top", "/reports?q=1#top", ""},
		{"/", "/", ""},
		{"https://app.example.com/x", "https://app.example.com/x", ""},
		{"https://APP.example.com:443/x", "https://APP.example.com:443/x", ""},
		{"https://app.example.com:/x", "https://app.example.com:/x", ""},
		{"https://APP.example.com:8443/x", "/", ""},
		{"https://app.example.com:9999/", "/", ""},
		{"https://app.example.com:0443/", "/", ""},
		{"https://app.example.com:80/", "/", ""},
		{"https://wiki.example.com:8443/x", "/", "example.com"},
		{"https://wiki.example.com/x", "/", ""},
		{"https://wiki.example.com/x", "https://wiki.example.com/x", "example.com"},
		{"https://example.com/x", "https://example.com/x", "example.com"},
		{"https://app.example.com.evil.com/", "/", "example.com"},
		{"https://evilexample.com/", "/", "example.com"},
		{"//evil.com", "/", ""},
		{"///evil.com", "/", ""},
		{"/\\evil.com", "/", ""},
		{"\\\\evil.com", "/", ""},
		{"/\tevil.com", "/", ""},
		{"/\n/evil.com", "/", ""},
		{" //evil.com", "/", ""},
		{"https:evil.com", "/", ""},
		{"https:/evil.com", "/", ""},
		{"http://app.example.com/", "/", ""},
		{"javascript:alert(1)", "/", ""},
		{"JaVaScRiPt:alert(1)", "/", ""},
		{"data:text/html,<script>", "/", ""},
		{"https://evil.com@app.example.com/", "/", ""},
		{"https://app.example.com@evil.com/", "/", ""},
		{"https://app.example.com./", "/", ""},
		{"https://app.example.com%2eevil.com/", "/", ""},
		{"https://аpp.example.com/", "/", ""}, // Cyrillic а
		{"reports", "/", ""},
		{"", "/", ""},
		{"/%2f%2fevil.com", "/%2f%2fevil.com", ""},
		{"/" + strings.Repeat("a", 3000), "/", ""},
		{"https://2130706433/", "/", ""},
		{"ftp://app.example.com/", "/", ""},
	} {
		if got := SafeReturnURL(tc.in, host, tc.domain, false); got != tc.want {
			t.Errorf("SafeReturnURL(%q, domain %q) = %q, want %q", tc.in, tc.domain, got, tc.want)
		}
	}
	// Same scheme, host and port as the request, the default port when
	// either leaves it out.
	for _, tc := range []struct {
		in, hostport string
		plainHTTP    bool
		want         string
	}{
		{"http://localhost:8080/x", "localhost:8080", true, "http://localhost:8080/x"},
		{"http://localhost:9999/x", "localhost:8080", true, "/"},
		{"http://localhost/x", "localhost:8080", true, "/"},
		{"http://localhost:80/x", "localhost", true, "http://localhost:80/x"},
		{"http://localhost:8080/x", "localhost", true, "/"},
		{"https://localhost:8080/x", "localhost:8080", true, "/"},
		{"http://[::1]:8080/x", "[::1]:8080", true, "http://[::1]:8080/x"},
		{"http://[::1]:8081/x", "[::1]:8080", true, "/"},
		{"https://app.example.com/x", "app.example.com:443", false, "https://app.example.com/x"},
		{"https://app.example.com/x", "app.example.com:8443", false, "/"},
		{"https://app.example.com:8443/x", "app.example.com:8443", false, "https://app.example.com:8443/x"},
		{"http://app.example.com:8443/x", "app.example.com:8443", false, "/"},
	} {
		if got := SafeReturnURL(tc.in, tc.hostport, "", tc.plainHTTP); got != tc.want {
			t.Errorf("SafeReturnURL(%q, %q, plain HTTP %v) = %q, want %q", tc.in, tc.hostport, tc.plainHTTP, got, tc.want)
		}
	}
}

// FuzzSafeReturnURL checks the one promise that matters: whatever comes
// in, what goes out is either a same-host path or an https URL on the
// allowed host.
func FuzzSafeReturnURL(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//evil.com", "/\\evil.com", "https:evil.com", "%2f%2fevil.com",
		"https://evil.com@app.example.com", "https://app.example.com/x", "/\t/evil.com", "https://wiki.example.com",
		"https://app.example.com:8443/", "https://app.example.com:443/", "https://wiki.example.com:1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := SafeReturnURL(in, "app.example.com", "example.com", false)
		if strings.HasPrefix(out, "/") {
			if strings.HasPrefix(out, "//") || strings.HasPrefix(out, "/\\") {
				t.Fatalf("%q -> %q: scheme-relative", in, out)
			}
			return
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "https" || u.User != nil || !(u.Hostname() == "app.example.com" || inCookieDomain(strings.ToLower(u.Hostname()), "example.com")) {
			t.Fatalf("%q -> %q: off-site", in, out)
		}
		if p := u.Port(); p != "" && p != "443" {
			t.Fatalf("%q -> %q: another port", in, out)
		}
		// What a browser would make of it: resolve against the portal.
		base, _ := url.Parse("https://app.example.com/.stepgate/")
		if h := base.ResolveReference(u).Hostname(); !inCookieDomain(strings.ToLower(h), "example.com") {
			t.Fatalf("%q -> %q resolves to %q", in, out, h)
		}
	})
}

func TestStripIdentityHeaders(t *testing.T) {
	h := http.Header{}
	spoofed := []string{"Remote-User", "remote-user", "REMOTE-USER", "Remote_User", "Remote.User", "remote_groups",
		"Remote-Email", "Remote-Name", "X-Remote-User", "X-Forwarded-User", "X-Authenticated-User", "x_forwarded_user"}
	for _, k := range spoofed {
		h[k] = []string{"admin"} // raw keys, as the server keeps non-canonical ones
	}
	h.Set("Accept", "text/html")
	h.Set("Remote-Addr-Info", "keep")
	h.Set("X-Request-Id", "keep")
	StripIdentityHeaders(h)
	for _, k := range spoofed {
		if _, ok := h[k]; ok {
			t.Errorf("%s survived", k)
		}
	}
	for _, k := range []string{"Accept", "Remote-Addr-Info", "X-Request-Id"} {
		if h.Get(k) == "" {
			t.Errorf("%s was removed", k)
		}
	}
}

func TestSpoofedHeadersNeverReachTheApp(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	req, _ := http.NewRequest("GET", b.base+"/", nil)
	for _, k := range []string{"Remote-User", "remote_user", "Remote.Groups", "X-Forwarded-User", "REMOTE-EMAIL"} {
		req.Header[k] = []string{"root"}
	}
	req.Header.Add("Remote-User", "root2")
	r := b.do(req)
	if r.status != 200 || strings.Contains(r.body, ": root") || !strings.Contains(r.body+"\n", "\nRemote-User: alice\n") {
		t.Fatalf("spoofed headers reached the app:\n%s", r.body)
	}
	// Without a session, nothing reaches the app at all.
	if r := e.rawGet("/", "", map[string]string{"Remote-User": "alice"}); r.status != http.StatusFound || strings.Contains(r.body, "APP") {
		t.Fatalf("spoofed header without session: %d", r.status)
	}
}

func TestNonBrowserGets401JSON(t *testing.T) {
	e := newEnv(t)
	for _, hdr := range []map[string]string{
		{"Accept": "application/json"},
		{"Accept": "*/*"},
		{"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"},
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/items", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 401 || res.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error":"unauthenticated"`) {
			t.Errorf("%v: %d %s %s", hdr, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}
}

func TestBadCookiesAreRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	good := b.cookie(plainNames.session).Value
	pendingBrowser := e.browser()
	pendingBrowser.login("alice", testPassword)
	pendingValue := pendingBrowser.cookie(plainNames.pending).Value

	other := newEnv(t, func(c *Config) { c.Secrets = []string{strings.Repeat("o", 32)}; c.Now = e.clock.Now })
	ob := other.browser()
	ob.register("alice")
	foreign := ob.cookie(plainNames.session).Value

	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 0x01
		return string(b)
	}
	raw, _ := base64.URLEncoding.DecodeString(good)
	parts := strings.Split(string(raw), "|")
	swapped := base64.URLEncoding.EncodeToString([]byte(parts[1] + "|" + parts[0] + "|" + parts[2]))

	for name, cookie := range map[string]string{
		"byte flip start":  plainNames.session + "=" + flip(good, 3),
		"byte flip middle": plainNames.session + "=" + flip(good, len(good)/2),
		// In the decoded bytes (the MAC's last byte): a flip of the last
		// base64 character may touch only padding bits, which decode to
		// the same bytes, the same valid cookie.
		"byte flip end":  plainNames.session + "=" + base64.URLEncoding.EncodeToString([]byte(flip(string(raw), len(raw)-1))),
		"truncated":      plainNames.session + "=" + good[:len(good)-10],
		"swapped fields": plainNames.session + "=" + swapped,
		"empty":          plainNames.session + "=",
		"garbage":        plainNames.session + "=!!!not base64!!!",
		"huge":           plainNames.session + "=" + strings.Repeat("A", 8000),
		"other secret":   plainNames.session + "=" + foreign,
		"pending cookie": plainNames.session + "=" + pendingValue,
		"pending as is":  plainNames.pending + "=" + pendingValue,
	} {
		if r := e.rawGet("/", cookie, nil); r.status != http.StatusFound {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	if r := e.rawGet("/", plainNames.session+"="+good, nil); r.status != 200 {
		t.Fatalf("the good cookie itself: %d", r.status)
	}
	// A cookie issued on one host is refused on another host of the same
	// gateway (no cookie_domain).
	if r := e.rawGet("/", plainNames.session+"="+good, map[string]string{"Host": "127.0.0.2"}); r.status != http.StatusFound {
		t.Errorf("cookie replayed on another host: %d", r.status)
	}
}

func TestHostHeaderForOtherHost(t *testing.T) {
	// The Host header reaches the portal from Caddy; a request is served
	// for the host it names. A session minted for 127.0.0.1 is useless on
	// another name even on the same listener.
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	good := b.cookie(plainNames.session).Value
	req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
	req.Host = "localhost"
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Cookie", plainNames.session+"="+good)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("cookie for 127.0.0.1 accepted for localhost: %d", res.StatusCode)
	}
}

func TestHandMadeSessionTimes(t *testing.T) {
	// A correctly signed cookie is still judged on its contents: issued in
	// the future or too long ago, it is refused.
	e := newEnv(t)
	codec := securecookie.New(e.p.keys[0].cookieHash, e.p.keys[0].cookieBlock)
	codec.SetSerializer(sessionSerializer{})
	now := e.clock.Now().Unix()
	for name, tc := range map[string]struct {
		issued, seen int64
		want         int
	}{
		"fresh":           {now, now, 200},
		"from the future": {now + 3600, now + 3600, http.StatusFound},
		"past lifetime":   {now - 13*3600, now, http.StatusFound},
		"idle too long":   {now - 7200, now - 7200, http.StatusFound},
	} {
		s := session{ID: "0123", User: "alice", Aud: "127.0.0.1", Issued: tc.issued, Seen: tc.seen}
		v, err := codec.Encode(plainNames.session, &s)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.rawGet("/", plainNames.session+"="+v, nil); r.status != tc.want {
			t.Errorf("%s: %d, want %d", name, r.status, tc.want)
		}
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	page := b.get(Prefix)
	token := csrfRe.FindStringSubmatch(page.body)[1]
	form := func(tok string) url.Values {
		return url.Values{"username": {"alice"}, "password": {testPassword}, "csrf": {tok}}
	}
	// A token from another browser (the attacker's own session).
	attacker := e.browser()
	stolen := csrfRe.FindStringSubmatch(attacker.get(Prefix).body)[1]
	for name, tc := range map[string]struct {
		form url.Values
		hdr  http.Header
	}{
		"no token":          {form(""), nil},
		"wrong token":       {form("AAAA"), nil},
		"other's token":     {form(stolen), nil},
		"cross-site fetch":  {form(token), http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		"foreign origin":    {form(token), http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {""}}},
		"same-site sibling": {form(token), http.Header{"Sec-Fetch-Site": {"same-site"}}},
	} {
		r := b.postRaw(Prefix, tc.form, tc.hdr)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "This form has expired") {
			t.Errorf("%s: %d", name, r.status)
		}
	}
	if r := b.postRaw(Prefix, form(token), nil); r.status != http.StatusSeeOther {
		t.Fatalf("the real form: %d %s", r.status, r.body)
	}
	if len(e.events("csrf-rejected", "")) != 6 {
		t.Errorf("CSRF rejections audited: %d", len(e.events("csrf-rejected", "")))
	}
}

func TestOversizedAndMalformedForms(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	token := csrfRe.FindStringSubmatch(b.get(Prefix).body)[1]
	big := url.Values{"username": {strings.Repeat("a", 1<<20)}, "csrf": {token}}
	if r := b.postRaw(Prefix, big, nil); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MB form: %d", r.status)
	}
	req, _ := http.NewRequest("POST", b.base+Prefix, strings.NewReader("%zz=%%%"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := b.do(req); r.status != http.StatusBadRequest {
		t.Fatalf("malformed form: %d", r.status)
	}
	for _, name := range []string{"alice\x00", "ali\xffce", strings.Repeat("x", 500)} {
		r := b.postRaw(Prefix, url.Values{"username": {name}, "password": {"x"}, "csrf": {token}}, nil)
		if r.status != http.StatusUnauthorized {
			t.Errorf("username %q: %d", name[:min(len(name), 10)], r.status)
		}
	}
	// Repeated fields: the first one counts, and it is still a wrong login.
	r := b.postRaw(Prefix, url.Values{"username": {"alice", "bob"}, "password": {"x", testPassword}, "csrf": {token}}, nil)
	if r.status != http.StatusUnauthorized {
		t.Errorf("repeated fields: %d", r.status)
	}
	// Unknown pages and methods get clean answers.
	if r := b.get(Prefix + "nope"); r.status != 404 {
		t.Errorf("unknown page: %d", r.status)
	}
	req, _ = http.NewRequest("DELETE", b.base+Prefix+"verify", nil)
	if r := b.do(req); r.status != 405 {
		t.Errorf("DELETE: %d", r.status)
	}
	// Second-step pages without a pending sign-in start over.
	if r := e.browser().get(Prefix + "verify"); r.status != 200 || !strings.Contains(r.body, "took too long") {
		t.Errorf("verify without pending: %d", r.status)
	}
}

func TestSecurityHeadersOnPortalPages(t *testing.T) {
	e := newEnv(t)
	r := e.browser().get(Prefix)
	for k, want := range map[string]string{
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
	} {
		if !strings.Contains(r.header.Get(k), want) {
			t.Errorf("%s = %q, want %q", k, r.header.Get(k), want)
		}
	}
	if strings.Contains(r.header.Get("Content-Security-Policy"), "unsafe-inline") {
		t.Error("CSP allows inline script or style")
	}
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, " style=") {
		t.Error("inline script or style on a portal page")
	}
}

func TestStaticFiles(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for path, ctype := range map[string]string{"static/style.css": "text/css", "static/portal.js": "text/javascript"} {
		r := b.get(Prefix + path)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ctype) || len(r.body) < 100 || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q %d bytes", path, r.status, r.header.Get("Content-Type"), len(r.body))
		}
	}
	for _, path := range []string{"static/nope.css", "static/../templates/login.html", "static/"} {
		if r := b.get(Prefix + path); r.status != 404 {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
	}
}

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		host, peer string
		want       int
	}{
		{"127.0.0.1", "127.0.0.1:4000", 200},
		{"localhost:8080", "127.0.0.1:4000", 200},
		{"app.localhost", "[::1]:4000", 200},
		{"[::1]:80", "[::1]:4000", 200},
		{"app.example.com", "127.0.0.1:4000", 403},
		{"10.0.0.5", "127.0.0.1:4000", 403},
		// A remote client naming localhost in Host is still remote.
		{"localhost:8080", "192.0.2.7:4000", 403},
	} {
		req := httptest.NewRequest("GET", Prefix, nil)
		req.Host, req.RemoteAddr = tc.host, tc.peer
		w := httptest.NewRecorder()
		e.p.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("plain HTTP on %s from %s: %d, want %d", tc.host, tc.peer, w.Code, tc.want)
		}
	}
	if len(e.logs.FilterMessageSnippet("plain HTTP on loopback").All()) != 1 {
		t.Error("the loopback warning was not logged exactly once")
	}
}

func TestCookiesOverTLSArePrefixedAndSecure(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewTLSServer(e.handler(Policy{}))
	defer srv.Close()
	b := e.browser()
	b.base = srv.URL
	b.register("alice")
	var names []string
	u, _ := url.Parse(srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "__Host-stepgate") || strings.Contains(got, "stepgate-pending") {
		t.Fatalf("cookies after sign-in over TLS: %s", got)
	}
	// Inspect the Set-Cookie attributes of a fresh sign-in directly.
	req, _ := http.NewRequest("GET", srv.URL+Prefix, nil)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sc := res.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-stepgate-csrf=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if r := b.get("/"); r.status != 200 {
		t.Fatalf("signed-in over TLS: %d", r.status)
	}
}

func TestPolicy(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.handler(Policy{Groups: []string{"admins"}, Users: []string{"bob"}}))
	defer srv.Close()
	b := e.browser()
	b.register("alice")
	b.base = srv.URL
	r := b.get("/")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "have access") {
		t.Fatalf("alice outside the policy: %d", r.status)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("Accept", "application/json")
	if r := b.do(req); r.status != http.StatusForbidden || !strings.Contains(r.body, `"forbidden"`) {
		t.Fatalf("API client outside the policy: %d %s", r.status, r.body)
	}
	// The "Sign out" button on the access-denied page works (its form has a
	// CSRF token), and afterwards the user is signed out.
	if r := b.post("/", Prefix+"logout", url.Values{}); r.status != 200 || !strings.Contains(r.body, "signed out") {
		t.Fatalf("sign out from the access-denied page: %d", r.status)
	}
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("still signed in after signing out: %d", r.status)
	}
	for _, tc := range []struct {
		pol  Policy
		want bool
	}{
		{Policy{}, true},
		{Policy{Groups: []string{"ops"}}, true},
		{Policy{Users: []string{"alice"}}, true},
		{Policy{Users: []string{"bob"}, Groups: []string{"x"}}, false},
	} {
		u, _ := e.cfg.Users.Lookup("alice")
		if tc.pol.Allows(&u) != tc.want {
			t.Errorf("%+v.Allows(alice) != %v", tc.pol, tc.want)
		}
	}
}

var (
	goBackRe = regexp.MustCompile(`href="([^"]*)" id="go-back"`)
	switchRe = regexp.MustCompile(`<form method="post" action="([^"]*)"><input type="hidden" name="csrf" value="[^"]*"><button type="submit" class="secondary" id="switch-user">`)
)

// TestAccessDeniedWayBack: the page a signed-in user may not see leads
// back to where they came from (when the browser says, and it is a page
// Stepgate would return anyone to) or to the site's start page, and
// "Sign in as someone else" signs out and returns to the page after the
// next sign-in.
func TestAccessDeniedWayBack(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.handler(Policy{Users: []string{"bob"}}))
	defer srv.Close()
	b := e.browser()
	b.register("alice")
	b.base = srv.URL
	denied := func(path, referer string) resp {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if referer != "" {
			req.Header.Set("Referer", referer)
		}
		r := b.do(req)
		if r.status != http.StatusForbidden {
			t.Fatalf("GET %s: %d, want 403", path, r.status)
		}
		return r
	}
	for _, tc := range []struct{ path, referer, want string }{
		{"/admin/?x=1", srv.URL + "/reports?y=2", srv.URL + "/reports?y=2"},
		{"/admin/?x=1", "", "/"},
		{"/admin/?x=1", srv.URL + "/admin/?x=1", "/"},                         // this very page
		{"/admin/?x=1", srv.URL + Prefix + "?rd=%2Fadmin%2F", "/"},            // the sign-in it came from
		{"/admin/?x=1", "https://evil.example/reports", "/"},                  // another site
		{"/admin/?x=1", "http://" + srv.Listener.Addr().String() + "x/", "/"}, // not this host
		{"/", "", ""},
	} {
		r := denied(tc.path, tc.referer)
		got := ""
		if m := goBackRe.FindStringSubmatch(r.body); m != nil {
			got = html.UnescapeString(m[1])
		}
		if got != tc.want {
			t.Errorf("%s from %q: Go back to %q, want %q", tc.path, tc.referer, got, tc.want)
		}
	}

	r := denied("/admin/?x=1", "")
	m := switchRe.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no Sign in as someone else on the access-denied page: %s", r.body)
	}
	action := html.UnescapeString(m[1])
	r = b.post("/admin/?x=1", action, url.Values{})
	if want := Prefix + "?rd=%2Fadmin%2F%3Fx%3D1"; r.status != http.StatusSeeOther || r.header.Get("Location") != want {
		t.Fatalf("Sign in as someone else: %d to %q, want 303 to %q", r.status, r.header.Get("Location"), want)
	}
	if r := b.get("/admin/"); r.status != http.StatusFound {
		t.Fatalf("still signed in after Sign in as someone else: %d", r.status)
	}
	// Signed out already: straight to the sign-in page.
	if r := b.get(action); r.status != http.StatusFound || r.header.Get("Location") != Prefix+"?rd=%2Fadmin%2F%3Fx%3D1" {
		t.Fatalf("Sign in as someone else when signed out: %d to %q", r.status, r.header.Get("Location"))
	}
}

// TestSignOutKeepsTheWayBack: a sign-out asked for from a page offers to
// sign in again and return there; a return URL Stepgate would not follow
// is dropped.
func TestSignOutKeepsTheWayBack(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	page := b.get(Prefix + "logout?rd=%2Freports%3Fy%3D2")
	if !strings.Contains(page.body, `action="/.stepgate/logout?rd=%2Freports%3Fy%3D2"`) {
		t.Fatalf("the sign-out form does not carry rd: %s", page.body)
	}
	r := b.post(Prefix+"logout?rd=%2Freports%3Fy%3D2", Prefix+"logout?rd=%2Freports%3Fy%3D2", url.Values{})
	if r.status != 200 || !strings.Contains(r.body, `href="/.stepgate/?rd=%2Freports%3Fy%3D2"`) {
		t.Fatalf("signed-out page's Continue does not return to /reports: %d %s", r.status, r.body)
	}
	// "Sign in as someone else" arriving as a GET (a central portal's
	// sites redirect their forms' POSTs here) asks first, then signs out
	// and goes to the sign-in page with rd.
	b.register("bob")
	const sw = Prefix + "logout?rd=%2Freports&then=sign-in"
	page = b.get(sw)
	if !strings.Contains(page.body, "<h1>Sign in as someone else</h1>") || !strings.Contains(page.body, "then you can sign in with another account.") ||
		!strings.Contains(page.body, `action="/.stepgate/logout?rd=%2Freports&amp;then=sign-in"`) {
		t.Fatalf("the switch-user confirmation: %s", page.body)
	}
	if r := b.post(sw, sw, url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"?rd=%2Freports" {
		t.Fatalf("switch user: %d to %q", r.status, r.header.Get("Location"))
	}
	if page := b.get(Prefix + "logout"); strings.Contains(page.body, "another account") {
		t.Fatalf("the plain sign-out page speaks of another account: %s", page.body)
	}
	for _, rd := range []string{"https://evil.example/", "//evil.example/x"} {
		r := b.get(Prefix + "logout?rd=" + url.QueryEscape(rd))
		if r.status != 200 || !strings.Contains(r.body, `href="/.stepgate/">Continue`) {
			t.Fatalf("rd %q: %d %s", rd, r.status, r.body)
		}
	}
}

func TestUsersFileChangesApplyToSessions(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	writeUsers := func(content string) {
		if err := osWriteFile(e.usersFile, content); err != nil {
			t.Fatal(err)
		}
		if _, err := e.cfg.Users.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	h := passwordHash(t)
	writeUsers("users:\n  alice:\n    disabled: true\n    password: '" + h + "'\n")
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("disabled user's session still works: %d", r.status)
	}
	writeUsers("users:\n  alice:\n    groups: [new]\n    password: '" + h + "'\n  x:\n    password: '" + h + "'\n")
	if r := b.get("/"); r.status != 200 || !strings.Contains(r.body, "Remote-Groups: new") {
		t.Fatalf("re-enabled user: %d %s", r.status, r.body)
	}
}

func TestCookieDomainSharesTheSession(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CookieDomain = "Example.COM" })
	issue := httptest.NewRequest("GET", "https://app.example.com/.stepgate/verify", nil)
	w := httptest.NewRecorder()
	if !e.p.setSession(w, issue, e.p.newSession(issue, "alice")) {
		t.Fatal("setSession failed")
	}
	res := w.Result()
	if len(res.Cookies()) != 1 {
		t.Fatalf("cookies: %v", res.Header["Set-Cookie"])
	}
	c := res.Cookies()[0]
	sc := res.Header.Get("Set-Cookie")
	if c.Name != "__Secure-stepgate" || c.Domain != "example.com" || !c.Secure || !c.HttpOnly || !strings.Contains(sc, "SameSite=Lax") {
		t.Fatalf("session cookie with cookie_domain: %s", sc)
	}
	for host, want := range map[string]bool{
		"app.example.com":      true,
		"wiki.example.com":     true,
		"example.com":          true,
		"a.b.example.com:8443": true,
		"evil.com":             false,
		"example.com.evil.com": false,
		"notexample.com":       false,
	} {
		r := httptest.NewRequest("GET", "https://"+host+"/", nil)
		r.Header.Set("Cookie", c.Name+"="+c.Value)
		if got := e.p.Authenticate(r) != nil; got != want {
			t.Errorf("session on %s: %v, want %v", host, got, want)
		}
	}
	// Without TLS the __Secure- cookie is not even looked for.
	plain := httptest.NewRequest("GET", "http://wiki.example.com/", nil)
	plain.Header.Set("Cookie", c.Name+"="+c.Value)
	if e.p.Authenticate(plain) != nil {
		t.Error("__Secure- session accepted over plain HTTP")
	}
}
