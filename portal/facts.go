package portal

import (
	"net"
	"net/http"
	"strings"
)

// Facts are what Stepgate needs to know about a request to decide it,
// whichever door the request came through: Caddy's own handler reads them
// off the request it serves; a forward-auth endpoint will read them off the
// headers its proxy sends. Every decision and every cookie name, audience
// and redirect is derived from them, never from the transport directly.
type Facts struct {
	// Scheme is "https" or "http": what the browser used.
	Scheme string
	// Host is the host the browser asked for, with the port when it named
	// one ("app.example.com", "localhost:8080").
	Host string
	// Method is the request's method.
	Method string
	// URI is the request target: the path and the query.
	URI string
	// Cookies are the request's Cookie header lines, as sent.
	Cookies []string
	// ClientIP is the browser's address.
	ClientIP string
	// WantsHTML is true when the client is a browser navigating: it gets
	// a redirect or a page, where API clients get a status they can act on.
	WantsHTML bool
}

// Secure reports whether the browser used HTTPS.
func (f *Facts) Secure() bool { return f.Scheme == "https" }

// Origin is the scheme and host the browser used, as in a URL.
func (f *Facts) Origin() string { return f.Scheme + "://" + f.Host }

// FactsOf reads the facts of a request Caddy (or any net/http server)
// serves directly: the scheme and host from the connection and the Host
// header, or from a trusted proxy's X-Forwarded-Proto and X-Forwarded-Host
// (see schemeHost); the client from the ClientIP hook.
//
// It and schemeHost are the only places in the portal that read the
// transport: pages and decisions use what they return.
func (p *Portal) FactsOf(r *http.Request) Facts {
	f := p.decisionFacts(r)
	p.answerFacts(r, &f)
	return f
}

// decisionFacts reads the facts Decide uses: scheme, host, method, URI
// and cookies.
func (p *Portal) decisionFacts(r *http.Request) Facts {
	scheme, host := p.schemeHost(r)
	return Facts{Scheme: scheme, Host: host, Method: r.Method, URI: r.URL.RequestURI(), Cookies: r.Header["Cookie"]}
}

// answerFacts adds the facts only an answer other than Allow uses: the
// client (for the audit) and whether it is a browser (redirect or status).
// The in-process front door reads them only when it needs them.
func (p *Portal) answerFacts(r *http.Request, f *Facts) {
	f.ClientIP = p.cfg.ClientIP(r)
	f.WantsHTML = wantsHTML(r)
}

// schemeHost is the scheme and host the browser used. They are the
// connection's (TLS or not) and the Host header's, unless the request
// comes from a trusted proxy (Caddy's trusted_proxies) that says otherwise
// in X-Forwarded-Proto and X-Forwarded-Host: a load balancer that ends
// TLS in front of Caddy. From anyone else those headers are ignored, and
// so is a value that is not one clear scheme or host.
func (p *Portal) schemeHost(r *http.Request) (scheme, host string) {
	scheme, host = "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	proto, fhost := r.Header["X-Forwarded-Proto"], r.Header["X-Forwarded-Host"]
	if len(proto) == 0 && len(fhost) == 0 || !p.cfg.TrustedProxy(r) {
		return scheme, host
	}
	if v, ok := forwardedProto(proto); ok {
		scheme = v
	}
	if v, ok := forwardedHost(fhost); ok {
		host = v
	}
	return scheme, host
}

// forwardedProto is the scheme in X-Forwarded-Proto's values: exactly one
// value, "http" or "https" in any case.
func forwardedProto(vals []string) (string, bool) {
	if len(vals) != 1 {
		return "", false
	}
	switch v := strings.TrimSpace(vals[0]); {
	case strings.EqualFold(v, "https"):
		return "https", true
	case strings.EqualFold(v, "http"):
		return "http", true
	}
	return "", false
}

// forwardedHost is the host in X-Forwarded-Host's values: exactly one
// value, a host name or IP address with an optional port, nothing else.
func forwardedHost(vals []string) (string, bool) {
	if len(vals) != 1 {
		return "", false
	}
	v := strings.TrimSpace(vals[0])
	if !validHost(v) {
		return "", false
	}
	return v, true
}

// validHost reports whether hostport is a DNS name, an IPv4 address or a
// bracketed IPv6 address, with an optional numeric port.
func validHost(hostport string) bool {
	if hostport == "" || len(hostport) > 255 {
		return false
	}
	if hostport[0] == '[' {
		end := strings.IndexByte(hostport, ']')
		if end < 0 || net.ParseIP(hostport[1:end]) == nil {
			return false
		}
		rest := hostport[end+1:]
		return rest == "" || rest[0] == ':' && validPort(rest[1:])
	}
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		if !validPort(hostport[i+1:]) {
			return false
		}
		host = hostport[:i]
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validPort(port string) bool {
	return port != "" && len(port) <= 5 && strings.Trim(port, "0123456789") == ""
}

// isSecure reports whether the browser used HTTPS (see schemeHost).
func (p *Portal) isSecure(r *http.Request) bool {
	scheme, _ := p.schemeHost(r)
	return scheme == "https"
}

// hostOf is the host the browser asked for, with its port (see schemeHost).
func (p *Portal) hostOf(r *http.Request) string {
	_, host := p.schemeHost(r)
	return host
}

// requestHost is the host the browser asked for, without port, lower case.
func (p *Portal) requestHost(r *http.Request) string { return hostname(p.hostOf(r)) }

// hostname strips the port and brackets from hostport and lower-cases it.
func hostname(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}

// wantsHTML reports whether the client is a browser navigating, which gets
// a redirect; API clients and scripts get a 401 they can act on.
func wantsHTML(r *http.Request) bool {
	// The keys are canonical already (the server canonicalises every
	// header it reads), so the map is read directly: Header.Get would
	// canonicalise them again on every request.
	if v := r.Header["X-Requested-With"]; len(v) > 0 && v[0] != "" {
		return false
	}
	accept := r.Header["Accept"]
	return len(accept) > 0 && strings.Contains(accept[0], "text/html")
}
