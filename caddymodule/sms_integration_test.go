package caddymodule_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

const (
	twilioSID   = "AC00000000000000000000000000000001"
	twilioToken = "integrationtesttoken000000000001"
	alicePhone  = "+14155552671"
	davePhone   = "+14155550199"
)

// startSMSCaddy serves the echo app behind Stepgate with text messages
// sent through smsBlock (sms twilio {…} or sms outbox …), a 1 s resend
// cooldown so the test need not wait 30 s, and returns the store's path.
func startSMSCaddy(t *testing.T, smsBlock string) string {
	t.Helper()
	block, db := stepgateBlock(t, writeUsers(t, "alice", "dave"), smsBlock+`
		send_limits {
			cooldown 1s
		}`)
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	stepgate
	reverse_proxy %s
}
`, echoBackend(t)))
	return db
}

func unescaped(r response) string { return html.UnescapeString(r.body) }

// setUpPhone runs alice's first sign-in, choosing a phone; code reads the
// code that was sent.
func setUpPhone(t *testing.T, c *client, code func() string) {
	t.Helper()
	if r := c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.location != "/.stepgate/register" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	if r := c.get("/.stepgate/register"); !strings.Contains(r.body, "Get codes by text message instead") {
		t.Fatal("registration does not offer a phone")
	}
	r := c.post("/.stepgate/register/phone", "/.stepgate/register/phone", url.Values{"phone": {"+1 415 555 2671"}})
	if r.status != http.StatusOK || !strings.Contains(unescaped(r), "We texted your phone +1 ••• ••• ••71.") {
		t.Fatalf("sending the set-up code: %d %s", r.status, r.body)
	}
	if r := c.post("/.stepgate/register/phone", "/.stepgate/register/phone", url.Values{"code": {code()}}); r.status != http.StatusSeeOther {
		t.Fatalf("confirming the phone: %d %s", r.status, r.body)
	}
	if r := c.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatalf("app after setting up a phone: %d %s", r.status, r.body)
	}
}

func TestTextMessageSignInThroughCaddy(t *testing.T) {
	tw := smstest.NewTwilio(t, twilioSID, twilioToken)
	db := startSMSCaddy(t, fmt.Sprintf(`sms twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
		}`, twilioSID, twilioToken, tw.URL))

	setUpPhone(t, newClient(t), func() string { return tw.LastCode(alicePhone) })
	if m := tw.Messages()[0]; m.From != "+15555550100" || !strings.Contains(m.Body, "is your Stepgate verification code") {
		t.Fatalf("the text: %+v", m)
	}
	time.Sleep(1100 * time.Millisecond) // the cooldown

	// A sign-in with the phone: the text goes out with the password step.
	c := newClient(t)
	if r := c.post("/.stepgate/?rd=%2Freports", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}, "rd": {"/reports"}}); r.location != "/.stepgate/verify" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	page := c.get("/.stepgate/verify")
	if !strings.Contains(unescaped(page), "We texted your phone +1 ••• ••• ••71.") ||
		!strings.Contains(unescaped(page), "No other verification methods are set up for your account. If you can't use this one, contact the help desk.") {
		t.Fatalf("code page: %s", page.body)
	}
	// Asking again at once: the cooldown says to wait; nothing is sent.
	sent := len(tw.Messages())
	c.post("/.stepgate/verify", "/.stepgate/verify/method", url.Values{"method": {"sms"}})
	if r := c.get("/.stepgate/verify"); !strings.Contains(unescaped(r), "A code was sent to your phone less than ") || !strings.Contains(unescaped(r), "ago. You can ask for a new code in") || len(tw.Messages()) != sent {
		t.Fatalf("resend during the cooldown: %d texts, page %s", len(tw.Messages())-sent, r.body)
	}
	code := tw.LastCode(alicePhone)
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code}}); r.status != http.StatusSeeOther || r.location != "/reports" {
		t.Fatalf("text code: %d %q", r.status, r.location)
	}
	// The code cannot be used again, not even by someone who knows the
	// password: a new sign-in has a new code.
	time.Sleep(1100 * time.Millisecond)
	x := newClient(t)
	x.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	if r := x.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code}}); r.status != http.StatusUnauthorized && tw.LastCode(alicePhone) != code {
		t.Fatalf("old code on a new sign-in: %d", r.status)
	}

	// dave has an authenticator app and a phone; texts fail, so he signs
	// in another way.
	d := newClient(t)
	secret, _ := d.register("dave", "/")
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetPhone(context.Background(), "dave", davePhone)
	st.Close()
	tw.FailWith(503, 20503)
	d = newClient(t)
	d.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"dave"}, "password": {testPassword}})
	other := d.get("/.stepgate/verify/other")
	if !strings.Contains(unescaped(other), "Text +1 ••• ••• ••99") {
		t.Fatalf("dave's other methods: %s", other.body)
	}
	d.post("/.stepgate/verify/other", "/.stepgate/verify/method", url.Values{"method": {"sms"}})
	page = d.get("/.stepgate/verify")
	if !strings.Contains(unescaped(page), "We couldn't send a text message right now") || !strings.Contains(page.body, "Sign in another way") {
		t.Fatalf("failed text: %s", page.body)
	}
	d.post("/.stepgate/verify/other", "/.stepgate/verify/method", url.Values{"method": {"totp"}})
	if r := d.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code30(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("authenticator code after the text failed: %d %s", r.status, r.body)
	}
}

// code30 is the authenticator code of the next time step (the current one
// was used by the registration).
func code30(t *testing.T, secret string) string {
	return code(t, secret, time.Now().Add(30*time.Second))
}

var outboxCode = regexp.MustCompile(`^(\d{6}) `)

func TestTextMessagesThroughTheOutbox(t *testing.T) {
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	startSMSCaddy(t, "sms outbox "+outbox)
	setUpPhone(t, newClient(t), func() string {
		f, err := os.Open(outbox)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var last struct{ To, Body string }
		for sc := bufio.NewScanner(f); sc.Scan(); {
			json.Unmarshal(sc.Bytes(), &last)
		}
		m := outboxCode.FindStringSubmatch(last.Body)
		if last.To != alicePhone || m == nil {
			t.Fatalf("outbox: %+v", last)
		}
		return m[1]
	})
}

// With verify_service_sid, Twilio Verify makes and checks the codes.
func TestTwilioVerifyThroughCaddy(t *testing.T) {
	tw := smstest.NewTwilio(t, twilioSID, twilioToken)
	startSMSCaddy(t, fmt.Sprintf(`sms twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
			verify_service_sid VA00000000000000000000000000000001
		}`, twilioSID, twilioToken, tw.URL))
	setUpPhone(t, newClient(t), func() string { return tw.LastCode(alicePhone) })
	if m := tw.Messages(); len(m) != 1 || m[0].From != "verify:VA00000000000000000000000000000001" {
		t.Fatalf("texts: %+v", m)
	}
	time.Sleep(1100 * time.Millisecond)
	c := newClient(t)
	c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	code := tw.LastCode(alicePhone)
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code}}); r.status != http.StatusSeeOther {
		t.Fatalf("Verify code: %d %s", r.status, r.body)
	}
}
