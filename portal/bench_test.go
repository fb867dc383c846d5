package portal

import (
	"net/http"
	"net/http/httptest"
	"testing"
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
	return securecookieEncode(p, plainNames.session, &s)
}
