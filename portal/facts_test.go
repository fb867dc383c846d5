package portal

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// trustFrom makes the portal believe forwarded headers from peer alone,
// as caddymodule does for Caddy's trusted_proxies.
func trustFrom(peer string) envOption {
	return func(c *Config) {
		c.TrustedProxy = func(r *http.Request) bool { return remoteIP(r) == peer }
	}
}

// TestSchemeHostFromTrustedProxiesOnly: X-Forwarded-Proto and -Host count
// only from a trusted proxy, and only when each is one clear value.
func TestSchemeHostFromTrustedProxiesOnly(t *testing.T) {
	e := newEnv(t, trustFrom("10.0.0.1"))
	for _, tc := range []struct {
		name, peer string
		tls        bool
		hdr        map[string][]string
		scheme     string
		host       string
	}{
		{"the connection", "10.0.0.9", false, nil, "http", "app.example.com"},
		{"the connection, TLS", "10.0.0.9", true, nil, "https", "app.example.com"},
		{"an untrusted client's forgery", "10.0.0.9", false,
			map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.example"}}, "http", "app.example.com"},
		{"a TLS load balancer", "10.0.0.1", false,
			map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com"}}, "https", "app.example.com"},
		{"any case, spaces", "10.0.0.1", false, map[string][]string{"X-Forwarded-Proto": {" HTTPS "}}, "https", "app.example.com"},
		{"the proxy's own host and port", "10.0.0.1", true,
			map[string][]string{"X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"Other.Example.com:8443"}}, "http", "Other.Example.com:8443"},
		{"IPv6", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {"[2001:db8::1]:8443"}}, "http", "[2001:db8::1]:8443"},
		{"a list is not one value", "10.0.0.1", false,
			map[string][]string{"X-Forwarded-Proto": {"https, http"}, "X-Forwarded-Host": {"a.example, b.example"}}, "http", "app.example.com"},
		{"two header lines", "10.0.0.1", false,
			map[string][]string{"X-Forwarded-Proto": {"https", "https"}, "X-Forwarded-Host": {"a.example", "a.example"}}, "http", "app.example.com"},
		{"not a scheme", "10.0.0.1", false, map[string][]string{"X-Forwarded-Proto": {"wss"}}, "http", "app.example.com"},
		{"a path in the host", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {"evil.example/x"}}, "http", "app.example.com"},
		{"user info in the host", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {"a@evil.example"}}, "http", "app.example.com"},
		{"a bad port", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {"a.example:99x"}}, "http", "app.example.com"},
		{"an empty port", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {"a.example:"}}, "http", "app.example.com"},
		{"an empty host", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {""}}, "http", "app.example.com"},
		{"a bad IPv6 address", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {"[evil]:1"}}, "http", "app.example.com"},
		{"control characters", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {"a.example\r\nX: y"}}, "http", "app.example.com"},
		{"too long", "10.0.0.1", false, map[string][]string{"X-Forwarded-Host": {strings.Repeat("a", 256)}}, "http", "app.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://app.example.com/", nil)
			r.RemoteAddr = tc.peer + ":40000"
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tc.hdr {
				r.Header[k] = v
			}
			scheme, host := e.p.schemeHost(r)
			if scheme != tc.scheme || host != tc.host {
				t.Fatalf("got %s://%s, want %s://%s", scheme, host, tc.scheme, tc.host)
			}
			f := e.p.FactsOf(r)
			if f.Scheme != tc.scheme || f.Host != tc.host {
				t.Fatalf("facts: %s://%s", f.Scheme, f.Host)
			}
		})
	}
}

// TestSignInBehindTLSProxy: behind a trusted proxy that ends TLS, the
// portal serves the sign-in (no plain-HTTP refusal) with HTTPS's cookie
// names and the Secure flag; the same headers from anybody else change
// nothing.
func TestSignInBehindTLSProxy(t *testing.T) {
	e := newEnv(t, trustFrom("10.0.0.1"))
	get := func(peer string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://app.example.com/.stepgate/", nil)
		r.RemoteAddr = peer + ":40000"
		r.Header.Set("Accept", "text/html")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.example.com")
		w := httptest.NewRecorder()
		e.p.ServeHTTP(w, r)
		return w
	}
	w := get("10.0.0.1")
	if w.Code != http.StatusOK {
		t.Fatalf("behind the proxy: %d %s", w.Code, w.Body)
	}
	c := w.Result().Cookies()
	if len(c) != 1 || c[0].Name != hostNames.csrf || !c[0].Secure {
		t.Fatalf("cookies behind the proxy: %v", c)
	}
	// From a client that is not the proxy, plain HTTP off loopback is
	// refused as before.
	if w := get("10.0.0.9"); w.Code == http.StatusOK || len(w.Result().Cookies()) != 0 {
		t.Fatalf("forged by a client: %d %v", w.Code, w.Result().Cookies())
	}
}
