package portal

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestPortalURLIsChecked(t *testing.T) {
	for _, tc := range []struct {
		url, domain string
		wantErr     string // "" for accepted
	}{
		{"https://auth.example.com", "example.com", ""},
		{"https://AUTH.example.com:8443/", "example.com", ""},
		{"https://example.com", "example.com", ""},
		{"http://auth.localhost:9080", "localhost", ""},
		{"https://auth.example.com", "", "needs session { cookie_domain"},
		{"https://auth.other.com", "example.com", "not inside cookie_domain"},
		{"https://example.com.evil.com", "example.com", "not inside cookie_domain"},
		{"http://auth.example.com", "example.com", "must use https"},
		{"auth.example.com", "example.com", "absolute URL"},
		{"ftp://auth.example.com", "example.com", "absolute URL"},
		{"https://auth.example.com/sign-in", "example.com", "only the scheme and host"},
		{"https://auth.example.com/?x=1", "example.com", "only the scheme and host"},
		{"https://auth.example.com/#x", "example.com", "only the scheme and host"},
		{"https://user@auth.example.com", "example.com", "only the scheme and host"},
		{"https://auth.example.com:x", "example.com", "portal_url"},
	} {
		_, err := newCentral(tc.url, tc.domain)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s (cookie_domain %q): %v", tc.url, tc.domain, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s (cookie_domain %q): error %v, want one saying %q", tc.url, tc.domain, err, tc.wantErr)
		}
	}
	// New refuses it the same way, so Caddy does not start.
	e := newEnv(t)
	cfg := e.cfg
	cfg.PortalURL = "https://auth.example.com"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "cookie_domain") {
		t.Fatalf("portal_url without cookie_domain: %v", err)
	}
}

func TestPortalURLIsWrittenAsABrowserWritesIt(t *testing.T) {
	for raw, want := range map[string]string{
		"https://auth.example.com":      "https://auth.example.com",
		"https://auth.example.com:":     "https://auth.example.com",
		"https://AUTH.example.com:443/": "https://auth.example.com",
		"https://auth.example.com:8443": "https://auth.example.com:8443",
	} {
		c, err := newCentral(raw, "example.com")
		if err != nil || c.origin != want {
			t.Errorf("%s: %v %q, want %q", raw, err, c.origin, want)
		}
	}
}

// A redirect is made origin-relative only when it is on the request's own
// origin: a portal on another port of the same host stays absolute.
func TestRelativeToKeepsOtherOrigins(t *testing.T) {
	f := &Facts{Scheme: "https", Host: "auth.example.com"}
	for loc, want := range map[string]string{
		"https://auth.example.com/.stepgate/":      "/.stepgate/",
		"https://auth.example.com:8443/.stepgate/": "https://auth.example.com:8443/.stepgate/",
		"https://auth.example.com.evil/x":          "https://auth.example.com.evil/x",
	} {
		if got := relativeTo(loc, f); got != want {
			t.Errorf("relativeTo(%q): %q, want %q", loc, got, want)
		}
	}
}

func centralEnv(t *testing.T) *env {
	return newEnv(t, func(c *Config) {
		c.CookieDomain = "example.com"
		c.PortalURL = "https://auth.example.com"
		c.Push = &PushConfig{Contact: "mailto:ops@example.com"}
	})
}

// serve sends one request straight to the portal's front doors, as the
// Caddy handler does: pages under Prefix, Protect elsewhere.
func (e *env) serve(method, target string, hdr map[string]string) *http.Response {
	r := httptest.NewRequest(method, target, nil)
	r.Header.Set("Accept", "text/html")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.handler(Policy{}).ServeHTTP(w, r)
	return w.Result()
}

func TestCentralPortalSignInGoesToThePortal(t *testing.T) {
	e := centralEnv(t)
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "https://app.example.com/reports?q=1", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://app.example.com/reports?q=1")},
		{"GET", "https://app.example.com/", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://app.example.com/")},
		// A site on another port keeps its own pages: the portal would
		// not send anybody back there.
		{"GET", "https://wiki.example.com:8443/x", "/.stepgate/?rd=%2Fx"},
		{"GET", "https://wiki.example.com:443/x", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://wiki.example.com:443/x")},
		// A form post cannot be repeated by a redirect: back to the root.
		{"POST", "https://app.example.com/save", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://app.example.com/")},
	} {
		res := e.serve(tc.method, tc.target, nil)
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != tc.want {
			t.Errorf("%s %s: %d %q, want 302 %q", tc.method, tc.target, res.StatusCode, res.Header.Get("Location"), tc.want)
		}
	}
	// An API client is told where to sign in.
	if res := e.serve("GET", "https://app.example.com/api", map[string]string{"Accept": "application/json"}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an API client: %d", res.StatusCode)
	} else if b, _ := io.ReadAll(res.Body); !strings.Contains(string(b), `"sign in at https://auth.example.com/.stepgate/"`) {
		t.Errorf("an API client is not told where to sign in: %s", b)
	}
	// On a site that keeps its own pages, the path alone: the client's
	// own Host header is not echoed back.
	if res := e.serve("GET", "https://other.org/api", map[string]string{"Accept": "application/json"}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an API client of a site outside cookie_domain: %d", res.StatusCode)
	} else if b, _ := io.ReadAll(res.Body); !strings.Contains(string(b), `"sign in at /.stepgate/"`) {
		t.Errorf("an API client of a site outside cookie_domain: %s", b)
	}
	// The forward-auth endpoint says the same about a forwarded request.
	f := Facts{Scheme: "https", Host: "app.example.com", Method: "GET", URI: "/reports"}
	if d := e.p.Decide(&f, Policy{}); d.Outcome != SignIn || d.Location != "https://auth.example.com/.stepgate/?rd="+url.QueryEscape("https://app.example.com/reports") {
		t.Fatalf("decision: %v %q", d.Outcome, d.Location)
	}
	// A site outside cookie_domain could never see the portal's session:
	// it keeps its own sign-in pages, instead of a loop through the portal.
	if res := e.serve("GET", "https://other.org/x", nil); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/.stepgate/?rd=%2Fx" {
		t.Errorf("a site outside cookie_domain: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := e.serve("GET", "https://other.org/.stepgate/", nil); res.StatusCode != http.StatusOK {
		t.Errorf("the sign-in page of a site outside cookie_domain: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// On the portal's own host the sign-in page stays relative.
	f.Host = "AUTH.example.com:443"
	if d := e.p.Decide(&f, Policy{}); d.Location != "https://AUTH.example.com:443/.stepgate/?rd=%2Freports" {
		t.Fatalf("decision on the portal's host: %q", d.Location)
	}
}

func TestCentralPortalPagesMoveToThePortal(t *testing.T) {
	e := centralEnv(t)
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "https://app.example.com/.stepgate/", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://app.example.com/")},
		{"GET", "https://app.example.com/.stepgate/?rd=/reports", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://app.example.com/reports")},
		// An absolute or odd return URL is passed on as it is, for the
		// portal to judge (SafeReturnURL).
		{"GET", "https://app.example.com/.stepgate/?rd=https://evil.com/", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://evil.com/")},
		{"GET", "https://app.example.com/.stepgate/?rd=//evil.com/", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("//evil.com/")},
		{"GET", "https://app.example.com/.stepgate/security-info", "https://auth.example.com/.stepgate/security-info"},
		{"GET", "https://app.example.com/.stepgate/logout", "https://auth.example.com/.stepgate/logout"},
		{"GET", "https://app.example.com/.stepgate/authenticator/", "https://auth.example.com/.stepgate/authenticator/"},
		{"GET", "https://app.example.com/.stepgate", "https://auth.example.com/.stepgate/?rd=" + url.QueryEscape("https://app.example.com/")},
		{"HEAD", "https://app.example.com/.stepgate/verify", "https://auth.example.com/.stepgate/verify"},
		{"POST", "https://app.example.com/.stepgate/logout", "https://auth.example.com/.stepgate/logout"},
	} {
		res := e.serve(tc.method, tc.target, nil)
		want := http.StatusFound
		if tc.method == "POST" {
			want = http.StatusSeeOther
		}
		if res.StatusCode != want || res.Header.Get("Location") != tc.want {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.target, res.StatusCode, res.Header.Get("Location"), want, tc.want)
		}
	}
	// The portal itself serves its pages.
	if res := e.serve("GET", "https://auth.example.com/.stepgate/", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("the portal's sign-in page: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Plain HTTP to the portal's host is refused there, not sent round
	// in a loop.
	if res := e.serve("GET", "http://auth.example.com/.stepgate/", nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("plain HTTP to the portal: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// A method's API is answered where it is sent (the Authenticator's
	// answers), and so are the forward-auth endpoints.
	if res := e.serve("POST", "https://app.example.com/.stepgate/push/answer", nil); res.StatusCode == http.StatusSeeOther || res.StatusCode == http.StatusFound {
		t.Fatalf("a method's API on a protected site was redirected: %d", res.StatusCode)
	}
	if res := e.serve("GET", "https://app.example.com"+ForwardAuthPath, nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("forward-auth endpoint from an untrusted client: %d", res.StatusCode)
	}
}

func TestCentralPortalReturnsToTheSites(t *testing.T) {
	e := centralEnv(t)
	r := httptest.NewRequest("GET", "https://auth.example.com/.stepgate/", nil)
	for raw, want := range map[string]string{
		"https://app.example.com/reports": "https://app.example.com/reports",
		"https://example.com/":            "https://example.com/",
		"/.stepgate/security-info":        "/.stepgate/security-info",
		"https://evil.com/":               "/",
		"http://app.example.com/":         "/",
		"https://app.example.com:8443/":   "/",
	} {
		if got := e.p.safeRd(r, raw); got != want {
			t.Errorf("return URL %q from the portal: %q, want %q", raw, got, want)
		}
	}
}

// With cookie_domain, a page's forms may end on the domain's sites (the
// sign-in's last redirect), over the page's own scheme only; without it,
// on the page's own origin only.
func TestPagesFormActionCoversTheCookieDomain(t *testing.T) {
	shared := centralEnv(t).serve("GET", "https://auth.example.com/.stepgate/", nil).Header.Get("Content-Security-Policy")
	if !strings.Contains(shared, "form-action 'self' https://example.com https://*.example.com;") {
		t.Errorf("CSP with cookie_domain: %s", shared)
	}
	onPort := centralEnv(t).serve("GET", "https://auth.example.com:8443/.stepgate/", nil).Header.Get("Content-Security-Policy")
	if !strings.Contains(onPort, "form-action 'self' https://example.com:8443 https://*.example.com:8443;") {
		t.Errorf("CSP with cookie_domain: %s", shared)
	}
	alone := newEnv(t).serve("GET", "https://app.example.com/.stepgate/", nil).Header.Get("Content-Security-Policy")
	if !strings.Contains(alone, "form-action 'self';") {
		t.Errorf("CSP without cookie_domain: %s", alone)
	}
}
