package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// The forward-auth endpoints: a proxy in front of an app (nginx, Traefik,
// Caddy's forward_auth) asks Stepgate about each request, and Stepgate
// answers from the same decision as its in-process handler.
const (
	// ForwardAuthPath answers Traefik's ForwardAuth and Caddy's
	// forward_auth: the request is described by X-Forwarded-Method,
	// -Proto, -Host and -Uri. Browsers without a session get a redirect to
	// sign in.
	ForwardAuthPath = Prefix + "authz/forward-auth"
	// AuthRequestPath answers nginx's auth_request: the request is
	// described by X-Original-URL (and X-Original-Method), or by the
	// X-Forwarded set. nginx understands only 2xx, 401 and 403, so a
	// browser to be sent to sign in gets 401 with the sign-in URL in
	// Location, for nginx's error_page to redirect to.
	AuthRequestPath = Prefix + "authz/auth-request"
)

// Header values every answer shares, so answering allocates no slice for
// them (capacity 1: an append elsewhere copies instead of writing here).
var (
	noStore    = []string{"no-store"}[:1:1]
	zeroLength = []string{"0"}[:1:1]
)

// maxForwardedURI bounds the URI a proxy may describe; longer ones are
// refused (fail closed) rather than cut.
const maxForwardedURI = 8 << 10

// authzPolicies caches the policies parsed from the endpoints' query
// strings: they come from the proxies' configuration, so there are few.
type authzPolicies struct {
	mu sync.RWMutex
	m  map[string]Policy
}

const maxCachedPolicies = 256

// policy parses an endpoint's query: allow_user, allow_group, deny_user
// and deny_group, each repeatable and comma-separated. Anything else is an error: a typo must
// not open a protected site to everyone.
func (c *authzPolicies) policy(raw string) (Policy, error) {
	c.mu.RLock()
	pol, ok := c.m[raw]
	c.mu.RUnlock()
	if ok {
		return pol, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return Policy{}, errBadQuery("the query string cannot be read")
	}
	for key, vals := range q {
		var dst *[]string
		switch key {
		case "allow_user":
			dst = &pol.Users
		case "allow_group":
			dst = &pol.Groups
		case "deny_user":
			dst = &pol.DenyUsers
		case "deny_group":
			dst = &pol.DenyGroups
		case "require":
			if len(vals) != 1 || vals[0] != "phishing_resistant" {
				return Policy{}, errBadQuery("require takes phishing_resistant")
			}
			pol.PhishingResistant = true
			continue
		default:
			return Policy{}, errBadQuery("unknown parameter " + strconv.Quote(key) + " (use allow_user, allow_group, deny_user, deny_group or require)")
		}
		for _, v := range vals {
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name == "" {
					return Policy{}, errBadQuery(key + " needs a name")
				}
				*dst = append(*dst, name)
			}
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedPolicies {
		c.m = make(map[string]Policy)
	}
	c.m[raw] = pol
	c.mu.Unlock()
	return pol, nil
}

type errBadQuery string

func (e errBadQuery) Error() string { return string(e) }

// serveAuthz answers a forward-auth request (ForwardAuthPath or
// AuthRequestPath). Only a trusted proxy may ask: the request it
// describes is taken from its headers. Anything missing or malformed
// fails closed.
func (p *Portal) serveAuthz(w http.ResponseWriter, r *http.Request, nginx bool) {
	h := w.Header()
	h["Cache-Control"] = noStore
	if !p.cfg.TrustedProxy(r) {
		p.untrustedAuthz.Do(func() {
			p.log.Error("a forward-auth request came from a client that is not in Caddy's trusted_proxies; it was refused (add the proxy's address to trusted_proxies)",
				zap.String("remote_addr", r.RemoteAddr), zap.String("path", r.URL.Path))
		})
		writeError(w, http.StatusForbidden, `{"error":"untrusted_proxy","message":"only a proxy in trusted_proxies may ask"}`)
		return
	}
	pol, err := p.authzPolicies.policy(r.URL.RawQuery)
	if err != nil {
		p.badAuthzQuery.Do(func() {
			p.log.Error("a forward-auth request had a query Stepgate cannot read as a policy; it was refused (with Caddy's forward_auth, end the uri with \"?\" or a policy, or Caddy passes on the app's query string)",
				zap.String("query", r.URL.RawQuery), zap.Error(err))
		})
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_policy", "message": err.Error()})
		return
	}
	f, ok := forwardedFacts(r, nginx)
	if !ok {
		writeError(w, http.StatusBadRequest, `{"error":"bad_request","message":"the proxy must describe the request (X-Forwarded-Method, -Proto, -Host and -Uri, or X-Original-URL)"}`)
		return
	}
	d := p.Decide(&f, pol)
	switch d.Outcome {
	case Allow:
		p.setIdentityHeaders(h, d.Identity)
		if d.Refresh != nil {
			http.SetCookie(w, d.Refresh)
		}
		// No body: Caddy's forward_auth drops a pooled connection when a
		// 2xx answer has one.
		h["Content-Length"] = zeroLength
		w.WriteHeader(http.StatusOK)
		return
	case Forbidden:
		p.answerFacts(r, &f)
		p.audit(r, "access-denied", d.Identity.User.Name, "", "denied", zap.String("url", f.Origin()+f.URI))
		writeError(w, http.StatusForbidden, `{"error":"forbidden","message":"your account may not use this resource"}`)
		return
	}
	// SignIn or StepUp: browsers go to d.Location.
	browser := wantsHTML(r)
	switch {
	case browser && nginx:
		h.Set("Location", d.Location)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthenticated", "message": "sign in at " + d.Location})
	case browser:
		http.Redirect(w, r, d.Location, http.StatusFound)
	case d.Outcome == StepUp:
		p.stepUpRequired(w, &f, d)
	default:
		p.unauthenticated(w, &f)
	}
}

// forwardedFacts reads the request a proxy describes. Each header must be
// there exactly once and make sense; otherwise ok is false.
func forwardedFacts(r *http.Request, nginx bool) (f Facts, ok bool) {
	f.Cookies = r.Header["Cookie"]
	if orig := r.Header["X-Original-Url"]; nginx && len(orig) > 0 {
		if len(orig) != 1 {
			return f, false
		}
		u, err := url.Parse(orig[0])
		if err != nil || u.User != nil || u.Opaque != "" || (u.Scheme != "http" && u.Scheme != "https") || !validHost(u.Host) {
			return f, false
		}
		f.Scheme, f.Host, f.URI = u.Scheme, u.Host, u.RequestURI()
		f.Method = http.MethodGet
		if m, present := r.Header["X-Original-Method"]; present {
			if len(m) != 1 || !validMethod(m[0]) {
				return f, false
			}
			f.Method = m[0]
		}
		return f, validURI(f.URI)
	}
	var one = func(key string) (string, bool) {
		v := r.Header[key]
		if len(v) != 1 {
			return "", false
		}
		return strings.TrimSpace(v[0]), true
	}
	var host, uri, method string
	if f.Scheme, ok = forwardedProto(r.Header["X-Forwarded-Proto"]); !ok {
		return f, false
	}
	if host, ok = forwardedHost(r.Header["X-Forwarded-Host"]); !ok {
		return f, false
	}
	if uri, ok = one("X-Forwarded-Uri"); !ok || !validURI(uri) {
		return f, false
	}
	if method, ok = one("X-Forwarded-Method"); !ok || !validMethod(method) {
		return f, false
	}
	f.Host, f.URI, f.Method = host, uri, method
	return f, true
}

// validURI reports whether uri is an origin-form request target: a path
// from the root with an optional query, printable ASCII only.
func validURI(uri string) bool {
	if uri == "" || uri[0] != '/' || len(uri) > maxForwardedURI {
		return false
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// validMethod reports whether m is an HTTP method token in upper case.
func validMethod(m string) bool {
	if m == "" || len(m) > 20 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
