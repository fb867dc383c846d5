package portal

import (
	"net"
	"net/url"
	"strings"
)

// maxReturnURL bounds the return URL; longer ones fall back to "/".
const maxReturnURL = 2048

// SafeReturnURL returns raw if it is a safe place to send the user after
// sign-in, and "/" otherwise. Safe means:
//
//   - a path on this host: it starts with exactly one "/" (never "//" or
//     "/\", which browsers read as another host);
//   - or an absolute URL without userinfo with the request's own scheme
//     (https, or http when plainHTTP: the loopback demo) and port, whose
//     host is the request's host itself or, with cookieDomain set, that
//     domain or one of its subdomains.
//
// hostport is the request's Host (r.Host), with its port when it has one;
// without one the scheme's default port (443, or 80 for http) is meant,
// and a URL that names no port means the same. Another port on the same
// host is another site, possibly one that anybody on the machine can
// start, so it is refused.
//
// Anything with control characters, spaces, backslashes or non-ASCII bytes
// is refused outright: browsers strip or reinterpret them ("/\tevil.com",
// "/\\evil.com", look-alike IDN hosts), so no such URL is ever "safe".
func SafeReturnURL(raw, hostport, cookieDomain string, plainHTTP bool) string {
	if raw == "" || len(raw) > maxReturnURL {
		return "/"
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "/"
	}
	if raw[0] == '/' {
		if len(raw) > 1 && raw[1] == '/' || u.Scheme != "" || u.Host != "" {
			return "/"
		}
		// Return what was checked, never a re-serialisation: url.URL.String
		// turns "/%2f\"" into "//%22", a scheme-relative URL (found by
		// FuzzSafeReturnURL).
		return raw
	}
	scheme, defaultPort := "https", "443"
	if plainHTTP {
		scheme, defaultPort = "http", "80"
	}
	if u.Scheme != scheme { // url.Parse lower-cases the scheme
		return "/"
	}
	host, port := hostport, defaultPort
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host = h
		if p != "" {
			port = p
		}
	}
	host = strings.Trim(host, "[]")
	// Ports are compared as spelled: "0443" is refused, not read as 443.
	if p := u.Port(); p != port && !(p == "" && port == defaultPort) {
		return "/"
	}
	// The host must be spelled exactly as a hostname: no trailing dot, no
	// empty host, no percent-encoding tricks (url.Parse decodes them).
	h := strings.ToLower(u.Hostname())
	if h == "" || strings.HasSuffix(h, ".") || strings.Contains(u.Host, "%") {
		return "/"
	}
	host = strings.ToLower(host)
	if h != host && !inCookieDomain(h, cookieDomain) {
		return "/"
	}
	return raw
}

// inCookieDomain reports whether host is cookieDomain or a subdomain of it.
func inCookieDomain(host, cookieDomain string) bool {
	if cookieDomain == "" {
		return false
	}
	cd := strings.ToLower(strings.TrimPrefix(cookieDomain, "."))
	return host == cd || strings.HasSuffix(host, "."+cd)
}
