package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/stepgate/stepgate/store"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures Stepgate and not the recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkAuthenticatedRequest is the hot path: a request with a valid
// session cookie is checked, client identity headers are stripped, the real
// ones set, and the next handler runs.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	e := newEnv(b)
	req := httptest.NewRequest("GET", "http://127.0.0.1/reports", nil)
	cookie := browserCookies(b, e)
	cookies := make([]string, 1)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("User-Agent", "Mozilla/5.0")
	req.Header.Set("Remote-User", "mallory")
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	w := &discard{h: http.Header{}}
	pol := Policy{Groups: []string{"engineering"}}
	b.ReportAllocs()
	for b.Loop() {
		// Each request arrives with the browser's cookies (Protect takes
		// Stepgate's own out of the header before the app sees it).
		cookies[0] = cookie
		req.Header["Cookie"] = cookies
		id, done := e.p.Protect(w, req, pol)
		if done || id == nil {
			b.Fatal("not signed in")
		}
		next.ServeHTTP(w, req)
	}
	if req.Header.Get("Remote-User") != "alice" {
		b.Fatal("identity not set")
	}
}

// BenchmarkDecide is the decision alone, from the facts any front door
// reads: what the forward-auth endpoints will add to their round trip.
func BenchmarkDecide(b *testing.B) {
	e := newEnv(b)
	f := Facts{Scheme: "http", Host: "127.0.0.1", Method: "GET", URI: "/reports", Cookies: []string{browserCookies(b, e)}}
	pol := Policy{Groups: []string{"engineering"}}
	b.ReportAllocs()
	for b.Loop() {
		if d := e.p.Decide(&f, pol); d.Outcome != Allow {
			b.Fatal(d.Outcome)
		}
	}
}

// browserCookies is the Cookie header of a browser signed in as alice at
// http://127.0.0.1, with two other sites' cookies around Stepgate's.
func browserCookies(b *testing.B, e *env) string {
	s := e.p.newSession(httptest.NewRequest("GET", "http://127.0.0.1/", nil), "alice")
	value, err := encodeSession(e.p, s)
	if err != nil {
		b.Fatal(err)
	}
	return "_ga=GA1.2.3; " + plainNames.session + "=" + value + "; theme=dark"
}

func encodeSession(p *Portal, s session) (string, error) {
	return securecookie.EncodeMulti(plainNames.session, &s, p.sessions[0])
}

// BenchmarkAuthenticatedRequestUncached is the same request when the
// verified-cookie cache misses (a new cookie value, or a full cache): the
// HMAC, AES-CTR and base64 work of securecookie on every request.
func BenchmarkAuthenticatedRequestUncached(b *testing.B) {
	e := newEnv(b)
	e.p.verifiedPlain.max = 1 // two cookies alternating: every lookup misses
	var reqs [2]*http.Request
	var cookies [2]string
	hdr := [2][]string{make([]string, 1), make([]string, 1)}
	for i := range reqs {
		s := e.p.newSession(httptest.NewRequest("GET", "http://127.0.0.1/", nil), "alice")
		value, err := encodeSession(e.p, s)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = httptest.NewRequest("GET", "http://127.0.0.1/reports", nil)
		cookies[i] = plainNames.session + "=" + value
		reqs[i].Header.Set("Accept", "text/html")
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i & 1
		hdr[j][0] = cookies[j]
		reqs[j].Header["Cookie"] = hdr[j][:1]
		if _, done := e.p.Protect(w, reqs[j], Policy{}); done {
			b.Fatal("not signed in")
		}
		i++
	}
}

// BenchmarkUnauthenticatedRedirect is a browser without a session being
// sent to the portal.
func BenchmarkUnauthenticatedRedirect(b *testing.B) {
	e := newEnv(b)
	req := httptest.NewRequest("GET", "http://127.0.0.1/reports?q=1", nil)
	req.Header.Set("Accept", "text/html")
	b.ReportAllocs()
	for b.Loop() {
		w := &discard{h: http.Header{}}
		if _, done := e.p.Protect(w, req, Policy{}); !done {
			b.Fatal("let through")
		}
	}
}

// benchPage renders one portal page for a browser holding the cookies b
// got so far. The first response must be 200, so an error page is never
// what gets measured.
func benchPage(bm *testing.B, e *env, br *browser, path string) {
	bm.Helper()
	req := httptest.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	req.RemoteAddr = "127.0.0.1:40000" // the test server is plain HTTP on loopback
	for _, c := range br.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.p.ServeHTTP(w, req)
	if w.Code != 200 {
		bm.Fatalf("%s: %d %s", path, w.Code, w.Body)
	}
	bm.ReportAllocs()
	for bm.Loop() {
		e.p.ServeHTTP(&discard{h: http.Header{}}, req)
	}
}

// BenchmarkPages renders every sign-in page a user sees, with the cookies
// a real browser would hold at that step.
func BenchmarkPages(bm *testing.B) {
	e := newEnv(bm)
	enrolled := e.browser()
	secret := enrolled.register("alice")
	signedIn := e.browser()
	signedIn.signIn("alice", secret)
	atCode := e.browser()
	e.clock.Add(30 * time.Second)
	atCode.login("alice", testPassword)
	registering := e.browser()
	registering.login("bob", testPassword)
	registering.get(Prefix + "register") // the new secret goes into the pending cookie

	bm.Run("password", func(bm *testing.B) { benchPage(bm, e, e.browser(), Prefix) })
	bm.Run("code", func(bm *testing.B) { benchPage(bm, e, atCode, Prefix+"verify") })
	bm.Run("register", func(bm *testing.B) { benchPage(bm, e, registering, Prefix+"register") })
	bm.Run("register-qr", func(bm *testing.B) { benchPage(bm, e, registering, Prefix+"register/qr.png") })
	bm.Run("signed-in", func(bm *testing.B) { benchPage(bm, e, signedIn, Prefix) })
	bm.Run("sign-out", func(bm *testing.B) { benchPage(bm, e, signedIn, Prefix+"logout") })
	// Security info with a full Recent activity (the store keeps 100
	// events a user; the page shows the newest 20).
	for range 100 {
		e.st.RecordSignInEvent(context.Background(), store.SignInEvent{Username: "alice", At: e.clock.Now(), Outcome: "success", Method: "totp", ClientIP: "192.0.2.1", Site: "app.example.com"})
	}
	bm.Run("security-info", func(bm *testing.B) { benchPage(bm, e, signedIn, sip) })
}

// BenchmarkForwardAuth is the forward-auth endpoint answering a signed-in
// request from a trusted proxy (Traefik's or Caddy's forward_auth
// headers, a group policy): what a proxy's round trip to Stepgate costs
// Stepgate.
func BenchmarkForwardAuth(b *testing.B) {
	e := newEnv(b, trustFrom("127.0.0.1"))
	req := httptest.NewRequest("GET", "http://127.0.0.1:9091"+ForwardAuthPath+"?allow_group=engineering", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	for k, v := range map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "127.0.0.1",
		"X-Forwarded-Uri": "/reports", "Accept": "text/html", "Cookie": browserCookies(b, e)} {
		req.Header.Set(k, v)
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		e.p.ServeHTTP(w, req)
	}
	if w.h.Get(HeaderUser) != "alice" {
		b.Fatal("not allowed")
	}
}
