package portal

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/softkey"
	"github.com/stepgate/stepgate/verifiers"
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
	if !strings.Contains(page.body, "Use your passkey") || !strings.Contains(page.body, `/.stepgate/static/passkey.js`) {
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

// TestRequirePhishingResistant: a site with `require phishing_resistant`
// steps up a session whose second step was a code, tells a user without
// a passkey how to get one, and lets the session in once it has verified
// with a passkey; the app learns how the user signed in.
func TestRequirePhishingResistant(t *testing.T) {
	e := newEnv(t, withPasskeys)
	strict := httptest.NewServer(e.handler(Policy{PhishingResistant: true}))
	t.Cleanup(strict.Close)
	b := passkeyBrowser(e)
	secret := b.register("alice")
	lenient := b.base
	b.base = strings.Replace(strict.URL, "127.0.0.1", "localhost", 1)

	r := b.get("/app?x=1")
	if r.status != http.StatusFound || r.header.Get("Location") != StepUpPath+"?rd=%2Fapp%3Fx%3D1" {
		t.Fatalf("a TOTP session on the strict site: %d %q", r.status, r.header.Get("Location"))
	}
	req, _ := http.NewRequest("GET", b.base+"/app", nil)
	req.Header.Set("Accept", "application/json")
	if api := b.do(req); api.status != http.StatusForbidden || !strings.Contains(api.body, "phishing_resistant_required") {
		t.Fatalf("an API client: %d %s", api.status, api.body)
	}
	if r = b.get(StepUpPath + "?rd=%2Fapp"); r.status != http.StatusForbidden || !strings.Contains(r.body, "This app needs a passkey") ||
		!strings.Contains(r.body, SecurityInfoPath) {
		t.Fatalf("step-up without a passkey: %d %s", r.status, r.body)
	}
	// On the lenient site the app is told the session's methods, and a
	// client's own copy of the header is dropped.
	b.base = lenient
	req, _ = http.NewRequest("GET", b.base+"/app", nil)
	req.Header.Set("Remote-Auth-Methods", "passkey")
	if r = b.do(req); !strings.Contains(r.body, "Remote-Auth-Methods: password,totp\n") {
		t.Fatalf("the app's headers: %s", r.body)
	}

	// Alice adds a passkey on Security info (her second step is recent).
	add := b.get(SecurityInfoPath + "/add/passkey")
	key := softkey.New()
	answer, err := key.Register(ceremonyOptions(t, add), b.base)
	if err != nil {
		t.Fatal(err)
	}
	if r = b.postRaw(SecurityInfoPath+"/add/passkey", url.Values{"csrf": {csrfOf(t, add)}, "credential": {string(answer)}, "name": {"Key"}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("adding a passkey: %d %s", r.status, r.body)
	}
	// Still a TOTP session: the strict site steps it up, and only the
	// passkey is offered.
	b.base = strings.Replace(strict.URL, "127.0.0.1", "localhost", 1)
	if r = b.get("/app"); r.status != http.StatusFound {
		t.Fatalf("after adding a passkey, before using it: %d", r.status)
	}
	if r = b.get(StepUpPath + "?rd=%2Fapp"); r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("step-up: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	page := b.get(Prefix + "verify")
	if strings.Contains(page.body, `id="other"`) {
		t.Fatal("the step-up offers another way (the authenticator app)")
	}
	if o := b.get(Prefix + "verify/other"); strings.Contains(o.body, "authenticator app") {
		t.Fatalf("the step-up's other ways: %s", o.body)
	}
	r = b.postRaw(Prefix+"verify/method", url.Values{"csrf": {csrfOf(t, page)}, "method": {"totp"}}, nil)
	if r.status == http.StatusSeeOther {
		if again := b.get(Prefix + "verify"); !strings.Contains(again.body, "Use your passkey") {
			t.Fatal("the step-up switched to the authenticator app")
		}
	}
	page = b.get(Prefix + "verify")
	answer, _ = key.Assert(ceremonyOptions(t, page), b.base)
	r = b.postRaw(Prefix+"verify", url.Values{"csrf": {csrfOf(t, page)}, "credential": {string(answer)}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/app" {
		t.Fatalf("verifying with the passkey: %d %q", r.status, r.header.Get("Location"))
	}
	if r = b.get("/app"); r.status != http.StatusOK || !strings.Contains(r.body, "Remote-Auth-Methods: password,passkey\n") {
		t.Fatalf("the strict site after the passkey: %d %s", r.status, r.body)
	}
	// A new sign-in with the app instead ("Sign in another way") is a
	// code session again.
	other := passkeyBrowser(e)
	other.login("alice", testPassword)
	if r = other.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"totp"}}); r.status != http.StatusSeeOther {
		t.Fatalf("choosing the app: %d %s", r.status, r.body)
	}
	e.clock.Add(30 * time.Second)
	if r = other.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("signing in with the app: %d %s", r.status, r.body)
	}
	other.base = strings.Replace(strict.URL, "127.0.0.1", "localhost", 1)
	if r = other.get("/app"); r.status != http.StatusFound {
		t.Fatalf("a TOTP sign-in on the strict site: %d", r.status)
	}
}

// passkeySignIn answers the sign-in page's passkey ceremony with key.
func passkeySignIn(t testing.TB, b *browser, key *softkey.Key, rd string) resp {
	t.Helper()
	page := b.get(Prefix + "?rd=" + url.QueryEscape(rd))
	if !strings.Contains(page.body, `id="passkey-sign-in"`) || !strings.Contains(page.body, `autocomplete="username webauthn"`) {
		t.Fatalf("the sign-in page offers no passkey: %s", page.body)
	}
	answer, err := key.Assert(ceremonyOptions(t, page), b.base)
	if err != nil {
		t.Fatal(err)
	}
	return b.postRaw(Prefix+"passkey-sign-in", url.Values{"csrf": {csrfOf(t, page)}, "rd": {rd}, "credential": {string(answer)}}, nil)
}

func TestSignInWithAPasskeyAlone(t *testing.T) {
	e := newEnv(t, withPasskeys)
	key := addPasskeyAtSignIn(t, passkeyBrowser(e), "alice")

	b := passkeyBrowser(e)
	r := passkeySignIn(t, b, key, "/app/page")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/app/page" {
		t.Fatalf("passkey sign-in: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	if app := b.get("/app"); app.status != http.StatusOK || !strings.Contains(app.body, "Remote-Auth-Methods: passkey\n") || !strings.Contains(app.body, "Remote-User: alice\n") {
		t.Fatalf("the app after a passkey sign-in: %d %s", app.status, app.body)
	}

	// The answer is good once, and only in the browser it was made in.
	b = passkeyBrowser(e)
	page := b.get(Prefix)
	answer, _ := key.Assert(ceremonyOptions(t, page), b.base)
	thief := passkeyBrowser(e)
	thief.get(Prefix)
	r = thief.postRaw(Prefix+"passkey-sign-in", url.Values{"csrf": {csrfOf(t, thief.get(Prefix))}, "credential": {string(answer)}}, nil)
	if r.status != http.StatusBadRequest || e.signedIn(thief) {
		t.Fatalf("an answer carried to another browser: %d", r.status)
	}
	form := url.Values{"csrf": {csrfOf(t, page)}, "credential": {string(answer)}}
	if r = b.postRaw(Prefix+"passkey-sign-in", form, nil); r.status != http.StatusSeeOther {
		t.Fatalf("the answer in its own browser: %d %s", r.status, r.body)
	}
	if r = b.postRaw(Prefix+"passkey-sign-in", form, nil); r.status != http.StatusBadRequest || !strings.Contains(r.body, "expired or was already used") {
		t.Fatalf("the answer again: %d", r.status)
	}

	// A passkey unknown here, and garbage, are refused.
	stranger := softkey.New()
	stranger.UserHandle = key.UserHandle
	if r = passkeySignIn(t, passkeyBrowser(e), stranger, "/"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "passkey wasn&#39;t accepted") {
		t.Fatalf("an unknown passkey: %d", r.status)
	}
	g := passkeyBrowser(e)
	if r = g.post(Prefix, Prefix+"passkey-sign-in", url.Values{"credential": {"{]"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("garbage: %d", r.status)
	}

	// Without user verification the passkey is the first step only; alice
	// has no other method, so she is told to use her password.
	key.NoUV = true
	if r = passkeySignIn(t, passkeyBrowser(e), key, "/"); r.status != http.StatusForbidden || !strings.Contains(r.body, "can&#39;t sign you in by itself") {
		t.Fatalf("no user verification and no other method: %d %s", r.status, r.body)
	}
}

func TestPasskeyWithoutVerificationIsTheFirstStep(t *testing.T) {
	e := newEnv(t, withPasskeys)
	b := passkeyBrowser(e)
	secret := b.register("bob")
	add := b.get(SecurityInfoPath + "/add/passkey")
	key := softkey.New()
	key.NoUV = true
	answer, _ := key.Register(ceremonyOptions(t, add), b.base)
	if r := b.postRaw(SecurityInfoPath+"/add/passkey", url.Values{"csrf": {csrfOf(t, add)}, "credential": {string(answer)}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("adding a passkey: %d %s", r.status, r.body)
	}
	n := passkeyBrowser(e)
	r := passkeySignIn(t, n, key, "/app")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("a passkey without user verification: %d %q", r.status, r.header.Get("Location"))
	}
	page := n.get(Prefix + "verify")
	if strings.Contains(page.body, "Use your passkey") || strings.Contains(page.body, `id="other"`) {
		t.Fatalf("the second step offers the passkey again: %s", page.body)
	}
	e.clock.Add(30 * time.Second)
	if r = n.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("the second step: %d %s", r.status, r.body)
	}
	if app := n.get("/app"); !strings.Contains(app.body, "Remote-Auth-Methods: passkey,totp\n") {
		t.Fatalf("the app: %s", app.body)
	}
}

// A disabled account's passkey signs nobody in, and a locked one's waits
// like its password; the passkey is kept for when the account is back.
func TestPasskeyAloneForADisabledOrLockedAccount(t *testing.T) {
	e := newEnv(t, withPasskeys)
	key := addPasskeyAtSignIn(t, passkeyBrowser(e), "alice")
	h := passwordHash(t)
	if err := osWriteFile(e.usersFile, "users:\n  alice:\n    disabled: true\n    password: '"+h+"'\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cfg.Users.Reload(); err != nil {
		t.Fatal(err)
	}
	b := passkeyBrowser(e)
	if r := passkeySignIn(t, b, key, "/"); r.status != http.StatusForbidden || !strings.Contains(r.body, "has been disabled") || e.signedIn(b) {
		t.Fatalf("a disabled account: %d", r.status)
	}
	if err := osWriteFile(e.usersFile, "users:\n  alice:\n    password: '"+h+"'\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cfg.Users.Reload(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		e.browser().login("alice", "wrong")
	}
	if r := passkeySignIn(t, b, key, "/"); r.status != http.StatusTooManyRequests || e.signedIn(b) {
		t.Fatalf("a locked account: %d", r.status)
	}
	e.clock.Add(2 * time.Minute)
	if r := passkeySignIn(t, b, key, "/"); r.status != http.StatusSeeOther || !e.signedIn(b) {
		t.Fatalf("after the back-off: %d", r.status)
	}
}

// TestRecentActivityNamesThePasskey: adding and renaming a passkey show
// in Recent activity with its name, so a user with several can tell
// which one changed.
func TestRecentActivityNamesThePasskey(t *testing.T) {
	e := newEnv(t, withPasskeys)
	b := passkeyBrowser(e)
	addPasskeyAtSignIn(t, b, "alice")
	page := b.get(sip)
	if !strings.Contains(page.body, `Sign-in method added</td><td data-label="Method">Passkey or security key <span class="detail">“Laptop”</span>`) {
		t.Fatalf("Recent activity after adding:\n%s", page.body)
	}
	m := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no passkey to rename:\n%s", page.body)
	}
	if r := b.postFrom(page, sip+"/rename", url.Values{"method": {"passkey"}, "id": {m[1]}, "name": {" Work laptop "}}); r.status != http.StatusSeeOther {
		t.Fatalf("renaming: %d %s", r.status, r.body)
	}
	if page = b.get(sip); !strings.Contains(page.body, `Device renamed</td><td data-label="Method">Passkey or security key <span class="detail">“Work laptop”</span>`) {
		t.Fatalf("Recent activity after renaming:\n%s", page.body)
	}
	// The address reads as the Authenticator shows it.
	if !strings.Contains(page.body, `data-label="From">the server itself (127.0.0.1)</td>`) {
		t.Errorf("Recent activity's From:\n%s", page.body)
	}
}

// TestCredentialName: a deleted credential is named from what the page
// listed before the deletion.
func TestCredentialName(t *testing.T) {
	a, b := &method{}, &method{}
	hs := []holding{{m: a, creds: []verifiers.Credential{{ID: "1", Name: "Laptop"}, {ID: "2", Name: "Key"}}}, {m: b, creds: []verifiers.Credential{{ID: "2", Name: "Pixel"}}}}
	for _, c := range []struct {
		m        *method
		id, want string
	}{{a, "2", "Key"}, {b, "2", "Pixel"}, {a, "3", ""}, {b, "1", ""}} {
		if got := credentialName(hs, c.m, c.id); got != c.want {
			t.Errorf("%s: %q, want %q", c.id, got, c.want)
		}
	}
}
