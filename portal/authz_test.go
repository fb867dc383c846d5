package portal

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// authzEnv is a portal that trusts the proxy at 10.0.0.1, with alice's
// session for https://app.example.com.
type authzEnv struct {
	*env
	alice string // alice's Cookie header line
}

func newAuthzEnv(t testing.TB) *authzEnv {
	e := newEnv(t, trustFrom("10.0.0.1"))
	return &authzEnv{env: e, alice: sessionFor(t, e, "https://app.example.com", "alice", nil)}
}

// ask sends an endpoint request from peer with the given headers (a nil
// value deletes a default) and returns the answer.
func (a *authzEnv) ask(peer, path string, hdr map[string][]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://auth.internal:9091"+path, nil)
	r.RemoteAddr = peer + ":40000"
	defaults := map[string][]string{
		"X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"},
		"X-Forwarded-Uri": {"/reports?q=1"}, "Accept": {"text/html"},
	}
	for k, v := range hdr {
		defaults[k] = v
	}
	for k, v := range defaults {
		if v != nil {
			r.Header[k] = v
		}
	}
	w := httptest.NewRecorder()
	a.p.ServeHTTP(w, r)
	return w
}

func identity(w *httptest.ResponseRecorder) string {
	h := w.Header()
	return strings.Join([]string{h.Get(HeaderUser), h.Get(HeaderGroups), h.Get(HeaderEmail), h.Get(HeaderName)}, "|")
}

// TestForwardAuthAnswers: the endpoints answer as the decision says, in
// the form each proxy understands.
func TestForwardAuthAnswers(t *testing.T) {
	a := newAuthzEnv(t)
	const signIn = "https://app.example.com/.stepgate/?rd=%2Freports%3Fq%3D1"
	cookie := func(c string) map[string][]string { return map[string][]string{"Cookie": {c}} }
	for _, tc := range []struct {
		name, path string
		hdr        map[string][]string
		status     int
		location   string
		identity   string
	}{
		{"signed in", ForwardAuthPath, cookie(a.alice), 200, "", "alice|engineering,ops|alice@example.com|Alice Example"},
		{"signed in, nginx", AuthRequestPath, cookie(a.alice), 200, "", "alice|engineering,ops|alice@example.com|Alice Example"},
		{"not signed in, a browser", ForwardAuthPath, nil, 302, signIn, "|||"},
		{"not signed in, a browser, nginx", AuthRequestPath, nil, 401, signIn, "|||"},
		{"not signed in, an API client", ForwardAuthPath, map[string][]string{"Accept": {"application/json"}}, 401, "", "|||"},
		{"not signed in, an API client, nginx", AuthRequestPath, map[string][]string{"Accept": nil}, 401, "", "|||"},
		{"nginx's X-Original-URL", AuthRequestPath, map[string][]string{"X-Original-Url": {"https://app.example.com/reports?q=1"},
			"X-Forwarded-Proto": nil, "X-Forwarded-Host": nil, "X-Forwarded-Uri": nil, "X-Forwarded-Method": nil}, 401, signIn, "|||"},
		{"a HEAD is not returned to", ForwardAuthPath, map[string][]string{"X-Forwarded-Method": {"HEAD"}}, 302,
			"https://app.example.com/.stepgate/", "|||"},
		{"the client's own identity headers are not echoed", ForwardAuthPath,
			map[string][]string{"Remote-User": {"admin"}, "Remote-Groups": {"admins"}}, 302, signIn, "|||"},
		{"another site's session", ForwardAuthPath, map[string][]string{"Cookie": {a.alice}, "X-Forwarded-Host": {"other.example.com"}}, 302,
			"https://other.example.com/.stepgate/?rd=%2Freports%3Fq%3D1", "|||"},
		{"a plain-HTTP request does not read the HTTPS cookie", ForwardAuthPath,
			map[string][]string{"Cookie": {a.alice}, "X-Forwarded-Proto": {"http"}}, 302, "http://app.example.com/.stepgate/?rd=%2Freports%3Fq%3D1", "|||"},
		{"a forged cookie", ForwardAuthPath, cookie(strings.Replace(a.alice, "=", "=x", 2)), 302, signIn, "|||"},
		{"in the group", ForwardAuthPath + "?allow_group=ops", cookie(a.alice), 200, "", "alice|engineering,ops|alice@example.com|Alice Example"},
		{"one of the groups", ForwardAuthPath + "?allow_group=admins,engineering", cookie(a.alice), 200, "", "alice|engineering,ops|alice@example.com|Alice Example"},
		{"by name", ForwardAuthPath + "?allow_group=admins&allow_user=alice", cookie(a.alice), 200, "", "alice|engineering,ops|alice@example.com|Alice Example"},
		{"not in the group", ForwardAuthPath + "?allow_group=admins", cookie(a.alice), 403, "", "|||"},
		{"in a denied group", ForwardAuthPath + "?allow_group=engineering&deny_group=ops", cookie(a.alice), 403, "", "|||"},
		{"denied by name", AuthRequestPath + "?deny_user=bob,alice", cookie(a.alice), 403, "", "|||"},
		{"someone else denied", ForwardAuthPath + "?deny_user=bob&deny_group=admins", cookie(a.alice), 200, "", "alice|engineering,ops|alice@example.com|Alice Example"},
		{"not the user", AuthRequestPath + "?allow_user=bob", cookie(a.alice), 403, "", "|||"},
		{"a code session where a passkey is required", ForwardAuthPath + "?require=phishing_resistant", cookie(a.alice), 302,
			"https://app.example.com" + StepUpPath + "?rd=%2Freports%3Fq%3D1", "|||"},
		{"an API client where a passkey is required", ForwardAuthPath + "?require=phishing_resistant",
			map[string][]string{"Cookie": {a.alice}, "Accept": {"application/json"}}, 403, "", "|||"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := a.ask("10.0.0.1", tc.path, tc.hdr)
			if w.Code != tc.status || w.Header().Get("Location") != tc.location || identity(w) != tc.identity {
				t.Fatalf("got %d %q %q, want %d %q %q", w.Code, w.Header().Get("Location"), identity(w), tc.status, tc.location, tc.identity)
			}
			if w.Code == 200 && w.Body.Len() != 0 {
				t.Fatalf("a 200 with a body: %q", w.Body)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control %q", w.Header().Get("Cache-Control"))
			}
		})
	}
}

// TestForwardAuthFailsClosed: a request from a client that is not a
// trusted proxy, a policy that cannot be read and a request that is not
// described exactly never get a 200, even with a valid session.
func TestForwardAuthFailsClosed(t *testing.T) {
	a := newAuthzEnv(t)
	with := func(k string, v ...string) map[string][]string {
		h := map[string][]string{"Cookie": {a.alice}}
		if k != "" {
			h[k] = v
			if v == nil {
				h[k] = nil
			}
		}
		return h
	}
	for _, tc := range []struct {
		name, peer, path string
		hdr              map[string][]string
		status           int
	}{
		{"an untrusted client", "10.0.0.9", ForwardAuthPath, with(""), 403},
		{"an untrusted client, nginx", "10.0.0.9", AuthRequestPath, with(""), 403},
		{"an unknown parameter", "10.0.0.1", ForwardAuthPath + "?allow_groups=engineering", with(""), 400},
		{"an unknown requirement", "10.0.0.1", ForwardAuthPath + "?require=mfa", with(""), 400},
		{"a requirement twice", "10.0.0.1", ForwardAuthPath + "?require=phishing_resistant&require=phishing_resistant", with(""), 400},
		{"a deny parameter without a name", "10.0.0.1", ForwardAuthPath + "?deny_user=", with(""), 400},
		{"a parameter without a name", "10.0.0.1", ForwardAuthPath + "?allow_group=", with(""), 400},
		{"an empty name in a list", "10.0.0.1", ForwardAuthPath + "?allow_group=ops,", with(""), 400},
		{"a query that cannot be read", "10.0.0.1", ForwardAuthPath + "?allow_group=%zz", with(""), 400},
		{"no method", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Method", nil...), 400},
		{"no scheme", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Proto", nil...), 400},
		{"no host", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Host", nil...), 400},
		{"no URI", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Uri", nil...), 400},
		{"two URIs", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Uri", "/a", "/b"), 400},
		{"two hosts in one", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Host", "app.example.com, evil.example"), 400},
		{"a scheme that is neither", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Proto", "ftp"), 400},
		{"a URI that is not a path", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Uri", "reports"), 400},
		{"an absolute URI", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Uri", "https://evil.example/"), 400},
		{"a space in the URI", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Uri", "/a b"), 400},
		{"a fragment", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Uri", "/a#b"), 400},
		{"a URI too long", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Uri", "/"+strings.Repeat("a", maxForwardedURI)), 400},
		{"a method in lower case", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Method", "get"), 400},
		{"a method with a space", "10.0.0.1", ForwardAuthPath, with("X-Forwarded-Method", "GET /"), 400},
		{"X-Original-URL with user info", "10.0.0.1", AuthRequestPath, with("X-Original-Url", "https://alice@app.example.com/"), 400},
		{"X-Original-URL of another scheme", "10.0.0.1", AuthRequestPath, with("X-Original-Url", "javascript:alert(1)"), 400},
		{"X-Original-URL without a host", "10.0.0.1", AuthRequestPath, with("X-Original-Url", "https:///x"), 400},
		{"two X-Original-URLs", "10.0.0.1", AuthRequestPath, with("X-Original-Url", "https://app.example.com/", "https://app.example.com/"), 400},
		{"X-Original-Method in lower case", "10.0.0.1", AuthRequestPath, map[string][]string{"Cookie": {a.alice},
			"X-Original-Url": {"https://app.example.com/"}, "X-Original-Method": {"get"}}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := a.ask(tc.peer, tc.path, tc.hdr)
			if w.Code != tc.status || identity(w) != "|||" {
				t.Fatalf("got %d %q, want %d", w.Code, identity(w), tc.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" || !strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("answer: %q %q", ct, w.Body)
			}
		})
	}
}

// TestForwardAuthRefreshAndStepUp: the idle refresh travels on the 200
// for the proxy to pass on; a pass session without a method is sent to
// Security info, on the app's own origin.
func TestForwardAuthRefreshAndStepUp(t *testing.T) {
	a := newAuthzEnv(t)
	a.clock.Add(16 * time.Minute)
	w := a.ask("10.0.0.1", ForwardAuthPath, map[string][]string{"Cookie": {a.alice}})
	if c := w.Result().Cookies(); w.Code != 200 || len(c) != 1 || c[0].Name != hostNames.session || !c[0].Secure {
		t.Fatalf("refresh: %d %v", w.Code, c)
	}
	pass := sessionFor(t, a.env, "https://app.example.com", "alice", func(s *session) { s.Verified, s.By = s.Issued, bySetUpPass })
	w = a.ask("10.0.0.1", ForwardAuthPath, map[string][]string{"Cookie": {pass}})
	if w.Code != http.StatusFound || w.Header().Get("Location") != "https://app.example.com"+SecurityInfoPath+"?done=set-up-first" {
		t.Fatalf("step up: %d %q", w.Code, w.Header().Get("Location"))
	}
	w = a.ask("10.0.0.1", ForwardAuthPath, map[string][]string{"Cookie": {pass}, "Accept": {"application/json"}})
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "set_up_required") {
		t.Fatalf("step up, an API client: %d %s", w.Code, w.Body)
	}
}

// FuzzForwardAuth sends the endpoints arbitrary descriptions of a request
// and policies, from a trusted proxy: no answer is a panic or a 5xx, and
// none is a 200 without alice's session; what the parser accepts is one
// scheme, a valid host and a path.
func FuzzForwardAuth(f *testing.F) {
	f.Add(false, "", "GET", "https", "app.example.com", "/reports?q=1", "", "", true)
	f.Add(true, "allow_group=ops", "POST", "http", "app.example.com:8443", "/", "", "", true)
	f.Add(true, "allow_user=alice,bob&allow_group=x", "", "", "", "", "https://app.example.com/a?b", "GET", false)
	f.Add(false, "x=%zz", "get", "HTTPS ", "[::1]:1", "//evil", "javascript:x", "g et", false)
	a := newAuthzEnv(f)
	f.Fuzz(func(t *testing.T, nginx bool, query, method, proto, host, uri, original, originalMethod string, session bool) {
		path := ForwardAuthPath
		if nginx {
			path = AuthRequestPath
		}
		r := httptest.NewRequest("GET", "http://auth.internal:9091"+path, nil)
		r.URL.RawQuery = query
		r.RemoteAddr = "10.0.0.1:40000"
		for k, v := range map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Proto": proto, "X-Forwarded-Host": host,
			"X-Forwarded-Uri": uri, "X-Original-Url": original, "X-Original-Method": originalMethod} {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		if session {
			r.Header["Cookie"] = []string{a.alice}
		}
		w := httptest.NewRecorder()
		a.p.ServeHTTP(w, r)
		if w.Code >= 500 || w.Code == 200 && (!session || w.Header().Get(HeaderUser) != "alice") {
			t.Fatalf("%d for %q %q %q %q %q %q (session %v)", w.Code, method, proto, host, uri, original, query, session)
		}
		if ff, ok := forwardedFacts(r, nginx); ok && (ff.Scheme != "http" && ff.Scheme != "https" || !validHost(ff.Host) || !validURI(ff.URI) || !validMethod(ff.Method)) {
			t.Fatalf("accepted %+v", ff)
		}
	})
}

// TestForwardAuthPolicyCacheIsBounded: a trusted proxy that passes on
// every client's query string (Caddy's forward_auth without "?") cannot
// make the parsed-policy cache grow without bound.
func TestForwardAuthPolicyCacheIsBounded(t *testing.T) {
	a := newAuthzEnv(t)
	for i := range 3 * maxCachedPolicies {
		a.ask("10.0.0.1", ForwardAuthPath+"?allow_user=u"+strconv.Itoa(i), map[string][]string{"Cookie": {a.alice}})
	}
	a.p.authzPolicies.mu.RLock()
	n := len(a.p.authzPolicies.m)
	a.p.authzPolicies.mu.RUnlock()
	if n > maxCachedPolicies {
		t.Fatalf("%d policies cached", n)
	}
}
