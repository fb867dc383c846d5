package caddymodule_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

var (
	spokenCode = regexp.MustCompile(`Your verification code is ((?:\d, ){5}\d)\.`)
	gatherURL  = regexp.MustCompile(`action="([^"]+)"`)
)

// twilioPost sends what Twilio would post to target, signed over target
// when signed is set.
func twilioPost(t *testing.T, target string, form url.Values, signed bool) response {
	t.Helper()
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if signed {
		hdr["X-Twilio-Signature"] = smstest.Sign(twilioToken, target, form)
	}
	return newClient(t).do("POST", target, form, hdr)
}

func lastCall(t *testing.T, tw *smstest.Twilio) smstest.Call {
	t.Helper()
	calls := tw.Calls()
	if len(calls) == 0 {
		t.Fatal("no call placed")
	}
	return calls[len(calls)-1]
}

func TestPhoneCallSignInThroughCaddy(t *testing.T) {
	tw := smstest.NewTwilio(t, twilioSID, twilioToken)
	db := startSMSCaddy(t, fmt.Sprintf(`voice twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
		}
		public_url %s`, twilioSID, twilioToken, tw.URL, base))

	// Without texts, a new phone is confirmed by a call reading the code.
	c := newClient(t)
	c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	r := c.post("/.stepgate/register/phone", "/.stepgate/register/phone", url.Values{"phone": {"+1 415 555 2671"}})
	if !strings.Contains(html.UnescapeString(r.body), "We're calling your phone +1 ••• ••• ••71.") {
		t.Fatalf("set-up call: %d %s", r.status, r.body)
	}
	m := spokenCode.FindStringSubmatch(lastCall(t, tw).Twiml)
	if m == nil {
		t.Fatalf("set-up call TwiML: %s", lastCall(t, tw).Twiml)
	}
	if r := c.post("/.stepgate/register/phone", "/.stepgate/register/phone", url.Values{"code": {strings.ReplaceAll(m[1], ", ", "")}}); r.status != http.StatusSeeOther {
		t.Fatalf("confirming the phone: %d %s", r.status, r.body)
	}
	time.Sleep(1100 * time.Millisecond) // the cooldown

	// Sign in: the call asks for #; Twilio's signed callback approves.
	c = newClient(t)
	c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	if page := c.get("/.stepgate/verify"); !strings.Contains(page.body, "Answer the call") {
		t.Fatalf("waiting page: %s", page.body)
	}
	call := lastCall(t, tw)
	gm := gatherURL.FindStringSubmatch(call.Twiml)
	if gm == nil || !strings.HasPrefix(html.UnescapeString(gm[1]), base+"/.stepgate/twilio/voice/gather?") {
		t.Fatalf("call TwiML: %s", call.Twiml)
	}
	gather := html.UnescapeString(gm[1])
	if r := twilioPost(t, gather, url.Values{"Digits": {"#"}}, false); r.status != http.StatusForbidden {
		t.Fatalf("unsigned callback through Caddy: %d", r.status)
	}
	if r := twilioPost(t, gather, url.Values{"Digits": {"#"}}, true); r.status != http.StatusOK || !strings.Contains(r.body, "signed in") {
		t.Fatalf("signed callback: %d %s", r.status, r.body)
	}
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("continue after #: %d %s", r.status, r.body)
	}
	if r := c.get("/"); !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatalf("app after a call sign-in: %s", r.body)
	}

	// Hanging up ends the attempt with a clear message.
	time.Sleep(1100 * time.Millisecond)
	c = newClient(t)
	c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	status := lastCall(t, tw).StatusCallback
	if r := twilioPost(t, status, url.Values{"CallStatus": {"completed"}}, true); r.status != http.StatusNoContent {
		t.Fatalf("status callback: %d", r.status)
	}
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{}); !strings.Contains(html.UnescapeString(r.body), "The call ended before you pressed the pound key") {
		t.Fatalf("after hanging up: %d %s", r.status, r.body)
	}

	// 0 reports fraud: refused, calls blocked, no way to register another
	// method with the stolen password.
	time.Sleep(1100 * time.Millisecond)
	c = newClient(t)
	c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	gather = html.UnescapeString(gatherURL.FindStringSubmatch(lastCall(t, tw).Twiml)[1])
	waiting := c.CSRF("/.stepgate/verify") // the page open while the phone rings
	twilioPost(t, gather, url.Values{"Digits": {"0"}}, true)
	if r := c.do("POST", "/.stepgate/verify", url.Values{"csrf": {waiting}}, nil); r.status != http.StatusForbidden {
		t.Fatalf("after the fraud report: %d", r.status)
	}
	if r := newClient(t).post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.status != http.StatusForbidden ||
		!strings.Contains(html.UnescapeString(r.body), "None of your verification methods can be used right now") {
		t.Fatalf("sign-in after the fraud report: %d %s", r.status, r.body)
	}
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if f, _ := st.Failures(context.Background(), "alice", "blocked:voice"); f.Count != 1 {
		t.Fatalf("calls not blocked in the store: %+v", f)
	}
}
