package caddymodule_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/portal"
)

// traefikRecorder keeps each HTTP request that went through a
// traefikRecordingProxy, as the server behind it read it off the wire.
type traefikRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

// traefikRecordingProxy forwards TCP connections from a local port to target
// and records the requests on them.
func traefikRecordingProxy(t *testing.T, target string) (addr string, rec *traefikRecorder) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	rec = new(traefikRecorder)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rec.serve(c, target)
		}
	}()
	return ln.Addr().String(), rec
}

func (rec *traefikRecorder) serve(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReader(pr)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				io.Copy(io.Discard, pr)
				return
			}
			io.Copy(io.Discard, req.Body)
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, req)
			rec.mu.Unlock()
		}
	}()
	go func() {
		io.Copy(up, io.TeeReader(c, pw))
		pw.Close()
	}()
	io.Copy(c, up)
}

// last is the last recorded request for path, waiting a little for the
// recorder to finish reading it; it forgets every request recorded so far.
func (rec *traefikRecorder) last(t *testing.T, path string) *http.Request {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec.mu.Lock()
		for i := len(rec.reqs) - 1; i >= 0; i-- {
			if rec.reqs[i].URL.Path == path {
				r := rec.reqs[i]
				rec.reqs = nil
				rec.mu.Unlock()
				return r
			}
		}
		rec.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no request for %s reached Stepgate", path)
		}
	}
}

// traefikClient is a browser for the test's Traefik, whose certificate
// is its own.
func traefikClient(t *testing.T, site string) *client {
	c := newClientAt(t, site)
	c.HTTP.Transport = traefikClientTransport()
	return c
}

// TestForwardAuthThroughTraefik puts Stepgate behind README's Traefik
// set-up (testdata/traefik-dynamic.yaml), run by fakeTraefik, which does
// what Traefik v3's entry point, router, forwardAuth and headers
// middlewares and proxy do (see fakeTraefik). It checks the request
// Traefik's forwardAuth sends, header by header, as it reaches Stepgate,
// and then what a browser and the app see.
//
// It is not parallel: it loads the one in-process Caddy every
// integration test in this package shares.
func TestForwardAuthThroughTraefik(t *testing.T) {
	backend := startStepgateForProxy(t)
	stepgate, rec := traefikRecordingProxy(t, "127.0.0.1:9091")
	cfg := traefikFileConfig(t, "{{host}}", "localhost", "{{stepgate}}", stepgate, "{{app}}", backend)
	site := startFakeTraefik(t, cfg)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(site, "https://"))
	c := traefikClient(t, site)

	// A browser without a session, sending its own X-Forwarded-* (which
	// the entry point removes) and Remote-User, is sent to sign in on the
	// app's host.
	forged := map[string]string{"X-Forwarded-Host": "evil.example", "X-Forwarded-Uri": "/static/x", "X-Forwarded-Method": "HEAD",
		"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9", "Remote-User": "root"}
	if r := c.do("GET", site+"/reports?x=1", nil, forged); r.status != http.StatusFound || r.location != site+"/.stepgate/?rd=%2Freports%3Fx%3D1" || strings.Contains(r.body, "BACKEND") {
		t.Fatalf("unauthenticated: %d %q %s", r.status, r.location, r.body)
	}
	// The auth request, as Stepgate read it: every header, exactly.
	auth := rec.last(t, portal.ForwardAuthPath)
	hostname, _ := os.Hostname()
	want := http.Header{
		"Accept":             {"text/html"},
		"Accept-Encoding":    {"gzip"},
		"User-Agent":         {"Go-http-client/1.1"},
		"Remote-User":        {"root"},
		"X-Forwarded-For":    {"127.0.0.1"},
		"X-Forwarded-Host":   {"localhost:" + port},
		"X-Forwarded-Method": {"GET"},
		"X-Forwarded-Port":   {port},
		"X-Forwarded-Proto":  {"https"},
		"X-Forwarded-Server": {hostname},
		"X-Forwarded-Uri":    {"/reports?x=1"},
		"X-Real-Ip":          {"127.0.0.1"},
	}
	if auth.Method != http.MethodGet || auth.Host != stepgate || auth.RequestURI != portal.ForwardAuthPath || !reflect.DeepEqual(auth.Header, want) {
		t.Fatalf("the auth request:\n%s %s Host %s\n%s\nwant GET %s Host %s\n%s", auth.Method, auth.RequestURI, auth.Host, traefikYAML(auth.Header),
			portal.ForwardAuthPath, stepgate, traefikYAML(want))
	}
	if r := c.do("GET", site+"/reports", nil, map[string]string{"Accept": "application/json"}); r.status != http.StatusUnauthorized || strings.Contains(r.body, "BACKEND") {
		t.Fatalf("unauthenticated API client: %d %s", r.status, r.body)
	}
	// The longest URI Stepgate takes still fits maxResponseBodySize in
	// its redirect.
	long := "/reports?q=" + strings.Repeat("%22", 2700)
	if r := c.get(long); r.status != http.StatusFound || !strings.HasPrefix(r.location, site+"/.stepgate/?rd=") {
		t.Fatalf("a long URI: %d %q", r.status, r.body)
	}

	// Sign-in through the pages Traefik routes to Stepgate on the app's
	// host, over HTTPS: __Host- cookies.
	if _, r := c.register("alice", "/reports?x=1"); r.status != http.StatusSeeOther || r.location != "/reports?x=1" {
		t.Fatalf("sign-in: %d %q", r.status, r.location)
	}
	session := c.cookie("__Host-stepgate")
	if session == "" {
		t.Fatal("no __Host-stepgate session cookie")
	}
	if auth := rec.last(t, "/.stepgate/register"); auth.Header.Get("X-Forwarded-Host") != "localhost:"+port || auth.Header.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("the sign-in pages through Traefik: %v", auth.Header)
	}
	appSeesOnlyAlice(t, c, site)
	root := traefikPathRulesHold(t, c, site)
	// root has no email or display name, so Stepgate sends no
	// Remote-Email or Remote-Name: the client's must still not pass.
	spoof := map[string]string{"Remote-Email": "mallory@example.com", "remote-name": "Mallory", "Remote_Email": "mallory@example.com", "REMOTE_NAME": "Mallory"}
	if app := root.do("GET", site+"/admin/users", nil, spoof); app.status != http.StatusOK || !strings.Contains(app.body, "\nRemote-User: root\n") ||
		strings.Contains(app.body, "allory") {
		t.Fatalf("the app, as root: %d %s", app.status, app.body)
	}

	// After a quarter of the idle time, Stepgate's answer carries the
	// session with its idle timer moved on, and addAuthCookiesToResponse
	// passes it to the browser.
	time.Sleep(2100 * time.Millisecond)
	r := c.Do("GET", site+"/reports", nil, nil)
	if sc := r.Header.Get("Set-Cookie"); r.Status != http.StatusOK || !strings.HasPrefix(sc, "__Host-stepgate=") || !strings.Contains(sc, "; Secure") {
		t.Fatalf("the idle refresh through Traefik: %d %q", r.Status, sc)
	}

	cookie := c.cookie("__Host-stepgate")
	if r := c.post("/.stepgate/logout", "/.stepgate/logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("sign-out: %d", r.status)
	}
	for _, v := range []string{session, cookie} {
		if r := c.do("GET", site+"/reports", nil, map[string]string{"Cookie": "__Host-stepgate=" + v}); r.status != http.StatusFound {
			t.Fatalf("a session cookie after sign-out: %d", r.status)
		}
	}
}

// traefikPathRulesHold is pathRulesHold for the test's Traefik, and
// returns root's browser. Traefik
// cleans the path before routing and sends the app the cleaned one
// (sanitizePath): /reports/.;/../admin/users is served as
// /reports/admin/users. So a spelling may reach the app, but only as a
// plain path under an exception, never as one the app could read as
// /admin.
func traefikPathRulesHold(t *testing.T, alice *client, site string) (root *client) {
	t.Helper()
	plain := regexp.MustCompile(`^/(reports|reports/[^;%\\]*|static/[^;%\\]*)$`)
	for _, p := range gatewaytest.AdminSpellings {
		status, uri := appGet(t, alice, site, p)
		if uri != "" && (!plain.MatchString(uri) || strings.Contains(uri, "..")) {
			t.Errorf("alice (not an admin) on %s: %d, reached the app as %s", p, status, uri)
		} else if uri != "" {
			t.Logf("%s was served as %s", p, uri)
		}
	}
	for _, p := range []string{"/reports", "/reports/q?x=1", "/static/app.css"} {
		if status, uri := appGet(t, alice, site, p); uri != p || status != http.StatusOK {
			t.Errorf("alice on the exception %s: %d %q", p, status, uri)
		}
	}
	root = traefikClient(t, site)
	if _, r := root.register("root", "/admin/users"); r.status != http.StatusSeeOther {
		t.Fatalf("root signing in: %d", r.status)
	}
	if status, uri := appGet(t, root, site, "/admin/users"); uri != "/admin/users" || status != http.StatusOK {
		t.Errorf("root (an admin) on /admin/users: %d", status)
	}
	return root
}

// appGet asks for path exactly as written, without the client cleaning
// or escaping it, and returns the status and the URI the app received,
// or "" when the app did not answer.
func appGet(t *testing.T, c *client, site, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", site+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	req.Header.Set("Accept", "text/html")
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, _ := bufio.NewReader(io.LimitReader(res.Body, 16<<10)).ReadString('\n')
	uri, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "BACKEND ")
	if !ok {
		return res.StatusCode, ""
	}
	return res.StatusCode, uri
}
