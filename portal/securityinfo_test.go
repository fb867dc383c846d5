package portal

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"

	"github.com/stepgate/stepgate/store"
)

const sip = Prefix + "security-info"

// fresh signs alice up (first sign-in with an authenticator app) in a new
// browser and returns it with her secret: her second step is seconds old.
func freshAlice(t testing.TB, e *env) (*browser, string) {
	t.Helper()
	b := e.browser()
	secret := b.register("alice")
	return b, secret
}

// reauth verifies again from the Security info page with the app code.
func reauth(t *testing.T, b *browser, secret string) {
	t.Helper()
	b.e.clock.Add(30 * time.Second)
	r := b.post(sip, sip+"/verify", url.Values{})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("starting to verify again: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	r = b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {b.e.clock.code(secret)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != sip+"?done=verified" {
		t.Fatalf("verifying again: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
}

func TestSecurityInfoNeedsASession(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.get(sip)
	if r.status != http.StatusFound || r.header.Get("Location") != Prefix+"?rd="+url.QueryEscape(sip) {
		t.Fatalf("signed out: %d %q", r.status, r.header.Get("Location"))
	}
	// A form posted without a session changes nothing.
	if r := b.postRaw(sip+"/remove", url.Values{"method": {"totp"}, "id": {"app"}}, nil); r.status != http.StatusForbidden && r.status != http.StatusUnauthorized {
		t.Fatalf("signed-out form: %d", r.status)
	}
}

func TestSecurityInfoShowsMethodsAndActivity(t *testing.T) {
	e, _ := newSMSEnv(t)
	b, _ := freshAlice(t, e)
	page := b.get(sip)
	for _, want := range []string{
		"Security info", "Authenticator app", "Added ",
		`id="add-sms"`, "Add a phone for text messages",
		"Sign out everywhere else", "Recent activity", "Signed in", "Sign-in method added", "This wasn",
		`id="last-only"`, // the app is alice's only method: no Delete
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page.body, `action="/.stepgate/security-info/remove"`) {
		t.Error("the only method can be deleted")
	}
	if strings.Contains(page.body, `id="verify-first"`) {
		t.Error("a fresh sign-in is asked to verify again")
	}
	// Linked from the pages a signed-in user sees.
	for _, p := range []string{Prefix, Prefix + "logout"} {
		if r := b.get(p); !strings.Contains(r.body, `href="/.stepgate/security-info"`) {
			t.Errorf("%s does not link to Security info", p)
		}
	}
}

// TestSecurityInfoAddPhoneMakeDefaultRemoveApp: alice adds a phone (the
// number is stored only once its code is typed), makes texts her default
// (the next sign-in texts her), and deletes her app.
func TestSecurityInfoAddPhoneMakeDefaultRemoveApp(t *testing.T) {
	e, inbox := newSMSEnv(t)
	b, secret := freshAlice(t, e)
	ctx := context.Background()
	r := b.post(sip+"/add/phone", sip+"/add/phone", url.Values{"phone": {"+1 415 555 2671"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Enter the code you received") {
		t.Fatalf("sending the code: %d %s", r.status, r.body)
	}
	if info, _ := e.st.SecurityInfo(ctx, "alice"); info.Phone != "" {
		t.Fatal("the number was stored before its code was typed")
	}
	if r := b.post(sip+"/add/phone", sip+"/add/phone", url.Values{"code": {"000000"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", r.status)
	}
	r = b.post(sip+"/add/phone", sip+"/add/phone", url.Values{"code": {inbox.lastCode(t, bobPhone)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != sip+"?done=added" {
		t.Fatalf("confirming: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	if info, _ := e.st.SecurityInfo(ctx, "alice"); info.Phone != bobPhone {
		t.Fatalf("phone not stored: %+v", info)
	}
	page := b.get(sip + "?done=added")
	if !strings.Contains(page.body, "Your sign-in method was added.") || !strings.Contains(page.body, "Text message") {
		t.Fatalf("after adding: %s", page.body)
	}
	if len(e.events("method-added", "success")) != 2 {
		t.Error("adding the phone was not logged")
	}

	// Default: texts. The next sign-in starts by texting (after the
	// resend cooldown of the set-up's text).
	e.clock.Add(time.Minute)
	if r := b.post(sip, sip+"/default", url.Values{"method": {"sms"}}); r.status != http.StatusSeeOther {
		t.Fatalf("default: %d %s", r.status, r.body)
	}
	sent := inbox.count()
	c := e.browser()
	c.login("alice", testPassword)
	if inbox.count() != sent+1 {
		t.Fatal("the new default was not used at the next sign-in")
	}
	// A method that isn't the user's can't be the default.
	if r := b.post(sip, sip+"/default", url.Values{"method": {"push"}}); r.status != http.StatusBadRequest {
		t.Fatalf("default to a method alice lacks: %d", r.status)
	}

	// Delete the app; the phone stays.
	if r := b.post(sip, sip+"/remove", url.Values{"method": {"totp"}, "id": {"app"}}); r.status != http.StatusSeeOther {
		t.Fatalf("remove the app: %d %s", r.status, r.body)
	}
	if info, _ := e.st.SecurityInfo(ctx, "alice"); info.TOTPSecret != nil || info.Phone == "" {
		t.Fatalf("after removing the app: %+v", info)
	}
	// Now the phone is the last method: it can't go.
	if r := b.post(sip, sip+"/remove", url.Values{"method": {"sms"}, "id": {"phone"}}); r.status != http.StatusConflict || !strings.Contains(r.body, "only sign-in method") {
		t.Fatalf("remove the last method: %d", r.status)
	}
	_ = secret
}

// TestSecurityInfoNeedsARecentSecondStep: eleven minutes after the last
// second step every change is refused until the user verifies again.
func TestSecurityInfoNeedsARecentSecondStep(t *testing.T) {
	e, _ := newSMSEnv(t)
	b, secret := freshAlice(t, e)
	e.st.SetPhone(context.Background(), "alice", bobPhone)
	e.clock.Add(11 * time.Minute)
	page := b.get(sip)
	if !strings.Contains(page.body, `id="verify-first"`) {
		t.Fatal("a stale session is not asked to verify again")
	}
	for path, form := range map[string]url.Values{
		"/default":         {"method": {"sms"}},
		"/remove":          {"method": {"totp"}, "id": {"app"}},
		"/sign-out-others": {},
	} {
		if r := b.post(sip, sip+path, form); r.status != http.StatusForbidden || !strings.Contains(r.body, "verify it") {
			t.Errorf("%s with a stale second step: %d", path, r.status)
		}
	}
	if r := b.get(sip + "/add/phone"); r.status != http.StatusForbidden || !strings.Contains(r.body, `name="next" value="add/phone"`) {
		t.Fatalf("adding with a stale second step: %d %s", r.status, r.body)
	}
	info, _ := e.st.SecurityInfo(context.Background(), "alice")
	if info.TOTPSecret == nil || info.DefaultMethod != "" {
		t.Fatalf("a stale session changed something: %+v", info)
	}
	reauth(t, b, secret)
	if r := b.post(sip, sip+"/default", url.Values{"method": {"sms"}}); r.status != http.StatusSeeOther {
		t.Fatalf("after verifying again: %d %s", r.status, r.body)
	}
	if len(e.events("sign-in", "reauth")) != 1 {
		t.Error("verifying again was not logged")
	}
}

// TestReauthRenewsOnlyItsOwnSession: a second step started from another
// session (another browser's pending cookie, carried over) does not renew
// this session's verification.
func TestReauthRenewsOnlyItsOwnSession(t *testing.T) {
	e := newEnv(t)
	b, secret := freshAlice(t, e)
	e.clock.Add(11 * time.Minute)
	c := e.browser()
	c.signIn("alice", secret)
	c.post(sip, sip+"/verify", url.Values{})
	stolen := c.cookie(plainNames.pending)
	b.c.Jar.SetCookies(mustURL(b.base), []*http.Cookie{{Name: plainNames.pending, Value: stolen.Value, Path: "/"}})
	e.clock.Add(30 * time.Second)
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}}); r.status == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), sip) {
		t.Fatal("another session's verification renewed this one")
	}
	if r := b.get(sip); !strings.Contains(r.body, `id="verify-first"`) {
		t.Fatal("this session counts as verified")
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSecurityInfoRefusesOtherUsersDevices: a device ID of another user,
// or a made-up one, deletes and renames nothing.
func TestSecurityInfoRefusesOtherUsersDevices(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "bob")
	b, _ := freshAlice(t, e.env)
	for _, id := range []string{ph.Device, "made-up", ""} {
		if r := b.post(sip, sip+"/remove", url.Values{"method": {"push"}, "id": {id}}); r.status != http.StatusNotFound {
			t.Errorf("delete device %q: %d", id, r.status)
		}
		if r := b.post(sip, sip+"/rename", url.Values{"method": {"push"}, "id": {id}, "name": {"Mine now"}}); r.status != http.StatusNotFound {
			t.Errorf("rename device %q: %d", id, r.status)
		}
	}
	devs, _ := e.st.PushDevices(context.Background(), "bob")
	if len(devs) != 1 || devs[0].Name != "Pixel" {
		t.Fatalf("bob's device changed: %+v", devs)
	}
	for _, form := range []url.Values{{"method": {"nope"}, "id": {"x"}}, {"method": {"password"}}, {}} {
		if r := b.post(sip, sip+"/remove", form); r.status != http.StatusBadRequest {
			t.Errorf("remove %v: %d", form, r.status)
		}
	}
}

func TestSecurityInfoRenamesAndRemovesDevices(t *testing.T) {
	e := newPushEnv(t)
	ph, b := e.setUpPhone(t, "alice")
	// A second method, so the device can go.
	e.st.SetTOTP(context.Background(), "alice", []byte("x"), 0)
	if r := b.post(sip, sip+"/rename", url.Values{"method": {"push"}, "id": {ph.Device}, "name": {"Work phone"}}); r.status != http.StatusSeeOther {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	if r := b.post(sip, sip+"/rename", url.Values{"method": {"push"}, "id": {ph.Device}, "name": {strings.Repeat("x", 41)}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, "Nothing was changed") {
		t.Fatalf("rename to a long name: %d", r.status)
	}
	if d, _ := e.st.PushDevice(context.Background(), ph.Device); d.Name != "Work phone" {
		t.Fatalf("name: %q", d.Name)
	}
	if r := b.post(sip, sip+"/remove", url.Values{"method": {"push"}, "id": {ph.Device}}); r.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	// The removed device's answers are refused.
	if status, _ := e.device(t, "pending", ph.Signed(e.clock.Now(), "pending", "")); status != http.StatusNotFound {
		t.Fatalf("removed device still talks: %d", status)
	}
}

// TestSignOutEverywhereElse: the other browser's session stops working at
// once on this instance; this browser stays signed in.
func TestSignOutEverywhereElse(t *testing.T) {
	e := newEnv(t)
	b, secret := freshAlice(t, e)
	c := e.browser()
	if r := c.signIn("alice", secret); r.status != http.StatusSeeOther {
		t.Fatalf("second browser: %d", r.status)
	}
	if !e.signedIn(c) || !e.signedIn(b) {
		t.Fatal("not both signed in")
	}
	reauth(t, b, secret)
	if r := b.post(sip, sip+"/sign-out-others", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out others: %d %s", r.status, r.body)
	}
	if e.signedIn(c) {
		t.Fatal("the other browser is still signed in")
	}
	if !e.signedIn(b) {
		t.Fatal("this browser was signed out too")
	}
	// Other instances learn it from the store.
	revs, _ := e.st.RevocationsAfter(context.Background(), 0, e.clock.Now())
	if len(revs) != 1 || revs[0].Username != "alice" {
		t.Fatalf("revocations: %+v", revs)
	}
}

var addIDRe = regexp.MustCompile(`id="add-([a-z]+)"`)

// TestSecurityInfoReplacesTheApp: a new authenticator secret replaces the
// old one only when its code is typed; until then the old app works.
func TestSecurityInfoReplacesTheApp(t *testing.T) {
	e := newEnv(t)
	b, secret := freshAlice(t, e)
	page := b.get(sip)
	if !strings.Contains(page.body, "Replace with a new app") {
		t.Fatalf("no replace link: %s", page.body)
	}
	set := b.get(sip + "/add/app")
	m := secretRe.FindStringSubmatch(set.body)
	if m == nil || !strings.Contains(set.body, "keeps working until the new one is confirmed") {
		t.Fatalf("replace page: %d %s", set.status, set.body)
	}
	if qr := b.get(sip + "/add/app/qr.png"); qr.status != http.StatusOK {
		t.Fatalf("qr: %d", qr.status)
	}
	newSecret := strings.ReplaceAll(m[1], " ", "")
	// The old app still signs in.
	c := e.browser()
	if r := c.signIn("alice", secret); r.status != http.StatusSeeOther {
		t.Fatalf("old app before the replacement: %d", r.status)
	}
	e.clock.Add(30 * time.Second)
	if r := b.post(sip+"/add/app", sip+"/add/app", url.Values{"code": {e.clock.code(newSecret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("confirm the new app: %d %s", r.status, r.body)
	}
	d := e.browser()
	e.clock.Add(30 * time.Second)
	d.login("alice", testPassword)
	if r := d.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}}); r.status != http.StatusUnauthorized {
		t.Fatalf("old app after the replacement: %d", r.status)
	}
	_ = addIDRe
	_ = store.ErrNotFound
}

// TestReauthGoesBackToTheSetUp: after verifying again the user lands on
// the set-up they were about to start, and never anywhere a form named.
func TestReauthGoesBackToTheSetUp(t *testing.T) {
	e, _ := newSMSEnv(t)
	for next, want := range map[string]string{
		"add/phone":             sip + "/add/phone",
		"add/nope":              sip + "?done=verified",
		"add//evil.example":     sip + "?done=verified",
		"add/phone/../../..":    sip + "?done=verified",
		"https://evil.example/": sip + "?done=verified",
	} {
		b, secret := freshAlice(t, e)
		e.clock.Add(11 * time.Minute)
		r := b.post(sip, sip+"/verify", url.Values{"next": {next}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("%q: %d", next, r.status)
		}
		e.clock.Add(30 * time.Second)
		r = b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}})
		if r.header.Get("Location") != want {
			t.Errorf("next %q: went to %q, want %q", next, r.header.Get("Location"), want)
		}
		e.st.RemoveMethod(t.Context(), "alice", store.MethodRef{Kind: store.KindTOTP}, false)
	}
}

// TestReauthWords: the page said "for 0 minutes" with `reauth 30s`, and
// "1 minutes" with 90s.
func TestReauthWords(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Minute, "10 minutes"},
		{90 * time.Second, "1 minute"},
		{time.Minute, "1 minute"},
		{30 * time.Second, "30 seconds"},
		{time.Second, "1 second"},
		{1500 * time.Millisecond, "1 second"},
		{2 * time.Hour, "120 minutes"},
	} {
		if got := reauthWordsIn(messages.English(), tc.d); got != tc.want {
			t.Errorf("reauthWordsIn(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestReauthPageSaysWhy: verifying again for Security info says why, has
// no back arrow to a password step, and cancels back to Security info.
func TestReauthPageSaysWhy(t *testing.T) {
	e := newEnv(t)
	secret := e.browser().register("alice")
	b := e.browser()
	b.signIn("alice", secret)
	e.clock.Add(11 * time.Minute)
	if r := b.post(sip, sip+"/verify", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("starting to verify again: %d", r.status)
	}
	page := b.get(Prefix + "verify")
	if !strings.Contains(page.body, "To change your security info, verify it&#39;s you.") || strings.Contains(page.body, `id="back"`) ||
		!strings.Contains(page.body, `<a href="/.stepgate/security-info" id="cancel">Cancel</a>`) || strings.Contains(page.body, "Cancel and start over") {
		t.Fatalf("the verify-again page:\n%s", page.body)
	}
	// A sign-in's verify page keeps its way back.
	s := e.browser()
	s.login("alice", testPassword)
	if page := s.get(Prefix + "verify"); !strings.Contains(page.body, `id="back"`) || !strings.Contains(page.body, "Cancel and start over") {
		t.Fatalf("a sign-in's verify page:\n%s", page.body)
	}
}
