package portal

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
)

type siteKey struct{}

// WithSite returns a copy of ctx that names the site a request to the
// portal arrived on, as the server's configuration names it. Approval
// requests show that name on the phone ("Sign in to app.example.com?"),
// so it must never be a Host header the client chose, as on a wildcard
// or catch-all site. "" names no site: the issuer is shown instead.
func WithSite(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, siteKey{}, name)
}

// siteName is the name of the site r arrived on (see WithSite), with its
// port when that is not its scheme's default (the address the user sees:
// "localhost:8080"), or the issuer's name when the front door gave none.
// The port is the one the server listens on or, for a request from a
// trusted proxy, the one the proxy passes on (in X-Forwarded-Host or
// Host); never a port a browser chose alone.
func (p *Portal) siteName(r *http.Request) string {
	name, _ := r.Context().Value(siteKey{}).(string)
	if name == "" {
		return p.cfg.Issuer
	}
	scheme, hostport := p.schemeHost(r)
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && !p.cfg.TrustedProxy(r) {
		hostport = a.String()
	}
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return name
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || scheme == "https" && n == 443 || scheme == "http" && n == 80 {
		return name
	}
	if strings.Contains(name, ":") { // an IPv6 address
		name = "[" + name + "]"
	}
	return name + ":" + strconv.Itoa(n)
}
