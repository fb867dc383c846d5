package portal

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// session is the signed-in state carried in the session cookie. The cookie
// is HMAC-signed and AES-encrypted by securecookie; nothing in it is
// trusted before that check passes.
type session struct {
	ID     string // random 128-bit ID, hex; the handle for revocation
	User   string // username
	Aud    string // host (or "." + cookie_domain) the session was issued for
	Issued int64  // unix seconds: absolute timeout counts from here
	Seen   int64  // unix seconds: idle timeout counts from here
	// Expires (unix seconds) is Issued plus the lifetime in force when the
	// session was issued. Raising the lifetime later never lengthens a
	// session, so a revocation kept until Expires outlives the session it
	// revokes. Zero in sessions issued before it was recorded (format 1).
	Expires int64
	// Verified (unix seconds) is when the user last passed a second step,
	// and By with which method: the Security info page asks for a fresh
	// one before any change. Zero and "" in sessions from before format 3.
	Verified int64
	By       string
	// Methods is how the user signed in (Remote-Auth-Methods) when the
	// first step was not their password: "passkey" for a passkey with
	// user verification, which counts as both steps; "passkey,totp" for
	// one without, followed by a second step. "" (the password, then By)
	// otherwise and in sessions from before format 4.
	Methods string
	// Remembered: the user chose "Stay signed in", so the session lasts
	// the configured remember time (session remember) instead of the
	// lifetime, and no idle timeout applies. False before format 5.
	Remembered bool
}

// sessionSerializer is a compact, allocation-light encoding of *session for
// securecookie (gob and JSON cost several microseconds per request on the
// hot path). Format: version byte, then each string length-prefixed, then
// the times as varints: Issued and Seen, from format 2 Expires, and from
// format 3 Verified and By (length-prefixed), from format 4 Methods
// (length-prefixed), from format 5 one byte: 1 for Remembered, else 0.
// Sessions are written in format 5; formats 1 to 4 are still read, so an
// upgrade signs nobody out.
type sessionSerializer struct{}

const (
	sessionFormat   = 5
	sessionFormatV4 = 4 // no Remembered
	sessionFormatV3 = 3 // no Methods
	sessionFormatV2 = 2 // no Verified, By
	sessionFormatV1 = 1 // no Expires either
)

var errBadSession = errors.New("malformed session payload")

func (sessionSerializer) Serialize(src interface{}) ([]byte, error) {
	s, ok := src.(*session)
	if !ok {
		return nil, errors.New("session serializer: unsupported type")
	}
	b := make([]byte, 0, 1+len(s.ID)+len(s.User)+len(s.Aud)+len(s.By)+len(s.Methods)+6+40)
	b = append(b, sessionFormat)
	for _, str := range []string{s.ID, s.User, s.Aud} {
		b = binary.AppendUvarint(b, uint64(len(str)))
		b = append(b, str...)
	}
	b = binary.AppendVarint(b, s.Issued)
	b = binary.AppendVarint(b, s.Seen)
	b = binary.AppendVarint(b, s.Expires)
	b = binary.AppendVarint(b, s.Verified)
	for _, str := range []string{s.By, s.Methods} {
		b = binary.AppendUvarint(b, uint64(len(str)))
		b = append(b, str...)
	}
	if s.Remembered {
		return append(b, 1), nil
	}
	return append(b, 0), nil
}

func (sessionSerializer) Deserialize(src []byte, dst interface{}) error {
	s, ok := dst.(*session)
	if !ok {
		return errors.New("session serializer: unsupported type")
	}
	if len(src) < 1 || src[0] != sessionFormat && src[0] != sessionFormatV4 && src[0] != sessionFormatV3 && src[0] != sessionFormatV2 && src[0] != sessionFormatV1 {
		return errBadSession
	}
	format := src[0]
	src = src[1:]
	// One string copy of the payload, sliced three ways: one allocation
	// instead of three on the hot path.
	all := string(src)
	off := 0
	for _, str := range []*string{&s.ID, &s.User, &s.Aud} {
		n, k := binary.Uvarint(src[off:])
		if k <= 0 || k != uvarintLen(n) || n > uint64(len(src)-off-k) {
			return errBadSession
		}
		*str = all[off+k : off+k+int(n)]
		off += k + int(n)
	}
	src = src[off:]
	var k int
	if s.Issued, k = binary.Varint(src); k <= 0 || k != varintLen(s.Issued) {
		return errBadSession
	}
	src = src[k:]
	if s.Seen, k = binary.Varint(src); k <= 0 || k != varintLen(s.Seen) {
		return errBadSession
	}
	src = src[k:]
	s.Expires, s.Verified, s.By, s.Methods, s.Remembered = 0, 0, "", "", false
	if format == sessionFormatV1 {
		if len(src) != 0 {
			return errBadSession
		}
		return nil
	}
	if s.Expires, k = binary.Varint(src); k <= 0 || k != varintLen(s.Expires) {
		return errBadSession
	}
	src = src[k:]
	if format == sessionFormatV2 {
		if len(src) != 0 {
			return errBadSession
		}
		return nil
	}
	if s.Verified, k = binary.Varint(src); k <= 0 || k != varintLen(s.Verified) {
		return errBadSession
	}
	src = src[k:]
	last := &s.By
	if format >= sessionFormatV4 {
		n, k := binary.Uvarint(src)
		if k <= 0 || k != uvarintLen(n) || n > uint64(len(src)-k) {
			return errBadSession
		}
		s.By = string(src[k : k+int(n)])
		src = src[k+int(n):]
		last = &s.Methods
	}
	if format == sessionFormat {
		// Methods, then the flag byte, which must end the payload.
		if len(src) < 2 || src[len(src)-1] > 1 {
			return errBadSession
		}
		s.Remembered = src[len(src)-1] == 1
		src = src[:len(src)-1]
	}
	n, k := binary.Uvarint(src)
	if k <= 0 || k != uvarintLen(n) || n != uint64(len(src)-k) {
		return errBadSession
	}
	*last = string(src[k:])
	return nil
}

// uvarintLen is the length of the shortest encoding of n; longer (padded)
// encodings are refused so that every session has exactly one encoding.
func uvarintLen(n uint64) int {
	if n == 0 {
		return 1
	}
	return (bits.Len64(n) + 6) / 7
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

// codecs returns securecookie codecs for each secret (first encodes, all
// decode: rotating the secret keeps existing sessions valid while the old
// one is listed), with the given serializer and maximum age.
func newCodecs(all []keys, maxAge time.Duration, sz securecookie.Serializer) []securecookie.Codec {
	out := make([]securecookie.Codec, 0, len(all))
	for _, k := range all {
		sc := securecookie.New(k.cookieHash, k.cookieBlock)
		sc.MaxAge(int(maxAge / time.Second))
		sc.MaxLength(4096)
		sc.SetSerializer(sz)
		out = append(out, sc)
	}
	return out
}

// cookieNames are the names of Stepgate's cookies in one security context.
type cookieNames struct {
	session, pending, csrf string
	// device is the remembered-device cookie ("Don't ask again").
	device string
}

var (
	// __Host- cookies can only be set over HTTPS, for this exact host, with
	// Path=/ and no Domain: no sibling subdomain can plant or shadow them.
	hostNames = cookieNames{"__Host-stepgate", "__Host-stepgate-pending", "__Host-stepgate-csrf", "__Host-stepgate-device"}
	// With cookie_domain the session must be shared by subdomains, which
	// __Host- forbids; __Secure- still demands HTTPS.
	domainSessionName = "__Secure-stepgate"
	// Plain HTTP on loopback (the demo) cannot use either prefix.
	plainNames = cookieNames{"stepgate", "stepgate-pending", "stepgate-csrf", "stepgate-device"}
)

// findCookie returns the value of the named cookie without parsing every
// cookie of the request into a slice (r.Cookie allocates for each one).
func findCookie(r *http.Request, name string) (string, bool) {
	return cookieValue(r.Header["Cookie"], name)
}

// cookieValue finds the value of cookie name in Cookie header lines.
func cookieValue(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			part = strings.Trim(part, " \t")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				v := part[len(name)+1:]
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v, true
			}
		}
	}
	return "", false
}
