package portal

import (
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
//   - or an absolute https URL (http only when allowHTTP, for the loopback
//     demo) without userinfo whose host is host itself or, with
//     cookieDomain set, that domain or one of its subdomains.
//
// Anything with control characters, spaces, backslashes or non-ASCII bytes
// is refused outright: browsers strip or reinterpret them ("/\tevil.com",
// "/\\evil.com", look-alike IDN hosts), so no such URL is ever "safe".
func SafeReturnURL(raw, host, cookieDomain string, allowHTTP bool) string {
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
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	default:
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
