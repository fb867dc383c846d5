package caddymodule_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
)

// fromAddress makes c connect from a local address of its choosing (any
// of 127.0.0.0/8 works on Linux): a client that is not the trusted proxy.
func fromAddress(c *gatewaytest.Client, ip string) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.HTTP.Transport = &http.Transport{DialContext: d.DialContext}
}

// TestBehindTLSProxyThroughCaddy runs Caddy behind a Caddy that ends TLS
// (the way a load balancer does): the back trusts the front
// (trusted_proxies), so sign-in works with HTTPS's cookie names and the
// Secure flag. The same X-Forwarded-* headers from a client that is not
// the proxy change nothing.
func TestBehindTLSProxyThroughCaddy(t *testing.T) {
	backend := echoBackend(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "")
	startCaddyfileWith(t, `servers 127.0.0.1:9081 {
		trusted_proxies static 127.0.0.1/32
	}`, block, fmt.Sprintf(`
https://localhost:9443 {
	tls internal
	reverse_proxy 127.0.0.1:9081
}
http://:9081 {
	stepgate
	reverse_proxy %s
}
`, backend))

	front := gatewaytest.NewClient(t, "https://localhost:9443")
	front.HTTP.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	// Caddy issues the front's certificate from its internal CA in the
	// background after the config loads.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := front.HTTP.Get("https://localhost:9443/")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the front's certificate: %v", err)
		}
	}
	if r := front.Get("/app"); r.Status != http.StatusFound || r.Location != "/.stepgate/?rd=%2Fapp" {
		t.Fatalf("unauthenticated: %d %q", r.Status, r.Location)
	}
	page := front.Get("/.stepgate/")
	if page.Status != http.StatusOK {
		t.Fatalf("sign-in page behind the proxy: %d %s", page.Status, page.Body)
	}
	if sc := strings.Join(page.Header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "__Host-stepgate-csrf=") || !strings.Contains(sc, "; Secure") {
		t.Fatalf("the CSRF cookie behind a TLS proxy: %q", sc)
	}
	_, r := front.Register("alice", testPassword, "/app")
	if r.Status != http.StatusSeeOther || r.Location != "/app" {
		t.Fatalf("sign-in: %d %q %s", r.Status, r.Location, r.Body)
	}
	if sc := strings.Join(r.Header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "__Host-stepgate=") || !strings.Contains(sc, "; Secure") {
		t.Fatalf("the session cookie behind a TLS proxy: %q", sc)
	}
	session := front.Cookie("__Host-stepgate")
	if app := front.Get("/app"); app.Status != http.StatusOK || !strings.Contains(app.Body, "Remote-User: alice") {
		t.Fatalf("the app: %d %s", app.Status, app.Body)
	}

	// A client that is not the proxy sends the same headers, and alice's
	// session cookie, straight to the back: it is plain HTTP to them.
	forged := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost:9443", "Cookie": "__Host-stepgate=" + session}
	mallory := gatewaytest.NewClient(t, "http://127.0.0.1:9081")
	fromAddress(mallory, "127.0.0.2")
	if r := mallory.Do("GET", "/app", nil, forged); r.Status != http.StatusFound || strings.Contains(r.Body, "BACKEND") {
		t.Fatalf("a forged scheme with a copied cookie: %d %q", r.Status, r.Body)
	}
	forged["X-Forwarded-Host"] = "evil.example"
	delete(forged, "Cookie")
	page = mallory.Do("GET", "/.stepgate/", nil, forged)
	if sc := strings.Join(page.Header.Values("Set-Cookie"), "\n"); strings.Contains(sc, "__Host-") || strings.Contains(sc, "Secure") || strings.Contains(page.Body, "evil.example") {
		t.Fatalf("forged headers from a client changed the page: %d %q", page.Status, sc)
	}
	if r := mallory.Do("GET", "/app", nil, forged); r.Status != http.StatusFound || strings.Contains(r.Location, "evil") || strings.Contains(r.Location, "https") {
		t.Fatalf("forged headers from a client changed the redirect: %d %q", r.Status, r.Location)
	}
}

// countingProxy forwards TCP connections from a local port to target and
// counts them: how many connections a client opened to target.
func countingProxy(t *testing.T, target string) (addr string, conns *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// TestForwardAuthThroughCaddy puts Stepgate behind Caddy's forward_auth,
// as it would sit behind any proxy: the app's site asks Stepgate's
// endpoint about each request and sends /.stepgate/ to Stepgate.
func TestForwardAuthThroughCaddy(t *testing.T) {
	backend := echoBackend(t)
	block, _ := stepgateBlock(t, usersWithAnAdmin(t), "")
	authz, conns := countingProxy(t, "127.0.0.1:9091")
	site, err := os.ReadFile("testdata/forward-auth.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{{site}}", base, "{{stepgate}}", "127.0.0.1:9091", "{{authz}}", authz, "{{app}}", backend)
	startCaddyfileWith(t, `servers 127.0.0.1:9091 {
		trusted_proxies static 127.0.0.1/32
	}`, block, `
http://:9091 {
	stepgate
}
`+fill.Replace(string(site)))

	c := newClient(t)
	if r := c.get("/reports?x=1"); r.status != http.StatusFound || r.location != base+"/.stepgate/?rd=%2Freports%3Fx%3D1" || strings.Contains(r.body, "BACKEND") {
		t.Fatalf("unauthenticated: %d %q", r.status, r.location)
	}
	api := c.do("GET", base+"/reports", nil, map[string]string{"Accept": "application/json"})
	if api.status != http.StatusUnauthorized || strings.Contains(api.body, "BACKEND") {
		t.Fatalf("unauthenticated API client: %d %s", api.status, api.body)
	}
	if _, r := c.register("alice", "/reports?x=1"); r.status != http.StatusSeeOther || r.location != "/reports?x=1" {
		t.Fatalf("sign-in: %d %q", r.status, r.location)
	}
	appSeesOnlyAlice(t, c, base)
	pathRulesHold(t, c, base)

	// 2,000 requests from four keep-alive clients reuse Caddy's pooled
	// connections to Stepgate: its 200 has no body, which forward_auth
	// would otherwise throw its connection away for.
	before := conns.Load()
	var wg sync.WaitGroup
	var failed atomic.Int64
	cookie := c.cookie("stepgate")
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for range 500 {
				req, _ := http.NewRequest("GET", base+"/reports", nil)
				req.Header.Set("Cookie", "stepgate="+cookie)
				res, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 2000 requests failed", n)
	}
	if n := conns.Load() - before; n > 8 {
		t.Fatalf("2000 requests opened %d connections to Stepgate", n)
	} else {
		t.Logf("2000 requests opened %d connections to Stepgate", n)
	}

	// Sign-out ends it.
	if r := c.post("/.stepgate/logout", "/.stepgate/logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("sign-out: %d", r.status)
	}
	if r := c.do("GET", base+"/reports", nil, map[string]string{"Cookie": "stepgate=" + cookie}); r.status != http.StatusFound {
		t.Fatalf("the old cookie after sign-out: %d", r.status)
	}
}

// appSeesOnlyAlice: signed in as alice (group staff), c's request to the
// app at site carries Stepgate's identity headers and none of the copies
// the client sent, in any spelling a proxy passes on; /admin/ is for
// admins only.
func appSeesOnlyAlice(t *testing.T, c *client, site string) {
	t.Helper()
	spoof := map[string]string{"Remote-User": "admin", "remote-user": "admin", "REMOTE-USER": "admin", "Remote_User": "admin",
		"Remote-Groups": "admins", "Remote-Email": "admin@example.com", "Remote-Name": "admin", "Remote-Auth-Methods": "admin,passkey"}
	app := c.do("GET", site+"/reports?x=1", nil, spoof)
	if app.status != http.StatusOK || !strings.Contains(app.body, "BACKEND /reports?x=1") ||
		!strings.Contains(app.body, "\nRemote-User: alice\n") || !strings.Contains(app.body, "\nRemote-Groups: staff\n") ||
		!strings.Contains(app.body, "\nRemote-Email: alice@example.com\n") || !strings.Contains(app.body, "\nRemote-Name: Alice Example\n") ||
		!strings.Contains(app.body, "\nRemote-Auth-Methods: password,totp\n") || strings.Contains(app.body, "admin") {
		t.Fatalf("the app: %d %s", app.status, app.body)
	}
	if r := c.get("/admin/users"); r.status != http.StatusForbidden || strings.Contains(r.body, "BACKEND") {
		t.Fatalf("not an admin: %d %s", r.status, r.body)
	}
}

// TestDenyThroughCaddy: a deny line refuses a user the allow lines (here,
// none) would let in, and leaves everyone else alone.
func TestDenyThroughCaddy(t *testing.T) {
	backend := echoBackend(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice", "bob"), "")
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	stepgate {
		deny user bob
	}
	reverse_proxy %s
}
`, backend))
	for _, tc := range []struct {
		user   string
		status int
	}{{"alice", http.StatusOK}, {"bob", http.StatusForbidden}} {
		c := newClient(t)
		if _, r := c.register(tc.user, "/app"); r.status != http.StatusSeeOther {
			t.Fatalf("%s signing in: %d", tc.user, r.status)
		}
		if r := c.get("/app"); r.status != tc.status || (tc.status == http.StatusOK) != strings.Contains(r.body, "BACKEND") {
			t.Fatalf("%s: %d %s", tc.user, r.status, r.body)
		}
	}
}

// usersWithAnAdmin writes a users file with alice (group staff) and root
// (groups staff and admins).
func usersWithAnAdmin(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "users.yaml")
	users := "users:\n" +
		"  alice:\n    display_name: Alice Example\n    email: alice@example.com\n    groups: [staff]\n    password: '" + testHash + "'\n" +
		"  root:\n    groups: [staff, admins]\n    password: '" + testHash + "'\n"
	if err := os.WriteFile(path, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawGet asks for path exactly as written, without the client cleaning
// or escaping it, and reports the status and whether the app answered.
func rawGet(t *testing.T, c *client, site, path string) (int, bool) {
	t.Helper()
	status, uri := appGet(t, c, site, path)
	return status, uri != ""
}

// publicRulesHold: behind README's set-up, which leaves /public/ open to
// everyone, a client that is not signed in reaches every path there, with
// no identity header of its own, and no spelling of anything else.
func publicRulesHold(t *testing.T, site string) {
	t.Helper()
	anon := newClientAt(t, site)
	for _, p := range gatewaytest.PublicSpellings {
		if status, reached := rawGet(t, anon, site, p); reached {
			t.Errorf("not signed in, %s: %d, reached the app", p, status)
		}
	}
	for _, p := range gatewaytest.PublicPaths {
		if status, reached := rawGet(t, anon, site, p); !reached || status != http.StatusOK {
			t.Errorf("not signed in, the open %s: %d", p, status)
		}
	}
	r := anon.do("GET", site+"/public/x", nil, map[string]string{"Remote-User": "root", "Remote-Groups": "admins"})
	if r.status != http.StatusOK || strings.Contains(r.body, "Remote-User") || strings.Contains(r.body, "Remote-Groups") {
		t.Errorf("a client's own identity headers on /public/: %d %s", r.status, r.body)
	}
}

// pathRulesHold: behind README's set-up, with admins-only as the rule for
// everything but a few exceptions, alice (signed in, not an admin) never
// reaches any spelling of /admin/ an app might read as it, and still
// reaches the exceptions; root (an admin) reaches /admin/users.
func pathRulesHold(t *testing.T, alice *client, site string) {
	t.Helper()
	for _, p := range gatewaytest.AdminSpellings {
		if status, reached := rawGet(t, alice, site, p); reached {
			t.Errorf("alice (not an admin) on %s: %d, reached the app", p, status)
		}
	}
	for _, p := range []string{"/reports", "/reports/q?x=1", "/static/app.css"} {
		if status, reached := rawGet(t, alice, site, p); !reached || status != http.StatusOK {
			t.Errorf("alice on the exception %s: %d", p, status)
		}
	}
	publicRulesHold(t, site)
	root := newClientAt(t, site)
	if _, r := root.register("root", "/admin/users"); r.status != http.StatusSeeOther {
		t.Fatalf("root signing in: %d", r.status)
	}
	if status, reached := rawGet(t, root, site, "/admin/users"); !reached || status != http.StatusOK {
		t.Errorf("root (an admin) on /admin/users: %d", status)
	}
}
