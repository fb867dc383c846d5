package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/messages"
)

const offerPage = RememberPath + "?rd=%2F"

func withRemember(c *Config) {
	c.Lifetime, c.Idle, c.Remember = time.Hour, 30*time.Minute, 30*24*time.Hour
}

func withRememberDevice(c *Config) { c.RememberDevice = 30 * 24 * time.Hour }

// signInOffered signs alice in with her app and checks she is sent to the
// offer page, not yet to the app.
func (b *browser) signInOffered(user, secret string) {
	b.t.Helper()
	r := b.signIn(user, secret)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != offerPage {
		b.t.Fatalf("after the second step: %d %q, want the offer", r.status, r.header.Get("Location"))
	}
}

// answerOffer posts the offer page's form.
func (b *browser) answerOffer(form url.Values) resp {
	b.t.Helper()
	page := b.get(offerPage)
	if page.status != http.StatusOK {
		b.t.Fatalf("the offer page: %d %q %s", page.status, page.header.Get("Location"), page.body)
	}
	form.Set("rd", "/")
	return b.postFrom(page, RememberPath, form)
}

// TestStaySignedIn: with `remember`, "Yes" keeps alice signed in past the
// lifetime and the idle timeout, until the remember time; "No" keeps the
// normal session. The cookie lasts as long as the session.
func TestStaySignedIn(t *testing.T) {
	e := newEnv(t, withRemember)
	secret := e.browser().register("alice")

	yes := e.browser()
	yes.signInOffered("alice", secret)
	page := yes.get(offerPage)
	if !strings.Contains(page.body, "<h1>Stay signed in?</h1>") || !strings.Contains(page.body, "for 30 days") ||
		strings.Contains(page.body, `name="device"`) || !strings.Contains(page.body, "Alice Example") {
		t.Fatalf("the offer:\n%s", page.body)
	}
	if r := yes.answerOffer(url.Values{"stay": {"yes"}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("yes: %d %q", r.status, r.header.Get("Location"))
	}
	if c := yes.cookie(plainNames.session); c == nil {
		t.Fatal("no session cookie")
	}
	if events := e.events("stay-signed-in", "success"); len(events) != 1 {
		t.Fatalf("stay-signed-in events: %d", len(events))
	}

	no := e.browser()
	no.signInOffered("alice", secret)
	if r := no.answerOffer(url.Values{"stay": {"no"}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("no: %d %q", r.status, r.header.Get("Location"))
	}
	// The offer is made once: asked again, the page sends on.
	if r := yes.get(offerPage); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("the offer to a remembered session: %d %q", r.status, r.header.Get("Location"))
	}

	e.clock.Add(2 * time.Hour) // past idle and lifetime
	if !e.signedIn(yes) {
		t.Fatal("the remembered session ended with the lifetime")
	}
	if e.signedIn(no) {
		t.Fatal("the session of someone who said No outlived its lifetime")
	}
	// A week without a request: still signed in (no idle timeout).
	e.clock.Add(7 * 24 * time.Hour)
	if !e.signedIn(yes) {
		t.Fatal("the remembered session ended after a week idle")
	}
	e.clock.Add(23 * 24 * time.Hour)
	if e.signedIn(yes) {
		t.Fatal("the remembered session outlived the remember time")
	}
}

// TestStaySignedInOnlyRightAfterSignIn: the offer is answered only within
// minutes of the second step, never by a session a Temporary Access Pass
// began, and a session taken later cannot make itself long-lived.
func TestStaySignedInOnlyRightAfterSignIn(t *testing.T) {
	e := newEnv(t, withRemember, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	b.signInOffered("alice", secret)
	page := b.get(offerPage)
	e.clock.Add(rememberOfferWindow + time.Second)
	if r := b.postFrom(page, RememberPath, url.Values{"stay": {"yes"}, "device": {"yes"}, "rd": {"/"}}); r.status != http.StatusSeeOther {
		t.Fatalf("a late answer: %d %s", r.status, r.body)
	}
	if b.cookie(plainNames.device) != nil {
		t.Fatal("a late answer remembered the browser")
	}
	e.clock.Add(time.Hour) // past the lifetime
	if e.signedIn(b) {
		t.Fatal("a late answer made the session long-lived")
	}

	// Signed out, the page sends to sign-in; a pass session is not offered.
	if r := e.browser().get(offerPage); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), Prefix+"?rd=") {
		t.Fatalf("signed out: %d %q", r.status, r.header.Get("Location"))
	}
	pass := issuePass(t, e, "bob", account.PassOptions{})
	pb := e.browser()
	if r := pb.usePass("bob", pass); r.status != http.StatusSeeOther || strings.HasPrefix(r.header.Get("Location"), RememberPath) {
		t.Fatalf("a pass sign-in: %d %q", r.status, r.header.Get("Location"))
	}
	if r := pb.get(offerPage); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("the offer to a pass session: %d %q", r.status, r.header.Get("Location"))
	}
}

// TestStaySignedInEndedBySignOutEverywhere: a remembered session is ended
// by a sign-out everywhere (an administrator's, or the user's own from
// another browser), and the revocation is kept for as long as a
// remembered session can live, whatever the configuration does meanwhile:
// another instance that starts after the store was pruned days later,
// with remember turned off and on again, still refuses it.
func TestStaySignedInEndedBySignOutEverywhere(t *testing.T) {
	for name, signOut := range map[string]func(e *env, secret string){
		"administrator": func(e *env, _ string) {
			if err := e.p.accounts.SignOut(context.Background(), "alice"); err != nil {
				t.Fatal(err)
			}
		},
		"sign out everywhere else": func(e *env, secret string) {
			other := e.browser()
			other.signIn("alice", secret)
			if r := other.post(sip, sip+"/sign-out-others", url.Values{}); r.status != http.StatusSeeOther {
				t.Fatalf("sign out everywhere else: %d", r.status)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withRemember)
			secret := e.browser().register("alice")
			b := e.browser()
			b.signInOffered("alice", secret)
			b.answerOffer(url.Values{"stay": {"yes"}})
			// The sign-out is made by an instance with remember off.
			off := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now = e.clock.Now })
			off.clock = e.clock
			e.clock.Add(time.Second)
			signOut(off, secret)
			e.clock.Add(3 * 24 * time.Hour)
			if err := e.st.Prune(context.Background(), e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			later := newEnvWith(t, e.usersFile, e.st, withRemember, func(c *Config) { c.Now = e.clock.Now })
			if err := later.p.SyncRevocations(context.Background()); err != nil {
				t.Fatal(err)
			}
			cookie := plainNames.session + "=" + b.cookie(plainNames.session).Value
			if r := later.rawGet("/app", cookie, nil); r.status != http.StatusFound {
				t.Fatalf("a signed-out remembered session, three days later on a new instance: %d", r.status)
			}
		})
	}
}

// TestRememberTooShortRefused: remember must be longer than the lifetime,
// and neither option longer than a year.
func TestRememberTooShortRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  func(*Config)
		want string
	}{
		{func(c *Config) { c.Lifetime, c.Remember = 12*time.Hour, 8*time.Hour }, "must be longer than lifetime"},
		{func(c *Config) { c.Remember = 400 * 24 * time.Hour }, "at most 365 days"},
		{func(c *Config) { c.RememberDevice = 400 * 24 * time.Hour }, "at most 365 days"},
		{func(c *Config) { c.RememberDevice = -time.Hour }, "cannot be negative"},
	} {
		e := newEnv(t)
		cfg := e.cfg
		c.cfg(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}

// rememberThisBrowser signs alice in on b with her app and answers "Yes"
// to "Don't ask again on this device".
func rememberThisBrowser(t *testing.T, b *browser, secret string) {
	t.Helper()
	b.signInOffered("alice", secret)
	page := b.get(offerPage)
	if !strings.Contains(page.body, "<h1>Don&#39;t ask again on this device?</h1>") || !strings.Contains(page.body, "For the next 30 days") {
		t.Fatalf("the device offer:\n%s", page.body)
	}
	if r := b.answerOffer(url.Values{"device": {"yes"}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("yes: %d %q", r.status, r.header.Get("Location"))
	}
	if c := b.cookie(plainNames.device); c == nil {
		t.Fatal("no device cookie")
	}
}

// signOut signs b out when it is signed in.
func (b *browser) signOut() {
	b.t.Helper()
	if b.e.signedIn(b) {
		b.post(LogoutPath, LogoutPath, url.Values{})
	}
}

// passwordOnly reports whether the password alone signs user in on b.
func passwordOnly(t *testing.T, b *browser, user string) bool {
	t.Helper()
	b.signOut()
	r := b.login(user, testPassword)
	switch {
	case r.status == http.StatusSeeOther && r.header.Get("Location") == "/":
		return true
	case r.status == http.StatusSeeOther && r.header.Get("Location") == Prefix+"verify":
		return false
	}
	t.Fatalf("password step: %d %q %s", r.status, r.header.Get("Location"), r.body)
	return false
}

// TestRememberDevice: "Don't ask again" lets the password alone sign alice
// in on that browser only, for her only, until it expires; the app learns
// the second step was skipped; Security info lists the browser and
// forgets it.
func TestRememberDevice(t *testing.T) {
	e := newEnv(t, withRememberDevice)
	secret := e.browser().register("alice")
	bobSecret := e.browser().register("bob")
	b := e.browser()
	rememberThisBrowser(t, b, secret)

	if !passwordOnly(t, b, "alice") {
		t.Fatal("the remembered browser asked for the second step")
	}
	if r := b.get("/app"); !strings.Contains(r.body, "Remote-Auth-Methods: password,remembered-device") || strings.Contains(r.body, plainNames.device) {
		t.Fatalf("the app's headers:\n%s", r.body)
	}
	if n := len(e.events("sign-in", "success")); n == 0 {
		t.Fatal("no sign-in event")
	}
	// Bob in alice's browser, and alice in another browser, are asked.
	if passwordOnly(t, b, "bob") {
		t.Fatal("alice's remembered browser skipped bob's second step")
	}
	if passwordOnly(t, e.browser(), "alice") {
		t.Fatal("another browser skipped the second step")
	}
	// A cookie altered by a byte is refused.
	other := e.browser()
	c := *b.cookie(plainNames.device)
	c.Value = c.Value[:len(c.Value)-2] + "xx"
	other.c.Jar.SetCookies(mustURL(other.base), []*http.Cookie{&c})
	if passwordOnly(t, other, "alice") {
		t.Fatal("an altered device cookie skipped the second step")
	}

	// Security info lists it, marked as this browser; forgetting it asks again.
	passwordOnly(t, b, "alice")
	page := b.get(sip)
	if !strings.Contains(page.body, "Remembered browsers") || !strings.Contains(page.body, "(this browser)") {
		t.Fatalf("Security info:\n%s", page.body)
	}
	list, err := e.st.RememberedDevices(context.Background(), "alice", e.clock.Now())
	if err != nil || len(list) != 1 {
		t.Fatalf("stored: %+v %v", list, err)
	}
	// Bob cannot forget alice's browser.
	bob := e.browser()
	bob.signIn("bob", bobSecret)
	if r := bob.post(sip, sip+"/forget-device", url.Values{"id": {list[0].ID}}); r.status != http.StatusNotFound {
		t.Fatalf("bob forgetting alice's browser: %d", r.status)
	}
	if r := b.post(sip, sip+"/forget-device", url.Values{"id": {list[0].ID}}); r.status != http.StatusSeeOther {
		t.Fatalf("forgetting: %d %s", r.status, r.body)
	}
	if passwordOnly(t, b, "alice") {
		t.Fatal("a forgotten browser skipped the second step")
	}
}

// TestRememberDeviceOff: with remember_device turned off, a remembered
// browser is asked for the second step and Security info lists none.
func TestRememberDeviceOff(t *testing.T) {
	e := newEnv(t, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	rememberThisBrowser(t, b, secret)
	off := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now = e.clock.Now })
	off.clock = e.clock
	ob := off.browser()
	ob.c.Jar.SetCookies(mustURL(ob.base), []*http.Cookie{b.cookie(plainNames.device)})
	if passwordOnly(t, ob, "alice") {
		t.Fatal("a remembered browser skipped the second step with remember_device off")
	}
	ob.signIn("alice", secret)
	if page := ob.get(sip); strings.Contains(page.body, "Remembered browsers") {
		t.Fatalf("Security info lists remembered browsers with the option off:\n%s", page.body)
	}
}

// TestRememberDeviceDisabledUser: a user disabled in the users file (no
// sign-out, so the browser is still stored) is refused on a remembered
// browser.
func TestRememberDeviceDisabledUser(t *testing.T) {
	e := newEnv(t, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	rememberThisBrowser(t, b, secret)
	b.signOut()
	raw, _ := os.ReadFile(e.usersFile)
	disabled := strings.Replace(string(raw), "alice:\n", "alice:\n    disabled: true\n", 1)
	if err := osWriteFile(e.usersFile, disabled); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cfg.Users.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := b.login("alice", testPassword); r.status != http.StatusForbidden || !strings.Contains(r.body, "disabled") {
		t.Fatalf("a disabled user on a remembered browser: %d %q", r.status, r.header.Get("Location"))
	}
}

// TestRememberedDeviceSessionVerifiesAgain: a session a remembered browser
// began tells the app the second step was skipped until the user verifies
// again, which then names the method.
func TestRememberedDeviceSessionVerifiesAgain(t *testing.T) {
	e := newEnv(t, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	rememberThisBrowser(t, b, secret)
	passwordOnly(t, b, "alice")
	reauth(t, b, secret)
	if r := b.get("/app"); !strings.Contains(r.body, "Remote-Auth-Methods: password,totp\n") {
		t.Fatalf("after verifying again:\n%s", r.body)
	}
}

func TestReverifiedMethods(t *testing.T) {
	for _, c := range [][3]string{
		{"", "totp", ""}, {"password,remembered-device", "totp", ""}, {"passkey", "passkey", "passkey"},
		{"passkey", "totp", "passkey,totp"}, {"passkey,totp", "sms", "passkey,sms"}, {"passkey,totp", "passkey", "passkey"},
	} {
		if got := reverifiedMethods(c[0], c[1]); got != c[2] {
			t.Errorf("%q then %q: %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// TestRememberDeviceExpires: after remember_device the browser is asked
// again.
func TestRememberDeviceExpires(t *testing.T) {
	e := newEnv(t, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	rememberThisBrowser(t, b, secret)
	e.clock.Add(29 * 24 * time.Hour)
	if !passwordOnly(t, b, "alice") {
		t.Fatal("asked before the end")
	}
	e.clock.Add(24*time.Hour + time.Second)
	if passwordOnly(t, b, "alice") {
		t.Fatal("an expired remembered browser skipped the second step")
	}
}

// TestRememberDeviceIsNoSecondStep: a session the remembered browser
// began is not fresh for Security info changes and does not satisfy a
// site that requires a phishing-resistant method; an account locked for
// second steps is asked for one.
func TestRememberDeviceIsNoSecondStep(t *testing.T) {
	e := newEnv(t, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	rememberThisBrowser(t, b, secret)
	passwordOnly(t, b, "alice")
	if r := b.post(sip, sip+"/sign-out-others", url.Values{}); r.status != http.StatusForbidden || !strings.Contains(r.body, "verify it") {
		t.Fatalf("a change without a second step: %d", r.status)
	}
	strict := httptest.NewServer(e.handler(Policy{PhishingResistant: true}))
	t.Cleanup(strict.Close)
	req, _ := http.NewRequest("GET", strict.URL+"/app", nil)
	req.Header.Set("Accept", "application/json")
	for _, c := range b.c.Jar.Cookies(mustURL(b.base)) {
		req.AddCookie(c)
	}
	if r := b.do(req); r.status != http.StatusForbidden {
		t.Fatalf("a phishing-resistant site: %d", r.status)
	}
	// Locked for second steps: the browser does not open the account.
	for range e.cfg.Lockout.WithDefaults().HardLimit {
		if _, err := e.st.AddFailure(context.Background(), "alice", codeFailures, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b.post(LogoutPath, LogoutPath, url.Values{})
	if r := b.login("alice", testPassword); r.status == http.StatusSeeOther && r.header.Get("Location") == "/" {
		t.Fatal("a remembered browser opened an account locked for second steps")
	}
}

// TestRememberedDevicesEnded: a sign-out everywhere (by the user or an
// administrator), a password change and a reset of the methods each end
// every remembered browser.
func TestRememberedDevicesEnded(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		end  func(e *env, b *browser, secret string)
	}{
		{"sign-out-others", func(e *env, b *browser, secret string) {
			s := e.browser()
			s.signIn("alice", secret)
			if r := s.post(sip, sip+"/sign-out-others", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != sip+"?done=signed-out-forgot" {
				t.Fatalf("sign out everywhere else: %d %s", r.status, r.body)
			}
		}},
		{"admin sign-out", func(e *env, _ *browser, _ string) {
			if err := e.p.accounts.SignOut(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
		}},
		{"password set", func(e *env, _ *browser, _ string) {
			if _, err := e.p.accounts.SetPassword(ctx, "alice", "a new long passphrase 7"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.p.accounts.SetPassword(ctx, "alice", testPassword); err != nil {
				t.Fatal(err)
			}
		}},
		{"reset methods", func(e *env, _ *browser, _ string) {
			if _, err := e.p.accounts.ResetMethods(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, withRememberDevice)
			secret := e.browser().register("alice")
			b := e.browser()
			rememberThisBrowser(t, b, secret)
			c.end(e, b, secret)
			e.clock.Add(time.Second)
			b.signOut()
			r := b.login("alice", testPassword)
			if r.status == http.StatusSeeOther && r.header.Get("Location") == "/" {
				t.Fatal("the remembered browser still skips the second step")
			}
			if list, _ := e.st.RememberedDevices(ctx, "alice", e.clock.Now()); len(list) != 0 {
				t.Fatalf("still stored: %+v", list)
			}
		})
	}
}

// TestStaySignedInAndRememberDevice: with both options, one page offers
// both: the box and "Yes" together.
func TestStaySignedInAndRememberDevice(t *testing.T) {
	e := newEnv(t, withRemember, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	b.signInOffered("alice", secret)
	page := b.get(offerPage)
	if !strings.Contains(page.body, "<h1>Stay signed in?</h1>") || !strings.Contains(page.body, `name="device" value="yes"`) ||
		!strings.Contains(page.body, "Don&#39;t ask again on this device for 30 days") {
		t.Fatalf("the offer:\n%s", page.body)
	}
	b.answerOffer(url.Values{"stay": {"yes"}, "device": {"yes"}})
	// Nothing is left to offer; the same form sent again stores no
	// second device.
	if r := b.get(offerPage); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("the offer after both: %d %q", r.status, r.header.Get("Location"))
	}
	b.postFrom(page, RememberPath, url.Values{"device": {"yes"}, "rd": {"/"}})
	// Nor does the answer sent from a browser without the cookie (a
	// replay with the session cookie alone): one session, one device.
	thief := e.browser()
	thief.c.Jar.SetCookies(mustURL(thief.base), []*http.Cookie{b.cookie(plainNames.session), b.cookie(plainNames.csrf)})
	thief.postFrom(page, RememberPath, url.Values{"device": {"yes"}, "rd": {"/"}})
	if list, _ := e.st.RememberedDevices(context.Background(), "alice", e.clock.Now()); len(list) != 1 {
		t.Fatalf("devices: %d, want 1", len(list))
	}
	if n := len(e.events("device-remembered", "success")); n != 1 {
		t.Fatalf("%d device-remembered events, want 1", n)
	}
	e.clock.Add(2 * time.Hour)
	if !e.signedIn(b) {
		t.Fatal("not remembered")
	}
	if !passwordOnly(t, b, "alice") {
		t.Fatal("the browser was not remembered")
	}
}

func TestDurationWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * 24 * time.Hour: "30 days", 24 * time.Hour: "1 day", 36 * time.Hour: "1 day",
		12 * time.Hour: "12 hours", time.Hour: "1 hour", 90 * time.Minute: "1 hour", 45 * time.Minute: "45 minutes",
	} {
		if got := durationIn(messages.English(), d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// TestBrowserName: the labels of the list of remembered browsers.
func TestBrowserName(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0":                   "Edge on Windows",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0":                                                                  "Firefox on Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1": "Safari on iPhone",
		"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36":                                "Chrome on Android",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15":                   "Safari on macOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64)": "A browser on Windows",
		"curl/8.0": "A browser",
		"":         "A browser",
	} {
		if got := browserName(messages.English(), ua); got != want {
			t.Errorf("%q: %q, want %q", ua, got, want)
		}
	}
}

// TestStaySignedInNoDeclinesBoth: on the page that offers both, ticking
// "Don't ask again" and answering No remembers nothing.
func TestStaySignedInNoDeclinesBoth(t *testing.T) {
	e := newEnv(t, withRemember, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	b.signInOffered("alice", secret)
	b.answerOffer(url.Values{"stay": {"no"}, "device": {"yes"}})
	if b.cookie(plainNames.device) != nil {
		t.Fatal("No with the box ticked remembered the browser")
	}
	if list, _ := e.st.RememberedDevices(context.Background(), "alice", e.clock.Now()); len(list) != 0 {
		t.Fatalf("stored: %+v", list)
	}
}

// TestSignOutOnARememberedBrowser: signing out says the browser is still
// remembered, and offers to forget it too.
func TestSignOutOnARememberedBrowser(t *testing.T) {
	e := newEnv(t, withRememberDevice)
	secret := e.browser().register("alice")
	b := e.browser()
	rememberThisBrowser(t, b, secret)
	page := b.get(LogoutPath)
	if !strings.Contains(page.body, `name="forget" value="yes"`) {
		t.Fatalf("the sign-out page does not offer to forget the browser:\n%s", page.body)
	}
	r := b.postFrom(page, LogoutPath, url.Values{})
	if !strings.Contains(r.body, "This browser is still remembered") {
		t.Fatalf("signed out, still remembered, not said:\n%s", r.body)
	}
	if !passwordOnly(t, b, "alice") {
		t.Fatal("signing out forgot the browser")
	}
	page = b.get(LogoutPath)
	r = b.postFrom(page, LogoutPath, url.Values{"forget": {"yes"}})
	if strings.Contains(r.body, "still remembered") || b.cookie(plainNames.device) != nil {
		t.Fatalf("after forgetting: cookie %v\n%s", b.cookie(plainNames.device), r.body)
	}
	if list, _ := e.st.RememberedDevices(context.Background(), "alice", e.clock.Now()); len(list) != 0 {
		t.Fatalf("still stored: %+v", list)
	}
	// A browser that is not remembered is offered nothing.
	b.signIn("alice", secret)
	if page := b.get(LogoutPath); strings.Contains(page.body, `name="forget"`) {
		t.Fatal("a browser that is not remembered is offered to forget it")
	}
}
