package portal

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// central is a central portal: one site (auth.example.com) serves the
// sign-in pages for every protected site sharing the session through
// cookie_domain. Protected sites send people there to sign in, and their
// own /.stepgate/ pages redirect there, so everything a user types, and the
// Stepgate Authenticator, runs on the portal's origin and never beside an
// app's scripts.
type central struct {
	// origin is the portal's scheme and host as a browser writes them
	// ("https://auth.example.com", "https://auth.example.com:8443").
	origin string
	// host is the portal's host, lower case, with its port only when it
	// is not the scheme's default: what hostKey makes of a request's Host.
	host string
	// scheme is "https", or "http" for a portal on loopback (tests, demos).
	scheme string
	// cookieDomain is the session's domain, which the portal is in.
	cookieDomain string
	// port is the portal's port as hostKey writes it ("" for the
	// scheme's default).
	port string
}

// portOf is the port of a hostKey ("" when it has none).
func portOf(key string) string {
	if _, port, err := net.SplitHostPort(key); err == nil {
		return port
	}
	return ""
}

// newCentral checks a portal_url: an origin (https, or http on a loopback
// name) whose host is inside cookieDomain, since the session the portal
// issues must reach the protected sites.
func newCentral(raw, cookieDomain string) (*central, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("portal_url %q: %v", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("portal_url %q: want an absolute URL such as https://auth.example.com", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("portal_url %q: give only the scheme and host (and port), such as https://auth.example.com; the pages are always under %s", raw, Prefix)
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "http" && !isLoopbackHost(host) {
		return nil, fmt.Errorf("portal_url %q: the portal must use https (plain http only for a loopback name such as auth.localhost)", raw)
	}
	if cookieDomain == "" {
		return nil, fmt.Errorf("portal_url %q needs session { cookie_domain … }: the session signed in at the portal must reach the protected sites", raw)
	}
	if !inCookieDomain(host, cookieDomain) {
		return nil, fmt.Errorf("portal_url %q: %s is not inside cookie_domain %s, so sessions signed in there would not reach the protected sites", raw, host, cookieDomain)
	}
	c := &central{scheme: u.Scheme, cookieDomain: cookieDomain}
	// "auth.example.com:" and "auth.example.com:443" are written as a
	// browser writes them.
	c.host = hostKey(strings.TrimSuffix(strings.ToLower(u.Host), ":"), u.Scheme)
	c.origin = u.Scheme + "://" + c.host
	c.port = portOf(c.host)
	return c, nil
}

// hostKey is hostport in the form central.host compares: lower case, the
// scheme's default port dropped.
func hostKey(hostport, scheme string) string {
	hostport = strings.ToLower(hostport)
	h, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if port == "" || scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return hostport
}

// elsewhere reports whether a request to host (as the browser wrote it)
// signs in on the portal: a site inside cookie_domain, on the portal's
// port, other than the portal itself. A site outside cookie_domain could
// never see the portal's session, and the portal returns nobody to
// another port (SafeReturnURL), so such sites keep their own pages. The
// scheme is not compared: a plain-HTTP request to the portal's host is
// the portal's to refuse ("HTTPS required"), and sending it to the https
// origin could loop behind a TLS proxy Caddy does not trust.
func (c *central) elsewhere(host string) bool {
	key := hostKey(host, c.scheme)
	return key != c.host && portOf(key) == c.port && inCookieDomain(hostname(host), c.cookieDomain)
}

// is reports whether host (as the browser wrote it) is the portal's.
func (c *central) is(host string) bool { return hostKey(host, c.scheme) == c.host }

// signInURL is the portal's sign-in page for a request to another site,
// returning to that request's URL afterwards (its root when the request
// cannot be repeated by a redirect: anything but a GET).
func (c *central) signInURL(f *Facts) string {
	rd := f.Origin() + "/"
	if f.Method == http.MethodGet {
		rd = f.Origin() + f.URI
	}
	return c.origin + Prefix + "?rd=" + url.QueryEscape(rd)
}

// redirect sends a request for the portal's pages that came to another
// site to the same page on the portal. A relative return URL is made
// absolute on the site it came from, so the user comes back there; the
// portal accepts it only inside cookie_domain (SafeReturnURL). Forms are
// posted only on the portal, so anything but GET or HEAD is answered with
// 303 to the page, dropping its body.
func (c *central) redirect(w http.ResponseWriter, r *http.Request, from *Facts) {
	q := r.URL.Query()
	if rd := q.Get("rd"); strings.HasPrefix(rd, "/") && !strings.HasPrefix(rd, "//") {
		q.Set("rd", from.Origin()+rd)
	} else if !q.Has("rd") && (r.URL.Path == Prefix || r.URL.Path+"/" == Prefix) {
		q.Set("rd", from.Origin()+"/")
	}
	target := c.origin + Prefix
	if strings.HasPrefix(r.URL.Path, Prefix) {
		target = c.origin + r.URL.EscapedPath()
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusFound
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, target, status)
}

// The cookie in which a central portal remembers the site it last sent
// this browser back to, so its pages can offer the way back ("Back to
// the app"). It holds only an origin, is checked as a return URL whenever
// it is read, and is host-only on the portal.
const (
	siteCookieName      = "__Host-stepgate-site"
	plainSiteCookieName = "stepgate-site"
)

func (p *Portal) siteCookieName(r *http.Request) string {
	if p.isSecure(r) {
		return siteCookieName
	}
	return plainSiteCookieName
}

// toSite redirects to rd, a checked return URL; the central portal
// remembers an rd on another site as the way back.
func (p *Portal) toSite(w http.ResponseWriter, r *http.Request, rd string, status int) {
	if p.central != nil && p.central.is(p.hostOf(r)) {
		if u, err := url.Parse(rd); err == nil && u.Scheme != "" && u.Host != "" && !p.central.is(u.Host) {
			http.SetCookie(w, &http.Cookie{Name: p.siteCookieName(r), Value: u.Scheme + "://" + u.Host, Path: "/",
				HttpOnly: true, Secure: p.isSecure(r), SameSite: http.SameSiteLaxMode, MaxAge: int(p.cfg.longestSession() / time.Second)})
		}
	}
	http.Redirect(w, r, rd, status)
}

// backURL is where the pages' way back to the app leads: "/" on a site
// serving its own pages; on the central portal, the site it last sent
// this browser to, or "" when it knows none (the portal's own "/" is no
// app).
func (p *Portal) backURL(r *http.Request) string {
	if p.central == nil || !p.central.is(p.hostOf(r)) {
		return "/"
	}
	v, ok := findCookie(r, p.siteCookieName(r))
	if !ok || v == "" {
		return ""
	}
	if back := p.safeRd(r, v+"/"); back != "/" {
		return back
	}
	return ""
}
