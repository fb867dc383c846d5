package portal

import "net/http"

// Identity headers sent to the app.
const (
	HeaderUser   = "Remote-User"
	HeaderGroups = "Remote-Groups"
	HeaderEmail  = "Remote-Email"
	HeaderName   = "Remote-Name"
)

// spoofable lists, in normalised form (lower case, "-" for "_" and "."),
// every header an app might take as identity. Clients' copies of all of
// them are removed, whether or not Stepgate sets the header itself.
var spoofable = []string{
	"remote-user", "remote-groups", "remote-email", "remote-name",
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
// share one backing array: one allocation instead of four per request.
func setIdentityHeaders(h http.Header, id *Identity) {
	vals := [...]string{id.User.Name, id.groups, id.User.Email, id.User.DisplayName}
	backing := vals[:]
	for i, name := range [...]string{HeaderUser, HeaderGroups, HeaderEmail, HeaderName} {
		if backing[i] != "" {
			h[name] = backing[i : i+1 : i+1]
		}
	}
}
