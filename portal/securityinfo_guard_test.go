package portal

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
	"github.com/stepgate/stepgate/verifiers/voice"
)

// addUnusableCredential gives user a credential of a method this site has
// not registered: it counts in the store, but cannot be used to sign in.
func addUnusableCredential(t *testing.T, st store.Store, user string) {
	t.Helper()
	if err := st.AddCredential(context.Background(), store.Credential{ID: "pk-" + user, Username: user, Method: "passkey", Name: "YubiKey"}, false); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteKeepsTheSharedPhone: with texts and calls on, one phone serves
// two methods. Once it is alice's only credential usable here (beside one
// of a method the site does not offer), deleting it is refused: counting
// methods instead of credentials let it go and locked her out.
func TestDeleteKeepsTheSharedPhone(t *testing.T) {
	inbox := &phoneInbox{}
	line := &phoneLine{}
	countries, _ := phone.ParseCountries([]string{"+1"})
	e := newEnv(t, func(c *Config) {
		c.SMS = &SMSConfig{Sender: inbox, Countries: countries}
		c.Voice = &VoiceConfig{Caller: line, Mode: voice.ReadCode, Countries: countries, PublicURL: publicURL, AuthToken: twilioToken}
	})
	ctx := context.Background()
	b, _ := freshAlice(t, e)
	e.st.SetPhone(ctx, "alice", alicePhone)
	addUnusableCredential(t, e.st, "alice")
	if r := b.post(sip, sip+"/remove", url.Values{"method": {"totp"}, "id": {"app"}}); r.status != http.StatusSeeOther {
		t.Fatalf("remove the app: %d %s", r.status, r.body)
	}
	// The phone is now alice's only usable method.
	r := b.post(sip, sip+"/remove", url.Values{"method": {"sms"}, "id": {"phone"}})
	if r.status == http.StatusSeeOther {
		c := e.browser()
		lr := c.login("alice", testPassword)
		t.Fatalf("the only usable method was deleted (remove: %d); next sign-in: %d %s", r.status, lr.status,
			firstLine(lr.body, "None of your"))
	}
}

// TestDeleteKeepsTheOnlyUsableDevice: a method with many credentials (the
// Stepgate Authenticator) is no exception: its only device, beside a phone
// this site does not use, cannot be deleted.
func TestDeleteKeepsTheOnlyUsableDevice(t *testing.T) {
	e := newPushEnv(t)
	ctx := context.Background()
	b, _ := freshAlice(t, e.env)
	// A phone (texts and calls are off here: unusable) and one device.
	e.st.SetPhone(ctx, "alice", alicePhone)
	tok := []byte("tokenhash-review-0000000000000000")
	if err := e.st.PutPushEnrolment(ctx, tok, "ch", "alice", e.clock.Now().Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	d, _, err := e.st.EnrolPushDevice(ctx, tok, store.PushDevice{ID: "dev1", Name: "Pixel", PublicKey: []byte{4}}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := b.post(sip, sip+"/remove", url.Values{"method": {"totp"}, "id": {"app"}}); r.status != http.StatusSeeOther {
		t.Fatalf("remove the app: %d %s", r.status, r.body)
	}
	r := b.post(sip, sip+"/remove", url.Values{"method": {"push"}, "id": {d.ID}})
	if r.status == http.StatusSeeOther {
		lr := e.browser().login("alice", testPassword)
		t.Fatalf("the only usable method (one device) was deleted (remove: %d); next sign-in: %d %s", r.status, lr.status,
			firstLine(lr.body, "None of your"))
	}
}

// TestSetUpLinkEndsWithSignOut: a set-up link ("a-") made on Security info
// enrols no phone once alice has signed out everywhere else and signed out
// (someone who got it while they held her session adds nothing).
func TestSetUpLinkEndsWithSignOut(t *testing.T) {
	e := newPushEnv(t)
	b, _ := freshAlice(t, e.env)
	link := func() string {
		t.Helper()
		page := b.get(sip + "/add/push")
		m := enrolRe.FindStringSubmatch(html.UnescapeString(page.body))
		if page.status != http.StatusOK || m == nil || !strings.HasPrefix(m[2], "a-") {
			t.Fatalf("add page: %d %s", page.status, page.body)
		}
		return m[2]
	}
	refused := func(after, token string) {
		t.Helper()
		ph := pushtest.NewPhone(t, e.svc, "Attacker")
		status, out := e.device(t, "enrol", ph.Enrolment(token))
		if devs, _ := e.st.PushDevices(context.Background(), "alice"); status == http.StatusOK || len(devs) != 0 {
			t.Fatalf("after %s, a link made before enrolled a device: %d %v", after, status, out)
		}
	}
	kept := link()
	if r := b.post(sip, sip+"/sign-out-others", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out others: %d", r.status)
	}
	refused("signing out everywhere else", kept)
	kept = link() // this browser is still signed in and may begin again
	if r := b.post(Prefix+"logout", Prefix+"logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("logout: %d", r.status)
	}
	if e.signedIn(b) {
		t.Fatal("still signed in")
	}
	refused("signing out", kept)
}

func firstLine(body, near string) string {
	i := strings.Index(body, near)
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(body[i:], '\n')
	if j < 0 {
		j = len(body) - i
	}
	return body[max(0, i-80) : i+j]
}

// TestStaleSessionGetsNoSetUpLink: a set-up link works only while the
// second step it was made after allows changes. Begun a minute before the
// window ends, the page's QR code is refused once it has ended and the
// link enrols nothing: someone at alice's unlocked computer later adds no
// phone of theirs.
func TestStaleSessionGetsNoSetUpLink(t *testing.T) {
	e := newPushEnv(t)
	b, secret := freshAlice(t, e.env)
	e.clock.Add(9 * time.Minute)
	page := b.get(sip + "/add/push")
	m := enrolRe.FindStringSubmatch(html.UnescapeString(page.body))
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("add page while fresh: %d %s", page.status, page.body)
	}
	e.clock.Add(2 * time.Minute) // the second step is 11 minutes old now
	if r := b.get(sip + "/add/push"); r.status != http.StatusForbidden {
		t.Fatalf("add page while stale: %d", r.status)
	}
	qr := b.get(sip + "/add/push/qr.png")
	ph := pushtest.NewPhone(t, e.svc, "Intruder")
	status, _ := e.device(t, "enrol", ph.Enrolment(m[2]))
	devs, _ := e.st.PushDevices(context.Background(), "alice")
	if qr.status == http.StatusOK || status == http.StatusOK {
		t.Fatalf("stale session: qr.png %d (%s); enrol with its token %d; alice's devices: %d",
			qr.status, qr.header.Get("Content-Type"), status, len(devs))
	}
	// Once she verifies again, the page shows a new link that works.
	reauth(t, b, secret)
	m2 := enrolRe.FindStringSubmatch(html.UnescapeString(b.get(sip + "/add/push").body))
	if m2 == nil || m2[2] == m[2] {
		t.Fatal("after verifying again, the set-up page shows no new link")
	}
	if status, out := e.device(t, "enrol", pushtest.NewPhone(t, e.svc, "Pixel").Enrolment(m2[2])); status != http.StatusOK {
		t.Fatalf("the new link: %d %v", status, out)
	}
}

// TestDeviceAddedOnceInRecentActivity: a device added on Security info is
// in Recent activity as soon as it enrols (it works from then on), once,
// also after the page finishes the set-up.
func TestDeviceAddedOnceInRecentActivity(t *testing.T) {
	e := newPushEnv(t)
	b, _ := freshAlice(t, e.env)
	m := enrolRe.FindStringSubmatch(html.UnescapeString(b.get(sip + "/add/push").body))
	if m == nil {
		t.Fatal("no set-up link")
	}
	added := func() int {
		events, _ := e.st.RecentSignInEvents(context.Background(), "alice", 50)
		n := 0
		for _, ev := range events {
			if ev.Outcome == "method-added" && ev.Method == "push" {
				n++
			}
		}
		return n
	}
	ph := pushtest.NewPhone(t, e.svc, "Pixel")
	if status, out := e.device(t, "enrol", ph.Enrolment(m[2])); status != http.StatusOK {
		t.Fatalf("enrol: %d %v", status, out)
	}
	if n := added(); n != 1 {
		t.Fatalf("after the phone enrolled: %d push method-added events", n)
	}
	if r := b.post(sip+"/add/push", sip+"/add/push", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("finishing: %d %s", r.status, r.body)
	}
	if n := added(); n != 1 {
		t.Fatalf("after the page finished: %d push method-added events", n)
	}
}

// TestSignOutOthersKeepsTheSessionsEnd: "Sign out everywhere else"
// reissues this browser's session; the new one ends when the old one would
// have, also for a session from before sessions carried their expiry
// (format 1), whose end was reckoned from the issue time it moves.
func TestSignOutOthersKeepsTheSessionsEnd(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lifetime = 2 * time.Hour; c.Idle = 2 * time.Hour })
	secret := e.browser().register("alice")
	b := e.browser()
	b.c.Jar.SetCookies(mustURL(b.base), []*http.Cookie{{Name: plainNames.session, Value: format1Cookie(t, e, e.clock.Now().Unix()), Path: "/"}})
	if !e.signedIn(b) {
		t.Fatal("the format 1 session is not signed in")
	}
	e.clock.Add(90 * time.Minute)
	reauth(t, b, secret)
	if r := b.post(sip, sip+"/sign-out-others", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out others: %d %s", r.status, r.body)
	}
	e.clock.Add(29 * time.Minute)
	if !e.signedIn(b) {
		t.Fatal("signed out before the session's end")
	}
	e.clock.Add(2 * time.Minute)
	if e.signedIn(b) {
		t.Fatal("the reissued session outlives the one it replaced")
	}
}
