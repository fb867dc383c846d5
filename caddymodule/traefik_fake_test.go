package caddymodule_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// No Traefik binary can be built here, so fakeTraefik plays its part: an
// HTTPS entry point with the routers, middlewares and services of a
// dynamic configuration, doing to each request what Traefik v3 does,
// written from its source (github.com/traefik/traefik v3.7.9, commit
// fd5a576d):
//
//   - the entry point (pkg/server/server_entrypoint_tcp.go): denyFragment,
//     normalizePath, sanitizePath, http.AllowQuerySemicolons; then
//     pkg/middlewares/forwardedheaders/forwarded_header.go with no
//     forwardedHeaders.trustedIPs: a client's X-Forwarded-* (and X-Real-Ip)
//     are removed, then X-Real-Ip, X-Forwarded-Proto, -Port, -Host and
//     -Server set;
//   - routing (pkg/muxer/http): rules on the canonical host and the routing
//     path, highest priority first, the rule's length when none is set;
//     only routers with tls serve an HTTPS entry point;
//   - forwardAuth (pkg/middlewares/auth/forward.go): every field README's
//     set-up uses, as ServeHTTP, writeHeader and buildModifier do;
//   - headers (pkg/middlewares/headers/header.go): customRequestHeaders;
//   - services (pkg/proxy/httputil/proxy.go): the client's Host passed on,
//     X-Forwarded-For, -Host and -Proto kept, the client appended to
//     X-Forwarded-For.
//
// Not reproduced: websockets, HTTP/2 and HTTP/3, tracing and access logs,
// trusted IPs, host wildcards, load balancing over several servers, and
// every middleware and option README does not use (newFakeTraefik refuses
// them).
type fakeTraefik struct {
	routes   []fakeRoute
	hostname string
}

type fakeRoute struct {
	name     string
	priority int
	match    traefikMatcher
	handler  http.Handler
}

// startFakeTraefik serves cfg's routers on the entry point "websecure"
// over HTTPS and returns its URL, https://localhost:<port>.
func startFakeTraefik(t *testing.T, cfg *traefikDynamic) string {
	t.Helper()
	ft, err := newFakeTraefik(cfg, "websecure", t.Logf)
	if err != nil {
		t.Fatalf("the test's Traefik refuses the configuration: %v", err)
	}
	srv := httptest.NewUnstartedServer(ft.entryPoint())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "https://localhost:" + port
}

// traefikClientTransport trusts the test Traefik's certificate.
func traefikClientTransport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
}

func newFakeTraefik(cfg *traefikDynamic, entryPoint string, logf func(string, ...any)) (*fakeTraefik, error) {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "localhost"
	}
	ft := &fakeTraefik{hostname: hostname}
	services := map[string]http.Handler{}
	for name, s := range cfg.HTTP.Services {
		if len(s.LoadBalancer.Servers) != 1 {
			return nil, errors.New("service " + name + ": the test runs one server per service")
		}
		u, err := url.Parse(s.LoadBalancer.Servers[0].URL)
		if err != nil {
			return nil, err
		}
		passHost := s.LoadBalancer.PassHostHeader == nil || *s.LoadBalancer.PassHostHeader
		services[name] = traefikProxy(u, passHost)
	}
	for name, r := range cfg.HTTP.Routers {
		if len(r.EntryPoints) > 0 && !slices.Contains(r.EntryPoints, entryPoint) || r.TLS == nil {
			continue
		}
		h := services[traefikLocalName(r.Service)]
		for i := len(r.Middlewares) - 1; i >= 0; i-- {
			m := cfg.HTTP.Middlewares[traefikLocalName(r.Middlewares[i])]
			switch {
			case m.ForwardAuth != nil:
				fa, err := newFakeForwardAuth(m.ForwardAuth, h, logf)
				if err != nil {
					return nil, err
				}
				h = fa
			case m.Headers != nil && len(m.Headers.CustomResponseHeaders) == 0:
				h = traefikCustomRequestHeaders(m.Headers.CustomRequestHeaders, h)
			default:
				return nil, errors.New("middleware " + r.Middlewares[i] + " is not one the test reproduces")
			}
		}
		match, err := parseTraefikRule(r.Rule)
		if err != nil {
			return nil, err
		}
		priority := r.Priority
		if priority == 0 {
			priority = len(r.Rule)
		}
		ft.routes = append(ft.routes, fakeRoute{name, priority, match, h})
	}
	sort.Slice(ft.routes, func(i, j int) bool {
		a, b := ft.routes[i], ft.routes[j]
		return a.priority > b.priority || a.priority == b.priority && a.name < b.name
	})
	return ft, nil
}

// entryPoint is the handler chain of an HTTPS entry point with Traefik's
// defaults, outermost first.
func (ft *fakeTraefik) entryPoint() http.Handler {
	var h http.Handler = http.HandlerFunc(ft.route)
	h = ft.forwardedHeaders(h)
	h = http.AllowQuerySemicolons(h)
	h = traefikSanitizePath(h)
	h = traefikNormalizePath(h)
	return traefikDenyFragment(h)
}

func traefikDenyFragment(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawPath, "#") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// traefikNormalizePath decodes percent-encoded unreserved characters in the raw
// path and writes the other encodings in upper case.
func traefikNormalizePath(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.RawPath
		if raw == "" {
			h.ServeHTTP(w, r)
			return
		}
		var b strings.Builder
		for i := 0; i < len(raw); i++ {
			if raw[i] != '%' {
				b.WriteByte(raw[i])
				continue
			}
			if i+2 >= len(raw) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			enc := strings.ToUpper(raw[i : i+3])
			if c, err := url.PathUnescape(enc); err == nil && traefikUnreserved(c[0]) {
				b.WriteByte(c[0])
			} else {
				b.WriteString(enc)
			}
			i += 2
		}
		if b.String() == raw {
			h.ServeHTTP(w, r)
			return
		}
		r2 := *r
		u := *r.URL
		u.RawPath = b.String()
		r2.URL = &u
		r2.RequestURI = u.RequestURI()
		h.ServeHTTP(w, &r2)
	})
}

// traefikUnreserved reports whether c is one of RFC 3986's unreserved characters.
func traefikUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// traefikSanitizePath removes dot segments and repeated slashes.
func traefikSanitizePath(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := *r
		r2.URL = r.URL.JoinPath()
		r2.RequestURI = r2.URL.RequestURI()
		h.ServeHTTP(w, &r2)
	})
}

// traefikXHeaders are the headers Traefik manages (forwardedheaders.XHeadersSet).
var traefikXHeaders = []string{"X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Forwarded-For", "X-Forwarded-Host",
	"X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Prefix",
	"X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info", "X-Scheme", "X-Real-Ip"}

// traefikManagedXHeader reports whether key is one of traefikXHeaders, with "_"
// read as "-".
func traefikManagedXHeader(key string) bool {
	return slices.Contains(traefikXHeaders, http.CanonicalHeaderKey(strings.ReplaceAll(key, "_", "-")))
}

func traefikDeleteXForwarded(h http.Header) {
	for k := range h {
		if traefikManagedXHeader(k) {
			delete(h, k)
		}
	}
}

// forwardedHeaders is the entry point's X-Forwarded-* handling for a
// client that is not a trusted proxy.
func (ft *fakeTraefik) forwardedHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traefikDeleteXForwarded(r.Header)
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && r.Header.Get("X-Real-Ip") == "" {
			r.Header.Set("X-Real-Ip", ip)
		}
		if r.Header.Get("X-Forwarded-Proto") == "" {
			if r.TLS != nil {
				r.Header.Set("X-Forwarded-Proto", "https")
			} else {
				r.Header.Set("X-Forwarded-Proto", "http")
			}
		}
		if r.Header.Get("X-Forwarded-Port") == "" {
			r.Header.Set("X-Forwarded-Port", traefikForwardedPort(r, r.Header))
		}
		if r.Header.Get("X-Forwarded-Host") == "" && r.Host != "" {
			r.Header.Set("X-Forwarded-Host", r.Host)
		}
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			r.Header.Set("X-Forwarded-For", strings.Join(xff, ", "))
		}
		r.Header.Set("X-Forwarded-Server", ft.hostname)
		// Connection may not name a managed header.
		for _, f := range r.Header["Connection"] {
			for sf := range strings.SplitSeq(f, ",") {
				if sf = textproto.TrimString(sf); sf != "" && !traefikManagedXHeader(sf) {
					r.Header.Del(sf)
				}
			}
		}
		r.Header.Del("Connection")
		h.ServeHTTP(w, r)
	})
}

// traefikForwardedPort is the port the client asked for.
func traefikForwardedPort(r *http.Request, h http.Header) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		return port
	}
	if p := h.Get("X-Forwarded-Proto"); p == "https" || p == "wss" || r.TLS != nil {
		return "443"
	}
	return "80"
}

// route passes the request to the first route whose rule matches.
func (ft *fakeTraefik) route(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSpace(host))
	path, err := traefikRoutingPath(r.URL.EscapedPath())
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, rt := range ft.routes {
		if rt.match(host, path) {
			rt.handler.ServeHTTP(w, r)
			return
		}
	}
	http.NotFound(w, r)
}

// traefikRoutingPath is the escaped path with every encoding but that of a
// reserved character (or "%") decoded: what Path rules compare.
func traefikRoutingPath(escaped string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(escaped); i++ {
		if escaped[i] != '%' {
			b.WriteByte(escaped[i])
			continue
		}
		if i+2 >= len(escaped) {
			return "", errors.New("invalid percent-encoding")
		}
		enc := escaped[i : i+3]
		c, err := url.PathUnescape(enc)
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(c, ":/?#[]@!$&'()*+,;=%") && strings.ToUpper(enc) == enc {
			b.WriteString(enc)
		} else {
			b.WriteString(c)
		}
		i += 2
	}
	return b.String(), nil
}

// traefikCustomRequestHeaders sets each header, or removes it when its value is
// empty.
func traefikCustomRequestHeaders(headers map[string]string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range headers {
			switch {
			case v == "" && k == "X-Forwarded-For":
				r.Header[k] = nil
			case v == "":
				r.Header.Del(k)
			case strings.EqualFold(k, "Host"):
				r.Host = v
			default:
				r.Header.Set(k, v)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// traefikProxy proxies to target as Traefik's single-host proxy does.
func traefikProxy(target *url.URL, passHost bool) http.Handler {
	return &httputil.ReverseProxy{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			for _, k := range []string{"X-Forwarded-For", "Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := pr.In.Header[k]; ok {
					pr.Out.Header[k] = v
				}
			}
			if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
				if prior := pr.Out.Header["X-Forwarded-For"]; len(prior) > 0 {
					ip = strings.Join(prior, ", ") + ", " + ip
				}
				pr.Out.Header.Set("X-Forwarded-For", ip)
			}
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			u := pr.Out.URL
			if pr.Out.RequestURI != "" {
				if parsed, err := url.ParseRequestURI(pr.Out.RequestURI); err == nil {
					u = parsed
				}
			}
			pr.Out.URL.Path, pr.Out.URL.RawPath = u.Path, u.RawPath
			pr.Out.URL.RawQuery = strings.ReplaceAll(u.RawQuery, ";", "&")
			pr.Out.RequestURI = ""
			if !passHost {
				pr.Out.Host = pr.Out.URL.Host
			}
		},
	}
}

// fakeForwardAuth is Traefik's forwardAuth middleware.
type fakeForwardAuth struct {
	cfg          *traefikForwardAuth
	next         http.Handler
	client       *http.Client
	regex        *regexp.Regexp
	cookies      map[string]bool
	maxResponse  int64
	requestNames []string
	logf         func(string, ...any)
}

func newFakeForwardAuth(cfg *traefikForwardAuth, next http.Handler, logf func(string, ...any)) (*fakeForwardAuth, error) {
	if cfg.TLS != nil || cfg.ForwardBody || cfg.PreserveRequestMethod || cfg.PreserveLocationHeader || cfg.AuthSigninURL != "" || cfg.HeaderField != "" {
		return nil, errors.New("forwardAuth: an option the test does not reproduce")
	}
	fa := &fakeForwardAuth{cfg: cfg, next: next, logf: logf, cookies: map[string]bool{}, maxResponse: -1, requestNames: cfg.AuthRequestHeaders,
		client: &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	for _, c := range cfg.AddAuthCookiesToResponse {
		fa.cookies[c] = true
	}
	if cfg.MaxResponseBodySize != nil {
		fa.maxResponse = *cfg.MaxResponseBodySize
	}
	if cfg.AuthResponseHeadersRegex != "" {
		re, err := regexp.Compile(cfg.AuthResponseHeadersRegex)
		if err != nil {
			return nil, err
		}
		fa.regex = re
	}
	if cfg.TrustForwardHeader != nil && *cfg.TrustForwardHeader && len(fa.requestNames) > 0 {
		fa.requestNames = append(slices.Clone(fa.requestNames), traefikXHeaders...)
	}
	return fa, nil
}

// traefikHopHeaders are removed from the auth request and from a refusal.
var traefikHopHeaders = []string{"Connection", "Keep-Alive", "Te", "Trailers", "Transfer-Encoding", "Upgrade"}

func (fa *fakeForwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	authReq, err := http.NewRequestWithContext(r.Context(), http.MethodGet, fa.cfg.Address, nil)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	fa.writeHeader(r, authReq)
	res, err := fa.client.Do(authReq)
	if err != nil {
		fa.logf("forwardAuth: calling %s: %v", fa.cfg.Address, err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	defer res.Body.Close()
	var body []byte
	if fa.maxResponse < 0 {
		body, err = io.ReadAll(res.Body)
	} else {
		body, err = io.ReadAll(io.LimitReader(res.Body, fa.maxResponse+1))
		if err == nil && int64(len(body)) > fa.maxResponse {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}

	// A refusal goes back to the client with the auth server's headers
	// and body, and its Location resolved against the address.
	if res.StatusCode < 200 || res.StatusCode >= 300 {
		for k, v := range res.Header {
			w.Header()[k] = append(w.Header()[k], v...)
		}
		for _, k := range traefikHopHeaders {
			w.Header().Del(k)
		}
		loc, err := res.Location()
		if err != nil && !errors.Is(err, http.ErrNoLocation) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if err == nil && loc.String() != "" {
			w.Header().Set("Location", loc.String())
		}
		w.WriteHeader(res.StatusCode)
		w.Write(body)
		return
	}

	// Allowed: the listed headers replace the client's, whether the auth
	// server sent them or not.
	for _, name := range fa.cfg.AuthResponseHeaders {
		key := http.CanonicalHeaderKey(name)
		r.Header.Del(key)
		if v := res.Header[key]; len(v) > 0 {
			r.Header[key] = slices.Clone(v)
		}
	}
	if fa.regex != nil {
		for k := range r.Header {
			if fa.regex.MatchString(k) {
				r.Header.Del(k)
			}
		}
		for k, v := range res.Header {
			if fa.regex.MatchString(k) {
				r.Header[k] = slices.Clone(v)
			}
		}
	}
	r.RequestURI = r.URL.RequestURI()
	authCookies := res.Cookies()
	if len(authCookies) == 0 {
		fa.next.ServeHTTP(w, r)
		return
	}
	fa.next.ServeHTTP(&traefikCookieModifier{ResponseWriter: w, fa: fa, auth: authCookies}, r)
}

// writeHeader builds the auth request's headers from the client's
// request (writeHeader, or oldWriteHeader when trustForwardHeader is not
// set).
func (fa *fakeForwardAuth) writeHeader(r, authReq *http.Request) {
	for k, v := range r.Header {
		authReq.Header[k] = append(authReq.Header[k], v...)
	}
	traefikRemoveConnectionHeaders(authReq.Header)
	for _, k := range traefikHopHeaders {
		authReq.Header.Del(k)
	}
	trust := fa.cfg.TrustForwardHeader
	if trust == nil {
		authReq.Header = traefikFilterHeaders(authReq.Header, fa.requestNames)
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			authReq.Header.Set("X-Forwarded-For", ip)
		}
		proto := "http"
		if r.TLS != nil {
			proto = "https"
		}
		authReq.Header.Set("X-Forwarded-Proto", proto)
		authReq.Header.Set("X-Forwarded-Method", r.Method)
		authReq.Header.Set("X-Forwarded-Host", r.Host)
		authReq.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
		return
	}
	if !*trust {
		traefikDeleteXForwarded(authReq.Header)
	}
	if _, ok := r.Header["User-Agent"]; !ok {
		// Not Go's own User-Agent.
		authReq.Header.Set("User-Agent", "")
	}
	authReq.Header = traefikFilterHeaders(authReq.Header, fa.requestNames)
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior, ok := authReq.Header["X-Forwarded-For"]; ok {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		authReq.Header.Set("X-Forwarded-For", ip)
	}
	setIfAbsent := func(k, v string) {
		if _, ok := authReq.Header[k]; !ok {
			authReq.Header.Set(k, v)
		}
	}
	setIfAbsent("X-Forwarded-Method", r.Method)
	if r.TLS != nil {
		setIfAbsent("X-Forwarded-Proto", "https")
	} else {
		setIfAbsent("X-Forwarded-Proto", "http")
	}
	setIfAbsent("X-Forwarded-Port", traefikForwardedPort(r, authReq.Header))
	setIfAbsent("X-Forwarded-Host", r.Host)
	setIfAbsent("X-Forwarded-Uri", r.URL.RequestURI())
}

// traefikRemoveConnectionHeaders removes the headers Connection names, and
// Connection itself unless it asks for an upgrade.
func traefikRemoveConnectionHeaders(h http.Header) {
	var upgrade string
	if httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		upgrade = h.Get("Upgrade")
	}
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	if upgrade != "" {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", upgrade)
	} else {
		h.Del("Connection")
	}
}

// traefikFilterHeaders keeps only the named headers, when names are given.
func traefikFilterHeaders(h http.Header, names []string) http.Header {
	if len(names) == 0 {
		return h
	}
	out := http.Header{}
	for _, n := range names {
		if v := h.Values(n); len(v) > 0 {
			out[http.CanonicalHeaderKey(n)] = v
		}
	}
	return out
}

// traefikCookieModifier puts the listed cookies of the auth server's answer on
// the app's response, in place of any the app set under those names.
type traefikCookieModifier struct {
	http.ResponseWriter
	fa    *fakeForwardAuth
	auth  []*http.Cookie
	wrote bool
}

func (m *traefikCookieModifier) WriteHeader(status int) {
	if !m.wrote {
		m.wrote = true
		h := m.Header()
		app := (&http.Response{Header: h}).Cookies()
		h.Del("Set-Cookie")
		for _, c := range app {
			if !m.fa.cookies[c.Name] {
				h.Add("Set-Cookie", c.String())
			}
		}
		for _, c := range m.auth {
			if m.fa.cookies[c.Name] {
				h.Add("Set-Cookie", c.String())
			}
		}
	}
	m.ResponseWriter.WriteHeader(status)
}

func (m *traefikCookieModifier) Unwrap() http.ResponseWriter { return m.ResponseWriter }

func (m *traefikCookieModifier) Write(b []byte) (int, error) {
	if !m.wrote {
		m.WriteHeader(http.StatusOK)
	}
	return m.ResponseWriter.Write(b)
}
