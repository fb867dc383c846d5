package portal

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// sessionFor issues a session for user as the portal would on a sign-in
// at origin, and returns the Cookie header line that carries it.
func sessionFor(t testing.TB, e *env, origin, user string, edit func(*session)) string {
	t.Helper()
	r := httptest.NewRequest("GET", origin+"/", nil)
	if strings.HasPrefix(origin, "https:") {
		r.TLS = &tls.ConnectionState{}
	}
	s := e.p.newSession(r, user)
	if edit != nil {
		edit(&s)
	}
	name := e.p.names(r).session
	v, err := securecookie.EncodeMulti(name, &s, e.p.sessions[0])
	if err != nil {
		t.Fatal(err)
	}
	return "theme=dark; " + name + "=" + v
}

// TestDecide is the decision from a request's facts alone: no request,
// no response writer, the same answer for any front door.
func TestDecide(t *testing.T) {
	e := newEnv(t)
	alice := sessionFor(t, e, "https://app.example.com", "alice", nil)
	alicePlain := sessionFor(t, e, "http://localhost:8080", "alice", nil)
	bob := sessionFor(t, e, "https://app.example.com", "bob", nil)
	setUpPass := sessionFor(t, e, "https://app.example.com", "alice", func(s *session) { s.Verified, s.By = s.Issued, bySetUpPass })
	carol := sessionFor(t, e, "https://app.example.com", "carol", nil) // disabled
	engineers := Policy{Groups: []string{"engineering"}}
	https := func(uri string, cookies ...string) Facts {
		return Facts{Scheme: "https", Host: "app.example.com", Method: "GET", URI: uri, Cookies: cookies}
	}
	for _, tc := range []struct {
		name     string
		f        Facts
		pol      Policy
		outcome  Outcome
		user     string
		location string
	}{
		{"no cookie", https("/reports?q=1"), Policy{}, SignIn, "",
			"https://app.example.com/.stepgate/?rd=%2Freports%3Fq%3D1"},
		{"no cookie, the site's root", https("/"), Policy{}, SignIn, "", "https://app.example.com/.stepgate/"},
		{"no cookie, a POST is not returned to", Facts{Scheme: "https", Host: "app.example.com", Method: "POST", URI: "/form"},
			Policy{}, SignIn, "", "https://app.example.com/.stepgate/"},
		{"plain HTTP keeps its scheme and port", Facts{Scheme: "http", Host: "localhost:8080", Method: "GET", URI: "/x"},
			Policy{}, SignIn, "", "http://localhost:8080/.stepgate/?rd=%2Fx"},
		{"signed in", https("/reports", alice), Policy{}, Allow, "alice", ""},
		{"signed in, on plain HTTP on loopback", Facts{Scheme: "http", Host: "localhost:8080", Method: "GET", URI: "/", Cookies: []string{alicePlain}},
			Policy{}, Allow, "alice", ""},
		{"cookie among several header lines", https("/", "a=b", alice), Policy{}, Allow, "alice", ""},
		{"in the group", https("/", alice), engineers, Allow, "alice", ""},
		{"not in the group", https("/", bob), engineers, Forbidden, "bob", ""},
		{"by name", https("/", bob), Policy{Users: []string{"bob"}}, Allow, "bob", ""},
		{"denied by name", https("/", alice), Policy{DenyUsers: []string{"alice"}}, Forbidden, "alice", ""},
		{"denied by group, though the group is allowed", https("/", alice),
			Policy{Groups: []string{"engineering"}, DenyGroups: []string{"ops"}}, Forbidden, "alice", ""},
		{"someone else denied", https("/", alice), Policy{DenyUsers: []string{"bob"}, DenyGroups: []string{"admins"}}, Allow, "alice", ""},
		{"a pass with no method yet: add one first", https("/reports", setUpPass), Policy{}, StepUp, "alice",
			"https://app.example.com/.stepgate/security-info?done=set-up-first"},
		{"disabled user", https("/", carol), Policy{}, SignIn, "", "https://app.example.com/.stepgate/"},
		// The scheme picks the cookie's name: a plain-HTTP cookie is not
		// read on HTTPS and an HTTPS one not on plain HTTP.
		{"plain cookie on HTTPS", https("/", alicePlain), Policy{}, SignIn, "", "https://app.example.com/.stepgate/"},
		{"HTTPS cookie on plain HTTP", Facts{Scheme: "http", Host: "app.example.com", Method: "GET", URI: "/", Cookies: []string{alice}},
			Policy{}, SignIn, "", "http://app.example.com/.stepgate/"},
		// The host is the session's audience.
		{"another host", Facts{Scheme: "https", Host: "other.example.com", Method: "GET", URI: "/", Cookies: []string{alice}},
			Policy{}, SignIn, "", "https://other.example.com/.stepgate/"},
		{"the same host with a port and in capitals", Facts{Scheme: "https", Host: "App.Example.com:443", Method: "GET", URI: "/", Cookies: []string{alice}},
			Policy{}, Allow, "alice", ""},
		{"a forged cookie", https("/", strings.Replace(alice, "=", "=x", 2)), Policy{}, SignIn, "", "https://app.example.com/.stepgate/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := e.p.Decide(&tc.f, tc.pol)
			if d.Outcome != tc.outcome || d.Location != tc.location {
				t.Fatalf("got %s %q, want %s %q", d.Outcome, d.Location, tc.outcome, tc.location)
			}
			switch {
			case tc.user == "" && d.Identity != nil:
				t.Fatalf("identity %q without a session", d.Identity.User.Name)
			case tc.user != "" && (d.Identity == nil || d.Identity.User.Name != tc.user):
				t.Fatalf("identity %v, want %s", d.Identity, tc.user)
			}
			if d.Refresh != nil {
				t.Fatalf("a fresh session refreshed: %v", d.Refresh)
			}
		})
	}
}

// TestDecideRefresh: once a quarter of the idle timeout has passed, an
// allowed request carries a new session cookie with the idle timer moved
// on, for the front door to send; a refused one carries none.
func TestDecideRefresh(t *testing.T) {
	e := newEnv(t)
	alice := sessionFor(t, e, "https://app.example.com", "alice", nil)
	e.clock.Add(16 * time.Minute) // idle is 1 h
	f := Facts{Scheme: "https", Host: "app.example.com", Method: "GET", URI: "/", Cookies: []string{alice}}
	d := e.p.Decide(&f, Policy{})
	if d.Outcome != Allow || d.Refresh == nil {
		t.Fatalf("got %s, refresh %v", d.Outcome, d.Refresh)
	}
	c := d.Refresh
	if c.Name != hostNames.session || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("refreshed cookie: %+v", c)
	}
	var s session
	if err := securecookie.DecodeMulti(c.Name, c.Value, &s, e.p.sessions...); err != nil {
		t.Fatal(err)
	}
	if s.Seen != e.clock.Now().Unix() || s.User != "alice" || s.ID != d.Identity.SessionID {
		t.Fatalf("refreshed session: %+v", s)
	}
	if d := e.p.Decide(&f, Policy{Users: []string{"bob"}}); d.Outcome != Forbidden || d.Refresh != nil {
		t.Fatalf("refused: %s, refresh %v", d.Outcome, d.Refresh)
	}
	// The refreshed cookie is good, and fresh again.
	f.Cookies = []string{c.Name + "=" + c.Value}
	if d := e.p.Decide(&f, Policy{}); d.Outcome != Allow || d.Refresh != nil {
		t.Fatalf("after the refresh: %s, refresh %v", d.Outcome, d.Refresh)
	}
}

// TestProtectMatchesDecide: the in-process front door answers as the
// decision says; its redirects stay origin-relative, so a Host header the
// client chose is never echoed into a response.
func TestProtectMatchesDecide(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		accept, location string
		status           int
	}{
		{"text/html", "/.stepgate/?rd=%2Freports%3Fq%3D1", http.StatusFound},
		{"application/json", "", http.StatusUnauthorized},
	} {
		r := httptest.NewRequest("GET", "http://evil.example/reports?q=1", nil)
		r.Header.Set("Accept", tc.accept)
		w := httptest.NewRecorder()
		if id, done := e.p.Protect(w, r, Policy{}); !done || id != nil {
			t.Fatal("let through")
		}
		if w.Code != tc.status || w.Header().Get("Location") != tc.location || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %q %q", tc.accept, w.Code, w.Header().Get("Location"), w.Header().Get("Cache-Control"))
		}
	}
}

// TestDecisionSaysHowTheUserProvedIt: an allowed identity carries the
// method and time of the session's last second step.
func TestDecisionSaysHowTheUserProvedIt(t *testing.T) {
	e := newEnv(t)
	at := e.clock.Now().Add(-time.Minute).Unix()
	alice := sessionFor(t, e, "https://app.example.com", "alice", func(s *session) { s.Verified, s.By = at, "totp" })
	f := Facts{Scheme: "https", Host: "app.example.com", Method: "GET", URI: "/", Cookies: []string{alice}}
	d := e.p.Decide(&f, Policy{})
	if d.Outcome != Allow || d.Identity.Method() != "totp" || !d.Identity.Verified().Equal(time.Unix(at, 0)) {
		t.Fatalf("got %s %q %v", d.Outcome, d.Identity.Method(), d.Identity.Verified())
	}
	old := sessionFor(t, e, "https://app.example.com", "alice", func(s *session) { s.Verified, s.By = 0, "" })
	f.Cookies = []string{old}
	if d := e.p.Decide(&f, Policy{}); d.Identity.Method() != "" || !d.Identity.Verified().IsZero() {
		t.Fatalf("a session without the record: %q %v", d.Identity.Method(), d.Identity.Verified())
	}
}
