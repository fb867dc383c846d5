package portal

import (
	"net/http"
	"strings"
)

// Identity headers sent to the app.
const (
	HeaderUser   = "Remote-User"
	HeaderGroups = "Remote-Groups"
	HeaderEmail  = "Remote-Email"
	HeaderName   = "Remote-Name"
	// HeaderMethods says how the user signed in: the methods of the
	// session's steps, comma-separated ("password,totp", "passkey").
	HeaderMethods = "Remote-Auth-Methods"
)

// spoofable lists, in normalised form (lower case, "-" for "_" and "."),
// every header an app might take as identity. Clients' copies of all of
// them are removed, whether or not Stepgate sets the header itself.
var spoofable = []string{
	"remote-user", "remote-groups", "remote-email", "remote-name", "remote-auth-methods",
	"x-remote-user", "x-remote-groups", "x-remote-email", "x-remote-name",
	"x-forwarded-user", "x-forwarded-groups", "x-forwarded-email", "x-forwarded-preferred-username",
	"x-authenticated-user", "x-auth-request-user", "x-auth-request-email",
}

// StripIdentityHeaders deletes every client-sent identity header, in any
// case and with "_" or "." in place of "-" (CGI and some frameworks map
// Remote_User and Remote.User to the same variable as Remote-User).
func StripIdentityHeaders(h http.Header) {
	for k := range h {
		if isSpoofable(k) {
			delete(h, k)
		}
	}
}

func isSpoofable(key string) bool {
	// Cheap pre-filter: all listed names start with r or x.
	if key == "" || (key[0]|0x20) != 'r' && (key[0]|0x20) != 'x' {
		return false
	}
	for _, name := range spoofable {
		if len(name) == len(key) && equalNormalized(key, name) {
			return true
		}
	}
	return false
}

// equalNormalized compares key with a normalised name, folding ASCII case
// and treating '_' and '.' as '-', without allocating.
func equalNormalized(key, name string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_' || c == '.':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// setIdentityHeaders sets the identity headers for the app. The values
// share one backing array: one allocation instead of five per request.
func (p *Portal) setIdentityHeaders(h http.Header, id *Identity) {
	vals := [...]string{id.User.Name, id.groups, id.User.Email, id.User.DisplayName, p.reg.methodsOf(&id.sess)}
	backing := vals[:]
	for i, name := range [...]string{HeaderUser, HeaderGroups, HeaderEmail, HeaderName, HeaderMethods} {
		if backing[i] != "" {
			h[name] = backing[i : i+1 : i+1]
		}
	}
}

// isStepgateCookie reports whether name is one of Stepgate's own cookies
// (session, pending sign-in, CSRF, remembered device, a central portal's
// way back), in any of
// its security contexts.
func isStepgateCookie(name string) bool {
	switch name {
	case hostNames.session, hostNames.pending, hostNames.csrf, hostNames.device, domainSessionName,
		plainNames.session, plainNames.pending, plainNames.csrf, plainNames.device, siteCookieName, plainSiteCookieName:
		return true
	}
	return false
}

// StripStepgateCookies removes Stepgate's own cookies from the request's
// Cookie headers before it goes on to the app: an app (or its access log)
// that received them could replay a user's session against stricter routes
// of the same site. Every other cookie is passed on byte for byte; a header
// left with no cookie is dropped. A header without a Stepgate cookie costs
// no allocation, nor does one whose Stepgate cookies are all at its start
// or end.
func StripStepgateCookies(h http.Header) {
	lines, ok := h["Cookie"]
	if !ok {
		return
	}
	kept, changed := lines[:0], false
	for _, line := range lines {
		// Every Stepgate cookie name contains "stepgate": most requests
		// are decided by this one scan.
		if strings.Contains(line, "stepgate") {
			if l := withoutStepgateCookies(line); l != line {
				line, changed = l, true
				if line == "" {
					continue
				}
			}
		}
		kept = append(kept, line)
	}
	switch {
	case len(kept) == 0:
		delete(h, "Cookie")
	case changed:
		h["Cookie"] = kept
	}
}

// withoutStepgateCookies returns line without its Stepgate cookies: line
// itself when it has none, a substring of it when they are all at its
// start or end, and otherwise the remaining cookies joined by "; ".
func withoutStepgateCookies(line string) string {
	// First pass: which cookies go, and whether those that stay are one
	// run of the original text.
	start, end, size := -1, 0, 0
	removed, gap, split := false, false, false
	for off := 0; off < len(line); {
		part, next := cookiePart(line, off)
		if name, _, _ := strings.Cut(part.text(line), "="); part.empty() {
			// An empty part (";;") is neither kept nor removed.
		} else if isStepgateCookie(strings.TrimRight(name, " \t")) {
			removed = true
			gap = start >= 0
		} else {
			if start < 0 {
				start = part.from
			}
			split = split || gap
			end = part.to
			size += part.to - part.from + len("; ")
		}
		off = next
	}
	switch {
	case !removed:
		return line
	case start < 0:
		return ""
	case !split:
		return line[start:end]
	}
	// Second pass, only when a Stepgate cookie sits between two others:
	// one allocation for the new header.
	var b strings.Builder
	b.Grow(size - len("; "))
	for off := 0; off < len(line); {
		part, next := cookiePart(line, off)
		if name, _, _ := strings.Cut(part.text(line), "="); !part.empty() && !isStepgateCookie(strings.TrimRight(name, " \t")) {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part.text(line))
		}
		off = next
	}
	return b.String()
}

// span is a cookie's position in a Cookie header, without the spaces and
// tabs around it.
type span struct{ from, to int }

func (s span) empty() bool             { return s.from == s.to }
func (s span) text(line string) string { return line[s.from:s.to] }

// cookiePart returns the cookie that starts at off in line, and where the
// next one starts.
func cookiePart(line string, off int) (span, int) {
	to, next := len(line), len(line)
	if i := strings.IndexByte(line[off:], ';'); i >= 0 {
		to, next = off+i, off+i+1
	}
	from := off
	for from < to && (line[from] == ' ' || line[from] == '\t') {
		from++
	}
	for to > from && (line[to-1] == ' ' || line[to-1] == '\t') {
		to--
	}
	return span{from, to}, next
}
