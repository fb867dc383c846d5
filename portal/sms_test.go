package portal

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/sms"
)

// phoneInbox is a text-message sender that keeps what it sends, or fails
// the way a provider would when fail is set.
type phoneInbox struct {
	mu   sync.Mutex
	sent []string // "to|body"
	fail error
}

func (p *phoneInbox) Send(_ context.Context, to, body string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.sent = append(p.sent, to+"|"+body)
	return nil
}

var smsCodeRe = regexp.MustCompile(`\|(\d{6}) is your `)

// lastCode is the code in the last text sent to number.
func (p *phoneInbox) lastCode(t *testing.T, number string) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.sent) - 1; i >= 0; i-- {
		if strings.HasPrefix(p.sent[i], number+"|") {
			return smsCodeRe.FindStringSubmatch(p.sent[i])[1]
		}
	}
	t.Fatalf("no text sent to %s (sent: %v)", number, p.sent)
	return ""
}

func (p *phoneInbox) count() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.sent) }

const (
	bobPhone   = "+14155552671"
	alicePhone = "+14155550142"
)

// newSMSEnv is a portal with text messages on (numbers in +1 only).
func newSMSEnv(t *testing.T) (*env, *phoneInbox) {
	t.Helper()
	inbox := &phoneInbox{}
	countries, _ := phone.ParseCountries([]string{"+1"})
	e := newEnv(t, func(c *Config) {
		c.SMS = &SMSConfig{Sender: inbox, Countries: countries}
	})
	return e, inbox
}

// bobAtTextCode: bob has only a phone and has just passed the password
// step, so a text has gone out.
func bobAtTextCode(t *testing.T) (*env, *phoneInbox, *browser) {
	t.Helper()
	e, inbox := newSMSEnv(t)
	e.st.SetPhone(context.Background(), "bob", bobPhone)
	b := e.browser()
	b.login("bob", testPassword)
	return e, inbox, b
}

// aliceAtAppCode: alice has an authenticator app (secret) and a phone, and
// has just passed the password step.
func aliceAtAppCode(t *testing.T) (*env, *phoneInbox, *browser, string) {
	t.Helper()
	e, inbox := newSMSEnv(t)
	secret := e.browser().register("alice")
	e.st.SetPhone(context.Background(), "alice", alicePhone)
	b := e.browser()
	e.clock.Add(30 * time.Second)
	b.login("alice", testPassword)
	return e, inbox, b, secret
}

func wrong(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func TestPhoneSetUpThenTextMessageSignIn(t *testing.T) {
	e, inbox := newSMSEnv(t)
	b := e.browser()
	if r := b.login("bob", testPassword); r.header.Get("Location") != Prefix+"register" {
		t.Fatalf("password step: %d %s", r.status, r.header.Get("Location"))
	}
	if page := b.get(Prefix + "register"); !strings.Contains(page.body, `href="/.stepgate/register/phone"`) {
		t.Fatal("registration does not offer a phone")
	}
	// Bad numbers are refused with words a person understands; nothing
	// is sent and nothing stored.
	for number, want := range map[string]string{
		"415 555 2671":     "international form",
		"+1 415 555":       "international form",
		"+49 30 901820":    "Phone numbers in that country can't be used here. Use a number starting with +1",
		"+1 415 555 2671x": "international form",
	} {
		r := b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"phone": {number}})
		if r.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), want) {
			t.Errorf("number %q: %d, want 400 saying %q", number, r.status, want)
		}
	}
	if inbox.count() != 0 {
		t.Fatal("a text was sent to a refused number")
	}
	r := b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"phone": {"+1 (415) 555-2671"}})
	if r.status != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), "We texted your phone +1 ••• ••• ••71.") {
		t.Fatalf("sending the set-up code: %d %s", r.status, r.body)
	}
	code := inbox.lastCode(t, bobPhone)
	if r := b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"code": {wrong(code)}}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong set-up code: %d", r.status)
	}
	if info, _ := e.st.SecurityInfo(context.Background(), "bob"); info.Phone != "" {
		t.Fatal("number stored before it was confirmed")
	}
	r = b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"code": {code}})
	if r.status != http.StatusSeeOther || b.cookie(plainNames.session) == nil {
		t.Fatalf("confirming the number: %d %s", r.status, r.body)
	}
	if info, _ := e.st.SecurityInfo(context.Background(), "bob"); info.Phone != bobPhone {
		t.Fatalf("stored phone %q", info.Phone)
	}
	if len(e.events("method-added", "success")) != 1 {
		t.Fatal("method-added not audited")
	}

	// Next sign-in: the text goes out with the password step.
	e.clock.Add(time.Minute)
	b = e.browser()
	if r := b.login("bob", testPassword); r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("password step: %d %s", r.status, r.header.Get("Location"))
	}
	page := b.get(Prefix + "verify")
	if !strings.Contains(html.UnescapeString(page.body), "We texted your phone +1 ••• ••• ••71.") || !strings.Contains(page.body, "Send a new code") {
		t.Fatalf("code page: %s", page.body)
	}
	// bob has no other method: the page says whom to contact.
	if !strings.Contains(html.UnescapeString(page.body), "No other verification methods are set up for your account. If you can't use this one, contact the help desk.") {
		t.Fatal("no contact-your-administrator text")
	}
	code = inbox.lastCode(t, bobPhone)
	r = b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {wrong(code)}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Check the code in the message") {
		t.Fatalf("wrong code: %d", r.status)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {code}}); r.status != http.StatusSeeOther {
		t.Fatalf("right code: %d %s", r.status, r.body)
	}
	if r := b.get("/app"); r.status != http.StatusOK {
		t.Fatalf("app after a text sign-in: %d", r.status)
	}
}

// TestPhoneSetUpCodeIsBoundToTheNumber: a code texted to one number never
// confirms another number in the same set-up. The attacker asks for a code
// to a number they do not own (A) and keeps that pending cookie, asks for a
// code to their own number (B), then types B's code with A's cookie: A
// must not be stored.
func TestPhoneSetUpCodeIsBoundToTheNumber(t *testing.T) {
	const numberA, numberB = "+14155550177", "+14155550188"
	e, inbox := newSMSEnv(t)
	b := e.browser()
	if r := b.login("bob", testPassword); r.header.Get("Location") != Prefix+"register" {
		t.Fatalf("password step: %d %s", r.status, r.header.Get("Location"))
	}
	if r := b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"phone": {numberA}}); r.status != http.StatusOK {
		t.Fatalf("code to A: %d %s", r.status, r.body)
	}
	withA := *b.cookie(plainNames.pending)
	e.clock.Add(31 * time.Second) // past the resend cooldown
	if r := b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"phone": {numberB}}); r.status != http.StatusOK {
		t.Fatalf("code to B: %d %s", r.status, r.body)
	}
	withB := *b.cookie(plainNames.pending)
	codeB := inbox.lastCode(t, numberB)

	setPending := func(c http.Cookie) {
		u, _ := url.Parse(b.base)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	}
	setPending(withA)
	if r := b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"code": {codeB}}); r.status == http.StatusSeeOther || b.cookie(plainNames.session) != nil {
		t.Fatalf("B's code with A's pending cookie signed in: %d", r.status)
	}
	if info, _ := e.st.SecurityInfo(context.Background(), "bob"); info.Phone != "" {
		t.Fatalf("number %s stored with a code sent to %s", info.Phone, numberB)
	}
	// The code still confirms the number it was sent to.
	setPending(withB)
	if r := b.post(Prefix+"register/phone", Prefix+"register/phone", url.Values{"code": {codeB}}); r.status != http.StatusSeeOther {
		t.Fatalf("B's code with B's pending cookie: %d %s", r.status, r.body)
	}
	if info, _ := e.st.SecurityInfo(context.Background(), "bob"); info.Phone != numberB {
		t.Fatalf("stored phone %q, want %s", info.Phone, numberB)
	}
}

func TestResendCooldownAndReplacedCode(t *testing.T) {
	e, inbox, b := bobAtTextCode(t)
	first := inbox.lastCode(t, bobPhone)
	// At once: refused by the cooldown, said on the page.
	b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"sms"}})
	if page := b.get(Prefix + "verify"); !strings.Contains(html.UnescapeString(page.body), "A code was sent to your phone less than 30 seconds ago. You can ask for a new code in 30 seconds.") {
		t.Fatalf("cooldown message missing: %s", page.body)
	}
	// The wait said is the wait left.
	e.clock.Add(5 * time.Second)
	b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"sms"}})
	if page := b.get(Prefix + "verify"); !strings.Contains(html.UnescapeString(page.body), "You can ask for a new code in 25 seconds.") {
		t.Fatalf("cooldown message 5 s later: %s", page.body)
	}
	e.clock.Add(-5 * time.Second)
	if inbox.count() != 1 {
		t.Fatal("sent during the cooldown")
	}
	e.clock.Add(31 * time.Second)
	b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"sms"}})
	second := inbox.lastCode(t, bobPhone)
	if first != second {
		// The first code was replaced: it no longer works.
		if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {first}}); r.status == http.StatusSeeOther {
			t.Fatal("replaced code still works")
		}
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {second}}); r.status != http.StatusSeeOther {
		t.Fatalf("new code: %d", r.status)
	}
}

func TestExpiredTextCode(t *testing.T) {
	e, inbox, b := bobAtTextCode(t)
	code := inbox.lastCode(t, bobPhone)
	e.clock.Add(sms.CodeLifetime)
	r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {code}})
	// The pending sign-in itself lasts as long as the code, so either the
	// code or the whole sign-in has expired; both refuse.
	if r.status == http.StatusSeeOther {
		t.Fatal("expired code accepted")
	}
}

func TestSignInAnotherWay(t *testing.T) {
	e, inbox, b, secret := aliceAtAppCode(t)
	page := b.get(Prefix + "verify")
	// The strongest method first: the app, and no text sent.
	if !strings.Contains(page.body, "Open your authenticator app") || inbox.count() != 0 {
		t.Fatalf("default method: texts %d, page %s", inbox.count(), page.body)
	}
	if !strings.Contains(page.body, `href="/.stepgate/verify/other"`) {
		t.Fatal("no Sign in another way link")
	}
	other := b.get(Prefix + "verify/other")
	if !strings.Contains(html.UnescapeString(other.body), "Text +1 ••• ••• ••42") || strings.Contains(other.body, "authenticator app</button>") {
		t.Fatalf("method list: %s", other.body)
	}
	// The provider fails: a clear message, and the way back to the app.
	inbox.fail = &sms.SendError{UserMessage: "We couldn't send a text message right now. Try again later, or sign in another way.", Err: errors.New("twilio: 503")}
	b.post(Prefix+"verify/other", Prefix+"verify/method", url.Values{"method": {"sms"}})
	page = b.get(Prefix + "verify")
	if !strings.Contains(html.UnescapeString(page.body), "We couldn't send a text message right now") || !strings.Contains(page.body, "Sign in another way") {
		t.Fatalf("send failure page: %s", page.body)
	}
	if len(e.events("code-sent", "send-failed")) != 1 {
		t.Fatal("send failure not audited")
	}
	other = b.get(Prefix + "verify/other")
	if !strings.Contains(other.body, "Use a verification code from my authenticator app") {
		t.Fatalf("the app is not offered after the text failed: %s", other.body)
	}
	b.post(Prefix+"verify/other", Prefix+"verify/method", url.Values{"method": {"totp"}})
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("app code after switching back: %d %s", r.status, r.body)
	}
	// A method the user does not have cannot be chosen.
	c := e.browser()
	c.login("bob", testPassword) // bob: no method, goes to registration
	d := e.browser()
	e.clock.Add(30 * time.Second)
	d.login("alice", testPassword)
	if r := d.post(Prefix+"verify/other", Prefix+"verify/method", url.Values{"method": {"voice"}}); r.status != http.StatusBadRequest {
		t.Fatalf("choosing a method not set up: %d", r.status)
	}
}

func TestOnlyOneMethodSaysContactAdministrator(t *testing.T) {
	e, _ := newSMSEnv(t)
	b := e.browser()
	b.register("alice")
	b = e.browser()
	e.clock.Add(30 * time.Second)
	b.login("alice", testPassword)
	if page := b.get(Prefix + "verify"); strings.Contains(page.body, "Sign in another way") || !strings.Contains(html.UnescapeString(page.body), "If you can't use this one, contact the help desk") {
		t.Fatalf("code page for a user with one method: %s", page.body)
	}
	if other := b.get(Prefix + "verify/other"); !strings.Contains(other.body, "No other verification methods are set up for your account. Contact the help desk") {
		t.Fatalf("method list for a user with one method: %s", other.body)
	}
}

// Wrong text codes and wrong app codes count toward one lockout, and asking
// for new codes does not reset it.
func TestTextCodesShareTheLockout(t *testing.T) {
	e, inbox, b, secret := aliceAtAppCode(t)
	b.post(Prefix+"verify/other", Prefix+"verify/method", url.Values{"method": {"sms"}})
	for i := range e.p.cfg.Lockout.Threshold {
		code := inbox.lastCode(t, alicePhone)
		if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {wrong(code)}}); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong text code %d: %d", i+1, r.status)
		}
		e.clock.Add(31 * time.Second) // past the cooldown: a new code each time
		b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"sms"}})
	}
	// Locked, for texts and for the app alike.
	code := inbox.lastCode(t, alicePhone)
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {code}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("right text code while locked: %d", r.status)
	}
	b.post(Prefix+"verify/other", Prefix+"verify/method", url.Values{"method": {"totp"}})
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("app code while locked after wrong text codes: %d", r.status)
	}
}

// The development outbox never texts a code to someone who is not on the
// server itself: the code would be in the server's log, not on a phone.
func TestOutboxServesOnlyLoopback(t *testing.T) {
	inbox := &phoneInbox{}
	countries, _ := phone.ParseCountries([]string{"+1"})
	e := newEnv(t, func(c *Config) {
		c.SMS = &SMSConfig{Sender: inbox, Countries: countries, LoopbackOnly: true}
	})
	e.st.SetPhone(context.Background(), "bob", bobPhone)
	b := e.browser()
	b.login("bob", testPassword) // the test server is on 127.0.0.1
	if inbox.count() != 1 {
		t.Fatalf("loopback client: %d texts", inbox.count())
	}
	// The same sign-in from another address.
	req := httptest.NewRequest("POST", "http://app.example.com"+Prefix, nil)
	req.RemoteAddr = "203.0.113.9:40000"
	bob, _ := e.cfg.Users.Lookup("bob")
	pd := pending{ID: "x", User: "bob", Stage: stageVerify, M: "sms", Aud: "app.example.com", Created: e.clock.Now().Unix()}
	e.p.start(req, &pd, bob)
	if pd.Err != sms.ErrOutboxOnly.(verifiers.Refusal).Explain(messages.English(), "", time.Time{}) || inbox.count() != 1 {
		t.Fatalf("remote client: err %q, %d texts", pd.Err, inbox.count())
	}
}
