package portal

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
	"github.com/stepgate/stepgate/verifiers/voice"
)

const (
	publicURL   = "https://auth.example.com"
	twilioToken = "tokentokentokentokentokentoken12"
)

// phoneLine is a Caller that keeps the calls placed.
type phoneLine struct {
	mu    sync.Mutex
	calls []placedCall
}

type placedCall struct{ to, twiml, status string }

func (l *phoneLine) Call(_ context.Context, to, twiml, status string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, placedCall{to, twiml, status})
	return nil
}

func (l *phoneLine) last(t *testing.T) placedCall {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		t.Fatal("no call placed")
	}
	return l.calls[len(l.calls)-1]
}

func newVoiceEnv(t testing.TB, simulate bool) (*env, *phoneLine) {
	t.Helper()
	line := &phoneLine{}
	countries, _ := phone.ParseCountries([]string{"+1"})
	e := newEnv(t, func(c *Config) {
		c.Voice = &VoiceConfig{Caller: line, Mode: voice.PressKey, Countries: countries,
			PublicURL: publicURL, AuthToken: twilioToken, Simulate: simulate}
	})
	e.st.SetPhone(context.Background(), "bob", bobPhone)
	return e, line
}

var gatherRe = regexp.MustCompile(`action="([^"]+)"`)

// callback posts what Twilio would post to a URL under publicURL, signed
// with sign (the URL the signature covers) unless sign is "".
func (e *env) callback(t *testing.T, publicTarget string, form url.Values, signOver string) resp {
	t.Helper()
	u, _ := url.Parse(publicTarget)
	req, _ := http.NewRequest("POST", e.srv.URL+u.RequestURI(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signOver != "" {
		req.Header.Set("X-Twilio-Signature", smstest.Sign(twilioToken, signOver, form))
	}
	return e.browser().do(req)
}

func gatherURL(t *testing.T, c placedCall) string {
	t.Helper()
	m := gatherRe.FindStringSubmatch(c.twiml)
	if m == nil {
		t.Fatalf("no Gather in %s", c.twiml)
	}
	return html.UnescapeString(m[1])
}

func (b *browser) callState(t testing.TB) string {
	t.Helper()
	var s struct{ State string }
	json.Unmarshal([]byte(b.get(Prefix+"verify/status").body), &s)
	return s.State
}

func TestPressPoundOnTheCall(t *testing.T) {
	e, line := newVoiceEnv(t, false)
	b := e.browser()
	b.login("bob", testPassword)
	c := line.last(t)
	if c.to != bobPhone || c.status != publicURL+Prefix+voice.StatusPath+"?c="+url.QueryEscape(pendingID(t, b, e))+"&u=bob" {
		t.Fatalf("call: %+v", c)
	}
	page := b.get(Prefix + "verify")
	if !strings.Contains(html.UnescapeString(page.body), "We're calling your phone +1 ••• ••• ••71. Answer it and press the pound key (#)") ||
		!strings.Contains(page.body, `data-poll="/.stepgate/verify/status"`) || !strings.Contains(page.body, "I answered the call, continue") {
		t.Fatalf("waiting page: %s", page.body)
	}
	if strings.Contains(page.body, "Simulate") {
		t.Fatal("simulate buttons without the outbox")
	}
	if s := b.callState(t); s != "pending" {
		t.Fatalf("state before the answer: %q", s)
	}
	if len(e.events("call-placed", "success")) != 1 {
		t.Fatal("call not audited")
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{}); r.status != http.StatusAccepted || !strings.Contains(r.body, "haven") {
		t.Fatalf("continue before the answer: %d", r.status)
	}
	gather := gatherURL(t, c)
	form := url.Values{"Digits": {"#"}, "CallSid": {"CA1"}, "AccountSid": {"AC1"}}
	// Unsigned, badly signed, or signed over the URL the request arrived
	// at (its Host) instead of the configured public URL: refused.
	for name, over := range map[string]string{"unsigned": "", "other URL": e.srv.URL + strings.TrimPrefix(gather, publicURL), "other query": gather + "x"} {
		if r := e.callback(t, gather, form, over); r.status != http.StatusForbidden {
			t.Errorf("%s callback: %d", name, r.status)
		}
	}
	if s := b.callState(t); s != "pending" {
		t.Fatalf("state after refused callbacks: %q", s)
	}
	r := e.callback(t, gather, form, gather)
	if r.status != http.StatusOK || !strings.Contains(r.body, "<Say>Thank you. You&#39;re signed in. Goodbye.</Say>") || r.header.Get("Content-Type") != "text/xml" {
		t.Fatalf("signed callback: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	// A replayed callback changes nothing.
	if r := e.callback(t, gather, url.Values{"Digits": {"0"}}, gather); !strings.Contains(r.body, "already ended") {
		t.Fatalf("replayed callback: %s", r.body)
	}
	if s := b.callState(t); s != "approved" {
		t.Fatalf("state after #: %q", s)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{}); r.status != http.StatusSeeOther || b.cookie(plainNames.session) == nil {
		t.Fatalf("continue after #: %d %s", r.status, r.body)
	}
}

// pendingID is the challenge ID of b's pending sign-in (what the call's
// URLs carry).
func pendingID(t *testing.T, b *browser, e *env) string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+Prefix+"verify", nil)
	req.AddCookie(b.cookie(plainNames.pending))
	pd, _, ok := e.p.readPending(req, stageVerify)
	if !ok {
		t.Fatal("no pending sign-in")
	}
	return pd.ID
}

func TestFraudReportOnTheCall(t *testing.T) {
	e, line := newVoiceEnv(t, false)
	b := e.browser()
	b.login("bob", testPassword)
	waiting := b.get(Prefix + "verify")
	gather := gatherURL(t, line.last(t))
	if r := e.callback(t, gather, url.Values{"Digits": {"0"}}, gather); !strings.Contains(r.body, "reported it to your administrator") {
		t.Fatalf("pressing 0: %s", r.body)
	}
	r := b.postFrom(waiting, Prefix+"verify", url.Values{})
	if r.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(r.body), "You reported this sign-in as not yours") {
		t.Fatalf("after the fraud report: %d %s", r.status, r.body)
	}
	found := false
	for _, entry := range e.logs.FilterMessage("sign-in event").All() {
		m := entry.ContextMap()
		found = found || (m["event"] == "fraud-report" && m["user"] == "bob" && entry.Level.String() == "error")
	}
	if !found {
		t.Fatal("no high-priority fraud-report event")
	}
	// Calls are blocked, and the account is not offered registration
	// (whoever has the password must not add their own method).
	e.clock.Add(time.Minute)
	c := e.browser()
	r = c.login("bob", testPassword)
	if r.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(r.body), "None of your verification methods can be used right now") {
		t.Fatalf("sign-in after the fraud report: %d %s", r.status, r.body)
	}
	// An administrator's unlock turns calls back on.
	e.st.UnlockUser(context.Background(), "bob")
	if r := c.login("bob", testPassword); r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("after unlock: %d %s", r.status, r.header.Get("Location"))
	}
}

func TestUnansweredCall(t *testing.T) {
	e, line := newVoiceEnv(t, false)
	b := e.browser()
	b.login("bob", testPassword)
	c := line.last(t)
	if r := e.callback(t, c.status, url.Values{"CallStatus": {"no-answer"}}, c.status); r.status != http.StatusNoContent {
		t.Fatalf("status callback: %d", r.status)
	}
	if s := b.callState(t); s != "failed" {
		t.Fatalf("state: %q", s)
	}
	r := b.post(Prefix+"verify", Prefix+"verify", url.Values{})
	if r.status != http.StatusUnauthorized || !strings.Contains(html.UnescapeString(r.body), "The call wasn't answered. Call again.") {
		t.Fatalf("after no answer: %d %s", r.status, r.body)
	}
	// Call again (past the cooldown) and hang up.
	e.clock.Add(31 * time.Second)
	b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"voice"}})
	c = line.last(t)
	e.callback(t, c.status, url.Values{"CallStatus": {"completed"}}, c.status)
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{}); !strings.Contains(html.UnescapeString(r.body), "The call ended before you pressed the pound key") {
		t.Fatalf("after hanging up: %s", r.body)
	}
}

func TestSimulatedAnswerIsDevelopmentOnly(t *testing.T) {
	e, _ := newVoiceEnv(t, true)
	b := e.browser()
	b.login("bob", testPassword)
	page := b.get(Prefix + "verify")
	if !strings.Contains(page.body, "Simulate pressing #") {
		t.Fatal("no simulate buttons with the outbox on loopback")
	}
	b.post(Prefix+"verify", Prefix+"outbox/answer", url.Values{"digits": {"#"}})
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("after the simulated #: %d %s", r.status, r.body)
	}
	// Without the outbox the hook does not exist.
	e2, _ := newVoiceEnv(t, false)
	c := e2.browser()
	c.login("bob", testPassword)
	if r := c.post(Prefix+"verify", Prefix+"outbox/answer", url.Values{"digits": {"#"}}); r.status != http.StatusNotFound {
		t.Fatalf("simulate hook without the outbox: %d", r.status)
	}
}

// FuzzTwilioCallback: whatever reaches the callback URLs, the answer is
// 204, 200, 400, 403 or 404, never a 500 or a panic, and without a valid
// signature no call changes state.
func FuzzTwilioCallback(f *testing.F) {
	f.Add("voice/gather", "c=x&u=bob", "Digits=%23", "")
	f.Add("voice/status", "c=x&u=bob", "CallStatus=completed", "bad")
	f.Add("voice/gather", "", "Digits=0&Digits=%23", "AAAA")
	f.Add("../verify", "c=%00", "%zz", "")
	e, _ := newVoiceEnv(f, false)
	b := e.browser()
	b.login("bob", testPassword)
	f.Fuzz(func(t *testing.T, path, query, body, sig string) {
		b.t = t
		req, err := http.NewRequest("POST", e.srv.URL+Prefix+"twilio/"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		res.Body.Close()
		switch res.StatusCode {
		case 200, 204, 400, 403, 404:
		default:
			t.Fatalf("POST twilio/%s?%s (%q): %d", path, query, body, res.StatusCode)
		}
		if s := b.callState(t); s != "pending" {
			t.Fatalf("an unsigned callback changed the call to %q", s)
		}
	})
}

// TestFraudReportLeavesTexts: after a fraud report on the call, the page
// no longer says a call is ringing, offers neither "Call again" nor
// "I answered the call", and offers texts (the phone's other method)
// as another way, not "no other methods".
func TestFraudReportLeavesTexts(t *testing.T) {
	line := &phoneLine{}
	countries, _ := phone.ParseCountries([]string{"+1"})
	inbox := &phoneInbox{}
	e := newEnv(t, func(c *Config) {
		c.Voice = &VoiceConfig{Caller: line, Mode: voice.PressKey, Countries: countries,
			PublicURL: publicURL, AuthToken: twilioToken}
		c.SMS = &SMSConfig{Sender: inbox, Countries: countries}
	})
	e.st.SetPhone(context.Background(), "bob", bobPhone)
	b := e.browser()
	b.login("bob", testPassword)
	waiting := b.get(Prefix + "verify")
	if !strings.Contains(html.UnescapeString(waiting.body), "We're calling your phone") || !strings.Contains(waiting.body, "Call again") {
		t.Fatalf("the call's page: %s", waiting.body)
	}
	gather := gatherURL(t, line.last(t))
	e.callback(t, gather, url.Values{"Digits": {"0"}}, gather)
	r := b.postFrom(waiting, Prefix+"verify", url.Values{})
	for _, page := range []resp{r, b.get(Prefix + "verify")} {
		body := html.UnescapeString(page.body)
		if !strings.Contains(body, "You reported this sign-in as not yours") {
			t.Fatalf("the page after the report does not say what happened: %s", body)
		}
		for _, stale := range []string{"We're calling your phone", "Call again", "I answered the call", "data-poll", "No other verification methods"} {
			if strings.Contains(body, stale) {
				t.Errorf("the page after the report still says %q", stale)
			}
		}
		if !strings.Contains(body, "Having trouble? <a href=\"/.stepgate/verify/other\" id=\"other\">Sign in another way</a>") {
			t.Errorf("the page after the report offers no other way: %s", body)
		}
	}
	other := b.get(Prefix + "verify/other")
	if !strings.Contains(other.body, "Text") || strings.Contains(other.body, ">Call ") {
		t.Fatalf("Verify your identity after the report: %s", other.body)
	}
}
