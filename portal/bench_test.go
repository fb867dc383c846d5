package portal

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/securecookie"
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
	s := e.p.newSession(httptest.NewRequest("GET", "http://127.0.0.1/", nil), "alice")
	value, err := encodeSession(e.p, s)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1/reports", nil)
	req.Header.Set("Cookie", "_ga=GA1.2.3; "+plainNames.session+"="+value+"; theme=dark")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("User-Agent", "Mozilla/5.0")
	req.Header.Set("Remote-User", "mallory")
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	w := &discard{h: http.Header{}}
	pol := Policy{Groups: []string{"engineering"}}
	b.ReportAllocs()
	for b.Loop() {
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
	for i := range reqs {
		s := e.p.newSession(httptest.NewRequest("GET", "http://127.0.0.1/", nil), "alice")
		value, err := encodeSession(e.p, s)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = httptest.NewRequest("GET", "http://127.0.0.1/reports", nil)
		reqs[i].Header.Set("Cookie", plainNames.session+"="+value)
		reqs[i].Header.Set("Accept", "text/html")
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, done := e.p.Protect(w, reqs[i&1], Policy{}); done {
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

// BenchmarkSignInPage renders the password page.
func BenchmarkSignInPage(b *testing.B) {
	e := newEnv(b)
	req := httptest.NewRequest("GET", "http://127.0.0.1"+Prefix, nil)
	req.Header.Set("Cookie", plainNames.csrf+"="+"0123456789012345678901234567890123456789012")
	b.ReportAllocs()
	for b.Loop() {
		w := &discard{h: http.Header{}}
		e.p.ServeHTTP(w, req)
	}
}
