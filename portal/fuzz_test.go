package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"
)

// FuzzPendingCookie: whatever a client puts in the pending cookie (random
// bytes, or a validly sealed cookie with arbitrary fields), the second step
// neither panics nor answers 500, and only a real pending sign-in of an
// existing, enabled user at the right stage reaches a method.
func FuzzPendingCookie(f *testing.F) {
	e := newEnv(f)
	f.Add("", "alice", "verify", "totp", "127.0.0.1", int64(0), "/")
	f.Add("x", "carol", "register", "sms", "evil.com", int64(-1), "//evil.com")
	f.Add("%00|a|b", "", "", "push", "", int64(1<<62), "")
	f.Add("MTIzfGFiY3xkZWY=", "nobody", "verify", "voice", "127.0.0.1", int64(1_800_000_000), "javascript:x")
	f.Fuzz(func(t *testing.T, raw, user, stage, method, aud string, created int64, rd string) {
		// A sealed cookie with the fuzzed fields (what a key holder could
		// make), and the raw value (what anyone can send).
		pd := pending{ID: "fuzz", User: user, Stage: stage, M: method, Aud: aud, Created: created, Rd: rd}
		sealed, err := securecookie.EncodeMulti(plainNames.pending, &pd, e.p.pendings[0])
		if err != nil {
			sealed = ""
		}
		for _, value := range []string{raw, sealed} {
			for _, path := range []string{"verify", "verify/other", "verify/status", "register", "register/qr.png"} {
				req := httptest.NewRequest("GET", "http://127.0.0.1"+Prefix+path, nil)
				req.RemoteAddr = "127.0.0.1:1234"
				req.Header.Set("Cookie", plainNames.pending+"="+value)
				w := httptest.NewRecorder()
				e.p.ServeHTTP(w, req)
				if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
					t.Fatalf("%s with %+v: %d", path, pd, w.Code)
				}
				if w.Code == http.StatusServiceUnavailable && !strings.Contains(w.Body.String(), "Something went wrong") {
					t.Fatalf("%s: 503 without the page", path)
				}
			}
		}
	})
}

// FuzzForms posts arbitrary values to the forms with a valid CSRF token,
// at the step the form belongs to: no panic, no 500, and no sign-in
// without the right answer. The Security info forms get the same values
// from alice, signed in with a fresh second step (every change allowed):
// no panic, no 500, and she never loses her only method.
func FuzzForms(f *testing.F) {
	e := newEnv(f, func(c *Config) { c.SMS = &SMSConfig{Sender: &nullSender{}, LoopbackOnly: true} })
	b := e.browser()
	b.login("bob", testPassword) // bob registers: every registration form is reachable
	for _, s := range [][3]string{
		{"username", "alice", "password"},
		{"code", "12345\x00", "x"},
		{"method", "../../totp", "sms"},
		{"phone", "+1 415 555 2671 ext 9", "+99999"},
		{"rd", "//evil.com", "\xff"},
		{"digits", "#", "0"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	// The password form is left to the attack suite: each post costs a
	// 160 ms password hash, too slow to fuzz.
	paths := []string{"verify", "verify/method", "register", "register/phone", "logout", "outbox/answer", "access-pass"}
	alice, _ := freshAlice(f, e)
	manage := []string{"verify", "default", "remove", "rename", "sign-out-others", "add/app", "add/phone", "add/nope", "password"}
	f.Fuzz(func(t *testing.T, field, v1, v2 string) {
		b.t, alice.t = t, t
		for _, path := range manage {
			// Plausible values for the other fields, so the fuzzed one is
			// read: without it, delete names her only method.
			form := url.Values{"method": {"totp"}, "id": {"app"}, "name": {"Pixel"}, "phone": {"+14155552671"}, "code": {"123456"}}
			form[field] = []string{v1, v2}
			r := alice.post(sip, sip+"/"+path, form)
			if r.status >= 500 && r.status != http.StatusServiceUnavailable {
				t.Fatalf("POST security-info/%s %v: %d", path, form, r.status)
			}
		}
		if n, err := e.st.MethodCount(context.Background(), "alice"); err != nil || n == 0 {
			t.Fatalf("alice has %d methods (%v)", n, err)
		}
		for _, path := range paths {
			form := url.Values{field: {v1, v2}}
			r := b.post(Prefix+"register", Prefix+path, form)
			if r.status >= 500 && r.status != http.StatusServiceUnavailable {
				t.Fatalf("POST %s %v: %d", path, form, r.status)
			}
			if b.cookie(plainNames.session) != nil {
				t.Fatalf("POST %s %v signed bob in", path, form)
			}
		}
	})
}

// nullSender accepts texts and forgets them.
type nullSender struct{}

func (nullSender) Send(context.Context, string, string) error { return nil }
