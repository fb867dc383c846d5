package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// CSRF protection has two independent layers on every POST:
//
//  1. Go's http.CrossOriginProtection refuses cross-origin browser requests
//     (Sec-Fetch-Site, or Origin compared with Host).
//  2. A token in the form must be the HMAC of a random value held in the
//     CSRF cookie. An attacker cannot read the victim's cookie, and a token
//     from the attacker's own browser matches only the attacker's cookie.

const csrfField = "csrf"

// csrfToken returns the form token for the request's CSRF cookie, creating
// (and setting) the cookie first when the browser has none.
func (p *Portal) csrfToken(w http.ResponseWriter, r *http.Request) string {
	names := p.names(r)
	v, ok := findCookie(r, names.csrf)
	if !ok || len(v) != 43 {
		b := make([]byte, 32)
		rand.Read(b)
		v = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{
			Name: names.csrf, Value: v, Path: "/", HttpOnly: true,
			Secure: p.isSecure(r), SameSite: http.SameSiteLaxMode,
		})
	}
	return p.csrfMAC(v)
}

func (p *Portal) csrfMAC(cookie string) string {
	m := hmac.New(sha256.New, p.keys[0].csrf)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a POST passes both layers.
func (p *Portal) checkCSRF(r *http.Request) bool {
	if err := p.origin.Check(r); err != nil {
		return false
	}
	cookie, ok := findCookie(r, p.names(r).csrf)
	if !ok {
		return false
	}
	token := r.PostFormValue(csrfField)
	return hmac.Equal([]byte(token), []byte(p.csrfMAC(cookie)))
}
