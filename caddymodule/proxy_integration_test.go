package caddymodule_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
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
