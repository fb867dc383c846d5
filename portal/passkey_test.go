package portal

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/internal/softkey"
)

func withPasskeys(c *Config) { c.Passkeys = &PasskeyConfig{} }

var optionsRe = regexp.MustCompile(`data-options="([^"]+)"`)

// ceremonyOptions reads the passkey ceremony's options off a page.
func ceremonyOptions(t testing.TB, page resp) []byte {
	t.Helper()
	m := optionsRe.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no passkey ceremony on the page (%d): %s", page.status, page.body)
	}
	return []byte(html.UnescapeString(m[1]))
}

// csrfOf is the CSRF token of a page's forms.
func csrfOf(t testing.TB, page resp) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no CSRF token on the page: %s", page.body)
	}
	return m[1]
}

// passkeyBrowser is a browser on "localhost" (a relying party must be a
// domain name, not an IP address).
func passkeyBrowser(e *env) *browser {
	b := e.browser()
	b.base = strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)
	return b
}

// addPasskeyAtSignIn runs the password step and first-sign-in
// registration with a new passkey.
func addPasskeyAtSignIn(t testing.TB, b *browser, user string) *softkey.Key {
	t.Helper()
	if r := b.login(user, testPassword); r.header.Get("Location") != Prefix+"register" {
		t.Fatalf("login: %d %s", r.status, r.header.Get("Location"))
	}
	page := b.get(Prefix + "register")
	if !strings.Contains(page.body, `href="/.stepgate/register/passkey"`) {
		t.Fatalf("registration does not offer a passkey: %s", page.body)
	}
	page = b.get(Prefix + "register/passkey")
	key := softkey.New()
	answer, err := key.Register(ceremonyOptions(t, page), b.base)
	if err != nil {
		t.Fatal(err)
	}
	r := b.postRaw(Prefix+"register/passkey", url.Values{"csrf": {csrfOf(t, page)}, "credential": {string(answer)}, "name": {"Laptop"}}, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("adding the passkey: %d %s", r.status, r.body)
	}
	return key
}

func TestPasskeySecondStep(t *testing.T) {
	e := newEnv(t, withPasskeys)
	b := passkeyBrowser(e)
	key := addPasskeyAtSignIn(t, b, "alice")
	if !e.signedIn(b) {
		t.Fatal("not signed in after setting up a passkey")
	}
	b = passkeyBrowser(e)
	if r := b.login("alice", testPassword); r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("login: %d %s", r.status, r.header.Get("Location"))
	}
	page := b.get(Prefix + "verify")
	if !strings.Contains(page.body, "Use your passkey") || !strings.Contains(page.body, `/.stepgate/passkey/passkey.js`) {
		t.Fatalf("verify page: %s", page.body)
	}
	// No answer, then a wrong one: refused, and the wrong one counts.
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{}); r.status != http.StatusBadRequest || !strings.Contains(r.body, "Use your passkey first") {
		t.Fatalf("no answer: %d %s", r.status, r.body)
	}
	other := softkey.New()
	other.UserHandle = key.UserHandle
	page = b.get(Prefix + "verify")
	wrong, _ := other.Assert(ceremonyOptions(t, page), b.base)
	r := b.postRaw(Prefix+"verify", url.Values{"csrf": {csrfOf(t, page)}, "credential": {string(wrong)}}, nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "passkey wasn") {
		t.Fatalf("a passkey that is not alice's: %d %s", r.status, r.body)
	}
	if len(e.events("sign-in", "failure")) != 1 {
		t.Fatal("the wrong passkey was not counted as a failure")
	}
	// The page after the refusal has a new ceremony; the right answer
	// signs in.
	page = b.get(Prefix + "verify")
	answer, err := key.Assert(ceremonyOptions(t, page), b.base)
	if err != nil {
		t.Fatal(err)
	}
	r = b.postRaw(Prefix+"verify", url.Values{"csrf": {csrfOf(t, page)}, "credential": {string(answer)}}, nil)
	if r.status != http.StatusSeeOther || !e.signedIn(b) {
		t.Fatalf("signing in with the passkey: %d %s", r.status, r.body)
	}
	if got := e.events("sign-in", "success"); got[len(got)-1].ContextMap()["method"] != "passkey" {
		t.Fatalf("sign-in logged as %v", got[len(got)-1].ContextMap())
	}
	// The same answer replayed into a new sign-in is refused.
	thief := passkeyBrowser(e)
	thief.login("alice", testPassword)
	r = thief.post(Prefix+"verify", Prefix+"verify", url.Values{"credential": {string(answer)}})
	if r.status == http.StatusSeeOther || e.signedIn(thief) {
		t.Fatalf("a replayed answer signed in: %d", r.status)
	}
}
