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

// Hostname is the host without port, lower case.
func (f *Facts) Hostname() string { return hostname(f.Host) }

// FactsOf reads the facts of a request Caddy (or any net/http server)
// serves directly: the scheme from the connection's TLS state, the host
// from the Host header, the client from the ClientIP hook.
//
// It is, with isSecure and hostOf below, the only place in the portal
// that reads the transport: pages and decisions use what these return.
func (p *Portal) FactsOf(r *http.Request) Facts {
	f := decisionFacts(r)
	p.answerFacts(r, &f)
	return f
}

// decisionFacts reads the facts Decide uses: scheme, host, method, URI
// and cookies.
func decisionFacts(r *http.Request) Facts {
	return Facts{Scheme: scheme(r), Host: hostOf(r), Method: r.Method, URI: r.URL.RequestURI(), Cookies: r.Header["Cookie"]}
}

// answerFacts adds the facts only an answer other than Allow uses: the
// client (for the audit) and whether it is a browser (redirect or status).
// The in-process front door reads them only when it needs them.
func (p *Portal) answerFacts(r *http.Request, f *Facts) {
	f.ClientIP = p.cfg.ClientIP(r)
	f.WantsHTML = wantsHTML(r)
}

// isSecure reports whether r came over HTTPS, as FactsOf reads it.
func isSecure(r *http.Request) bool { return r.TLS != nil }

func scheme(r *http.Request) string {
	if isSecure(r) {
		return "https"
	}
	return "http"
}

// hostOf is the host r asked for, with its port, as FactsOf reads it.
func hostOf(r *http.Request) string { return r.Host }

// requestHost is r's host without port, lower case.
func requestHost(r *http.Request) string { return hostname(hostOf(r)) }

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
