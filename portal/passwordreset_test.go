package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
	"github.com/stepgate/stepgate/verifiers/phone"
)

// newResetEnv is a portal with text messages and password reset on,
// needing methods methods.
func newResetEnv(t *testing.T, methods int, opts ...envOption) (*env, *phoneInbox) {
	t.Helper()
	inbox := &phoneInbox{}
	e := newEnv(t, append([]envOption{func(c *Config) {
		countries, _ := phone.ParseCountries([]string{"+1"})
		c.SMS = &SMSConfig{Sender: inbox, Countries: countries}
		c.PasswordReset, c.PasswordResetMethods = true, methods
	}}, opts...)...)
	return e, inbox
}

// aliceWithAppAndPhone gives alice an authenticator app and a phone, and
// returns the app's secret.
func aliceWithAppAndPhone(t *testing.T, e *env) string {
	t.Helper()
	secret := e.browser().register("alice")
	if err := e.st.SetPhone(context.Background(), "alice", alicePhone); err != nil {
		t.Fatal(err)
	}
	return secret
}

// startReset submits "Reset your password" with name.
func (b *browser) startReset(name string) resp {
	b.t.Helper()
	return b.post(PasswordResetPath, PasswordResetPath, url.Values{"username": {name}})
}

// appCode posts a fresh authenticator app code on the verify page.
func (b *browser) appCode(secret string) resp {
	b.t.Helper()
	b.e.clock.Add(30 * time.Second)
	return b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {b.e.clock.code(secret)}})
}

// newPasswords posts the new password twice on "Choose a new password".
func (b *browser) newPasswords(pw, confirm string) resp {
	b.t.Helper()
	return b.post(NewPasswordPath, NewPasswordPath, url.Values{"new": {pw}, "confirm": {confirm}})
}

const newTestPassword = "plum tractor sunrise 42"

// resetToNewPassword runs alice's reset with her app, then her phone,
// up to "Choose a new password".
func resetToNewPassword(t *testing.T, e *env, inbox *phoneInbox, b *browser, secret string) {
	t.Helper()
	if r := b.startReset(" Alice"); r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("starting the reset: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	if r := b.appCode(secret); r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("app code: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {inbox.lastCode(t, alicePhone)}}); r.status != http.StatusSeeOther ||
		r.header.Get("Location") != NewPasswordPath {
		t.Fatalf("text code: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
}

func TestPasswordResetWithTwoMethods(t *testing.T) {
	e, inbox := newResetEnv(t, 2)
	secret := aliceWithAppAndPhone(t, e)
	// Alice is signed in elsewhere: the reset ends that session.
	elsewhere := e.browser()
	if r := elsewhere.signIn("alice", secret); r.status != http.StatusSeeOther || !e.signedIn(elsewhere) {
		t.Fatalf("signing in elsewhere: %d", r.status)
	}

	b := e.browser()
	if page := b.get(Prefix); !strings.Contains(page.body, `href="/.stepgate/password-reset`) || !strings.Contains(page.body, "Forgot my password?") {
		t.Fatalf("no Forgot my password? link on the password page: %s", page.body)
	}
	if page := b.get(PasswordResetPath); page.status != http.StatusOK || !strings.Contains(page.body, "Reset your password") {
		t.Fatalf("reset page: %d %s", page.status, page.body)
	}
	if r := b.startReset(" Alice"); r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("starting the reset: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	page := b.get(Prefix + "verify")
	if !strings.Contains(page.body, "Open your authenticator app") || !strings.Contains(page.body, "step 1 of 2") {
		t.Fatalf("first verification: %s", page.body)
	}
	if r := b.appCode(secret); r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("app code: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	// One verification is no sign-in, and not yet a reset.
	if b.cookie(plainNames.session) != nil || e.signedIn(b) {
		t.Fatal("a verification of a password reset signed the user in")
	}
	if r := b.post(Prefix+"verify", NewPasswordPath, url.Values{"new": {newTestPassword}, "confirm": {newTestPassword}}); r.status != http.StatusForbidden {
		t.Fatalf("new password after one of two methods: %d", r.status)
	}
	// The reset went on to the phone by itself; the app is not offered
	// again, nor taken.
	page = b.get(Prefix + "verify")
	if !strings.Contains(html.UnescapeString(page.body), "We texted your phone") || !strings.Contains(page.body, "step 2 of 2") ||
		strings.Contains(page.body, `id="other"`) {
		t.Fatalf("second verification: %s", page.body)
	}
	other := b.get(Prefix + "verify/other")
	if strings.Contains(other.body, `name="method"`) || !strings.Contains(other.body, "No other verification methods") {
		t.Fatalf("Sign in another way offers a method already used: %s", other.body)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"totp"}}); r.status != http.StatusBadRequest {
		t.Fatalf("choosing the app again: %d", r.status)
	}
	if r := b.appCode(secret); r.status != http.StatusUnauthorized {
		t.Fatalf("an app code for the second method: %d", r.status)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {inbox.lastCode(t, alicePhone)}}); r.status != http.StatusSeeOther ||
		r.header.Get("Location") != NewPasswordPath {
		t.Fatalf("text code: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	if b.cookie(plainNames.session) != nil {
		t.Fatal("verifying a password reset issued a session")
	}
	page = b.get(NewPasswordPath)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Choose a new password") {
		t.Fatalf("new password page: %d %s", page.status, page.body)
	}
	// Mismatch, policy and length are refused, and the reset goes on.
	for _, tc := range []struct{ pw, confirm, want string }{
		{newTestPassword, newTestPassword + "x", "The new passwords don't match"},
		{"password", "password", "too common"},
		{"alice example", "alice example", "name"},
		{strings.Repeat("x", 257), strings.Repeat("x", 257), "256"},
	} {
		r := b.newPasswords(tc.pw, tc.confirm)
		if r.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), tc.want) {
			t.Errorf("new password %.20q: %d, want 400 saying %q: %s", tc.pw, r.status, tc.want, r.body)
		}
	}
	pending := b.cookie(plainNames.pending)
	token := csrfRe.FindStringSubmatch(b.get(NewPasswordPath).body)[1]
	r := b.newPasswords(newTestPassword, newTestPassword)
	if r.status != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), "Your password was changed, and you're signed out everywhere. Sign in with your new password.") {
		t.Fatalf("setting the new password: %d %s", r.status, r.body)
	}
	if b.cookie(plainNames.session) != nil || e.signedIn(b) {
		t.Fatal("a password reset signed the user in")
	}
	if e.signedIn(elsewhere) {
		t.Fatal("alice's other session survived the reset")
	}

	// The final form again, with the pending cookie it had: refused, and
	// the password stays the one set.
	u, _ := url.Parse(b.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{pending})
	replay := b.postRaw(NewPasswordPath, url.Values{"new": {"another fine passphrase"}, "confirm": {"another fine passphrase"}, "csrf": {token}}, nil)
	if replay.status != http.StatusForbidden || !strings.Contains(replay.body, "This password reset has ended") {
		t.Fatalf("replayed new password: %d %s", replay.status, replay.body)
	}

	c := e.browser()
	if r := c.login("alice", testPassword); r.status != http.StatusUnauthorized {
		t.Fatalf("the old password after the reset: %d", r.status)
	}
	if r := c.login("alice", "another fine passphrase"); r.status != http.StatusUnauthorized {
		t.Fatalf("the replayed password: %d", r.status)
	}
	if r := c.login("alice", newTestPassword); r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("the new password: %d %s", r.status, r.body)
	}

	for _, outcome := range []string{"started", "success", "replayed"} {
		if n := len(e.events("password-reset", outcome)); n != 1 {
			t.Errorf("password-reset %s audited %d times", outcome, n)
		}
	}
	ev, _ := e.st.RecentSignInEvents(context.Background(), "alice", 20)
	var outcomes []string
	for _, x := range ev {
		outcomes = append(outcomes, x.Outcome)
	}
	if !slices.Contains(outcomes, "password-reset-success") || !slices.Contains(outcomes, "password-reset-started") {
		t.Errorf("Recent activity: %q", outcomes)
	}
}

func TestPasswordResetWithOneMethod(t *testing.T) {
	e, _ := newResetEnv(t, 1)
	secret := e.browser().register("alice")
	b := e.browser()
	if r := b.startReset("alice"); r.status != http.StatusSeeOther {
		t.Fatalf("starting the reset: %d %s", r.status, r.body)
	}
	if page := b.get(Prefix + "verify"); !strings.Contains(page.body, "step 1 of 1") {
		t.Fatalf("verify page: %s", page.body)
	}
	if r := b.appCode(secret); r.status != http.StatusSeeOther || r.header.Get("Location") != NewPasswordPath {
		t.Fatalf("app code: %d %s", r.status, r.header.Get("Location"))
	}
	if r := b.newPasswords(newTestPassword, newTestPassword); r.status != http.StatusOK {
		t.Fatalf("new password: %d %s", r.status, r.body)
	}
	if r := e.browser().login("alice", newTestPassword); r.status != http.StatusSeeOther {
		t.Fatalf("the new password: %d", r.status)
	}
}

// The default is two methods: alice with one cannot reset.
func TestPasswordResetDefaultsToTwoMethods(t *testing.T) {
	e, _ := newResetEnv(t, 0)
	e.browser().register("alice")
	if r := e.browser().startReset("alice"); r.status != http.StatusForbidden {
		t.Fatalf("one method of two: %d", r.status)
	}
}

func TestPasswordResetNeedsThisResetsVerifications(t *testing.T) {
	e, inbox := newResetEnv(t, 2)
	secret := aliceWithAppAndPhone(t, e)
	ended := func(what string, r resp) {
		t.Helper()
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "This password reset has ended") {
			t.Errorf("%s: %d %s", what, r.status, r.body)
		}
	}
	form := url.Values{"new": {newTestPassword}, "confirm": {newTestPassword}}
	// Straight to the last step, with no pending at all.
	b := e.browser()
	ended("no reset", b.post(Prefix, NewPasswordPath, form))
	ended("no reset (GET)", b.get(NewPasswordPath))
	// With a sign-in's pending, before and after its second step.
	e.clock.Add(30 * time.Second)
	b.login("alice", testPassword)
	ended("sign-in pending", b.post(Prefix+"verify", NewPasswordPath, form))
	// A reauth's pending.
	s := e.browser()
	s.signIn("alice", secret)
	if r := s.post(sip, sip+"/verify", url.Values{}); r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("starting a reauth: %d %s", r.status, r.body)
	}
	if c := s.cookie(plainNames.pending); c == nil {
		t.Fatal("no reauth pending")
	}
	ended("reauth pending", s.post(Prefix+"verify", NewPasswordPath, form))
	// A reset's pending, expired after its verifications.
	r := e.browser()
	resetToNewPassword(t, e, inbox, r, secret)
	e.clock.Add(pendingLifetime + time.Second)
	ended("expired reset", r.post(Prefix, NewPasswordPath, form))
	if got := e.browser().login("alice", testPassword); got.status != http.StatusSeeOther {
		t.Fatalf("the password changed: %d", got.status)
	}
}

func TestPasswordResetCodesCountTowardLockout(t *testing.T) {
	e, _ := newResetEnv(t, 2)
	aliceWithAppAndPhone(t, e)
	b := e.browser()
	b.startReset("alice")
	for i := range e.p.cfg.Lockout.Threshold {
		if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {"000000"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d", i+1, r.status)
		}
	}
	f, _ := e.st.Failures(context.Background(), "alice", codeFailures)
	if f.Count != e.p.cfg.Lockout.Threshold {
		t.Fatalf("code failures %d, want %d", f.Count, e.p.cfg.Lockout.Threshold)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {"000000"}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("past the threshold: %d", r.status)
	}
}

// resetLog notes the store's reads a reset start makes, beside writeLog's
// writes.
type resetLog struct{ *writeLog }

func (l resetLog) SecurityInfo(ctx context.Context, name string) (store.SecurityInfo, error) {
	l.note("read security info")
	return l.Store.SecurityInfo(ctx, name)
}

func (l resetLog) PushDevices(ctx context.Context, name string) ([]store.PushDevice, error) {
	l.note("read push devices")
	return l.Store.PushDevices(ctx, name)
}

func (l resetLog) Credentials(ctx context.Context, name, method string) ([]store.Credential, error) {
	l.note("read credentials " + method)
	return l.Store.Credentials(ctx, name, method)
}

func (l resetLog) MethodCount(ctx context.Context, name string) (int, error) {
	l.note("method count")
	return l.Store.MethodCount(ctx, name)
}

var (
	tokenRe = regexp.MustCompile(`name="csrf" value="[^"]*"`)
)

// TestPasswordResetUnknownNameLooksLikeTooFewMethods: a name that does
// not exist gets what a user without enough methods gets (a disabled
// user too): the same status, the same page but for the name typed, and
// the same store reads and writes.
func TestPasswordResetUnknownNameLooksLikeTooFewMethods(t *testing.T) {
	var log *writeLog
	e, _ := newResetEnv(t, 2, func(c *Config) {
		log = &writeLog{Store: c.Store}
		c.Store = resetLog{log}
	})
	e.browser().register("bob") // one method of the two
	b := e.browser()
	type seen struct {
		status int
		page   string
		store  []string
	}
	try := func(name string) seen {
		log.take()
		r := b.startReset(name)
		page := tokenRe.ReplaceAllString(r.body, "")
		page = strings.ReplaceAll(page, `value="`+name+`"`, `value=""`)
		return seen{r.status, page, log.take()}
	}
	for i := range 3 {
		unknown := try("nobody-here")
		if unknown.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(unknown.page), "You can't reset your password here") {
			t.Fatalf("unknown name: %d %s", unknown.status, unknown.page)
		}
		if len(unknown.store) < 2 {
			t.Fatalf("unknown name: the store did only %q", unknown.store)
		}
		for _, name := range []string{"bob", "carol", "alice"} { // one method, disabled, none
			got := try(name)
			if got.status != unknown.status || got.page != unknown.page {
				t.Errorf("#%d %s: %d, unknown name %d; pages differ:\n%s\n---\n%s", i, name, got.status, unknown.status, got.page, unknown.page)
			}
			if !slices.Equal(got.store, unknown.store) {
				t.Errorf("#%d %s: store work %q, unknown name's %q", i, name, got.store, unknown.store)
			}
		}
	}
	if n := len(e.events("password-reset", "started")); n != 0 {
		t.Errorf("%d resets started", n)
	}
	if ev, _ := e.st.RecentSignInEvents(context.Background(), "nobody-here", 1); len(ev) > 0 {
		t.Errorf("events kept under a name that does not exist: %+v", ev)
	}
}

// Carol is disabled: with methods enough she still cannot reset.
func TestPasswordResetDisabledUser(t *testing.T) {
	e, _ := newResetEnv(t, 1)
	if err := e.st.SetPhone(context.Background(), "carol", bobPhone); err != nil {
		t.Fatal(err)
	}
	r := e.browser().startReset("carol")
	if r.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(r.body), "You can't reset your password here") {
		t.Fatalf("disabled user: %d %s", r.status, r.body)
	}
	if len(e.events("password-reset", "disabled")) != 1 {
		t.Error("disabled user's reset not audited")
	}
}

func TestPasswordResetOff(t *testing.T) {
	e := newEnv(t)
	e.browser().register("alice")
	b := e.browser()
	if page := b.get(Prefix); strings.Contains(page.body, "password-reset") || strings.Contains(page.body, "Forgot my password?") {
		t.Fatalf("the password page offers a reset that is off: %s", page.body)
	}
	for _, path := range []string{PasswordResetPath, NewPasswordPath} {
		if r := b.get(path); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, r.status)
		}
		if r := b.post(Prefix, path, url.Values{"username": {"alice"}}); r.status != http.StatusNotFound {
			t.Errorf("POST %s: %d", path, r.status)
		}
	}
}

func TestPasswordResetMethodsChecked(t *testing.T) {
	for _, n := range []int{-1, 3} {
		e := newEnv(t)
		cfg := e.cfg
		cfg.PasswordReset, cfg.PasswordResetMethods = true, n
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "1 or 2") {
			t.Errorf("%d methods: %v", n, err)
		}
	}
}

func TestPasswordResetFormsNeedCSRF(t *testing.T) {
	e, inbox := newResetEnv(t, 2)
	secret := aliceWithAppAndPhone(t, e)
	b := e.browser()
	resetToNewPassword(t, e, inbox, b, secret)
	for _, path := range []string{PasswordResetPath, NewPasswordPath} {
		form := url.Values{"username": {"alice"}, "new": {newTestPassword}, "confirm": {newTestPassword}}
		for name, tok := range map[string]string{"no token": "", "wrong token": "AAAA"} {
			form.Set("csrf", tok)
			if r := b.postRaw(path, form, nil); r.status != http.StatusForbidden || !strings.Contains(r.body, "This form has expired") {
				t.Errorf("%s %s: %d", path, name, r.status)
			}
		}
	}
	if r := e.browser().login("alice", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("the password changed: %d", r.status)
	}
}

// TestPasswordResetStartsUseTheNetworksBudget: starting a reset proves
// nothing and sends a text or a request, so every start uses one attempt
// of the network's budget, also for a user who goes on to verify: the
// third start from one network is refused 429 and sends nothing.
func TestPasswordResetStartsUseTheNetworksBudget(t *testing.T) {
	e, inbox := newResetEnv(t, 1)
	e.cfg.Users.(*password.Directory).SetLimits(password.Limits{CPUShare: 1, Attempts: 2, Per: time.Minute, RefusalDelay: -1})
	if err := e.st.SetPhone(context.Background(), "alice", alicePhone); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	for i := range 2 {
		if r := b.startReset("alice"); r.status != http.StatusSeeOther {
			t.Fatalf("start %d: %d %s", i+1, r.status, r.body)
		}
	}
	sent := inbox.count()
	if r := b.startReset("alice"); r.status != http.StatusTooManyRequests {
		t.Fatalf("third start from the network: %d, want 429:\n%s", r.status, r.body)
	}
	if n := inbox.count(); n != sent {
		t.Fatalf("a refused start sent a text (%d, then %d)", sent, n)
	}
}
