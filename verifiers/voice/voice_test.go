package voice

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/sms"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

const (
	sid     = "AC0123456789abcdef0123456789abcdef"
	token   = "tokentokentokentokentokentoken12"
	from    = "+15555550100"
	alicePh = "+14155552671"
)

type env struct {
	v     *Verifier
	st    store.Store
	tw    *smstest.Twilio
	now   time.Time
	alice verifiers.User
}

func newEnv(t *testing.T, mode Mode) *env {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tw := smstest.NewTwilio(t, sid, token)
	c, err := sms.NewTwilioClient(sms.TwilioConfig{AccountSID: sid, AuthToken: token, From: from, APIURL: tw.URL})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, tw: tw, now: time.Unix(1_700_000_000, 0), alice: verifiers.User{Name: "alice"}}
	clock := func() time.Time { return e.now }
	countries, _ := phone.ParseCountries([]string{"+1"})
	caller := &Twilio{Client: c, From: from}
	codes := NewCodes(sms.Verifier{Store: st, Key: []byte("0123456789abcdef0123456789abcdef"), AppName: "Test App",
		Countries: countries, Now: clock}, caller, "Test App")
	e.v = &Verifier{Codes: codes, Store: st, Caller: caller, Mode: mode, PublicURL: "https://auth.example.com",
		Prefix: "/.stepgate/", AppName: "Test App", Now: clock}
	st.SetPhone(context.Background(), "alice", alicePh)
	return e
}

var actionRe = regexp.MustCompile(`action="([^"]+)"`)

func TestPressPoundToSignIn(t *testing.T) {
	e := newEnv(t, PressKey)
	ctx := context.Background()
	ch := verifiers.Challenge{ID: "ch1", ClientIP: "192.0.2.7"}
	prompt, err := e.v.Start(ctx, e.alice, ch)
	if err != nil || prompt.Message != "We're calling your phone +1 ••• ••• ••71." {
		t.Fatalf("Start: %q %v", prompt.Message, err)
	}
	calls := e.tw.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls placed", len(calls))
	}
	c := calls[0]
	if c.To != alicePh || c.From != from || c.StatusCallback != "https://auth.example.com/.stepgate/twilio/voice/status?c=ch1&u=alice" ||
		c.StatusCallbackMethod != "POST" || strings.Join(c.StatusCallbackEvents, ",") != "completed" {
		t.Fatalf("call: %+v", c)
	}
	if !strings.Contains(c.Twiml, "This is Test App.") || !strings.Contains(c.Twiml, "press the pound key") || !strings.Contains(c.Twiml, `finishOnKey=""`) {
		t.Fatalf("TwiML: %s", c.Twiml)
	}
	m := actionRe.FindStringSubmatch(c.Twiml)
	if m == nil || strings.ReplaceAll(m[1], "&amp;", "&") != "https://auth.example.com/.stepgate/twilio/voice/gather?c=ch1&u=alice" {
		t.Fatalf("Gather action: %v", m)
	}
	// The signature Twilio would send validates with twilio-go's validator
	// (what the portal uses) against that URL.
	form := url.Values{"Digits": {"#"}, "CallSid": {"CA1"}}
	rv := client.NewRequestValidator(token)
	params := map[string]string{"Digits": "#", "CallSid": "CA1"}
	if !rv.Validate("https://auth.example.com/.stepgate/twilio/voice/gather?c=ch1&u=alice", params, smstest.Sign(token, "https://auth.example.com/.stepgate/twilio/voice/gather?c=ch1&u=alice", form)) {
		t.Fatal("smstest.Sign disagrees with twilio-go's validator")
	}

	if r, _ := e.v.Check(ctx, e.alice, ch, ""); r != verifiers.Pending {
		t.Fatalf("before the answer: %v", r)
	}
	if say, fraud, err := e.v.Answer(ctx, "ch1", "alice", "#"); err != nil || fraud || !strings.Contains(say, "You're signed in") {
		t.Fatalf("pressing #: %q %v %v", say, fraud, err)
	}
	if say, _, _ := e.v.Answer(ctx, "ch1", "alice", "#"); !strings.Contains(say, "already ended") {
		t.Fatalf("replayed callback: %q", say)
	}
	if r, _ := e.v.Check(ctx, verifiers.User{Name: "mallory"}, ch, ""); r == verifiers.Accepted {
		t.Fatal("another user's call accepted")
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, ""); r != verifiers.Accepted {
		t.Fatalf("after #: %v", r)
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, ""); r != verifiers.Replayed {
		t.Fatalf("the approval used twice: %v", r)
	}
}

func TestFraudReportBlocksCalls(t *testing.T) {
	e := newEnv(t, PressKey)
	ctx := context.Background()
	ch := verifiers.Challenge{ID: "ch1"}
	e.v.Start(ctx, e.alice, ch)
	if say, fraud, err := e.v.Answer(ctx, "ch1", "alice", "0"); err != nil || !fraud || !strings.Contains(say, "reported it") {
		t.Fatalf("pressing 0: %q %v %v", say, fraud, err)
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, ""); r == verifiers.Accepted || r == verifiers.Pending {
		t.Fatalf("after a fraud report: %v", r)
	}
	if ok, _ := e.v.Enrolled(ctx, e.alice); ok {
		t.Fatal("calls still offered after a fraud report")
	}
	e.now = e.now.Add(time.Hour)
	if _, err := e.v.Start(ctx, e.alice, verifiers.Challenge{ID: "ch2"}); !errors.Is(err, ErrBlocked) {
		t.Fatalf("calling after a fraud report: %v", err)
	}
	// An administrator's unlock clears the block.
	e.st.UnlockUser(ctx, "alice")
	if ok, _ := e.v.Enrolled(ctx, e.alice); !ok {
		t.Fatal("calls still blocked after unlock")
	}
}

func TestUnansweredAndOtherKeys(t *testing.T) {
	e := newEnv(t, PressKey)
	ctx := context.Background()
	for status, detail := range map[string]string{"no-answer": "no-answer", "busy": "busy", "completed": "hung up"} {
		ch := verifiers.Challenge{ID: "c-" + status}
		e.now = e.now.Add(time.Minute) // past the cooldown
		if _, err := e.v.Start(ctx, e.alice, ch); err != nil {
			t.Fatal(err)
		}
		if err := e.v.Ended(ctx, ch.ID, status); err != nil {
			t.Fatal(err)
		}
		st, d, _ := e.v.Call(ctx, e.alice, ch)
		if st != store.CallFailed || d != detail {
			t.Errorf("%s: %q %q", status, st, d)
		}
		if r, _ := e.v.Check(ctx, e.alice, ch, ""); r != verifiers.Expired {
			t.Errorf("%s: Check %v", status, r)
		}
	}
	// Any other key is a "no"; a status after the answer changes nothing.
	e.now = e.now.Add(time.Minute)
	ch := verifiers.Challenge{ID: "c-9"}
	e.v.Start(ctx, e.alice, ch)
	if say, fraud, _ := e.v.Answer(ctx, ch.ID, "alice", "9"); fraud || !strings.Contains(say, "didn't confirm") {
		t.Fatalf("pressing 9: %q", say)
	}
	e.v.Ended(ctx, ch.ID, "completed")
	if st, _, _ := e.v.Call(ctx, e.alice, ch); st != store.CallDenied {
		t.Fatalf("state after 9 then hang-up: %q", st)
	}
	// A call Twilio refuses to place ends the attempt at once.
	e.now = e.now.Add(time.Minute)
	e.tw.FailWith(400, 13224)
	ch = verifiers.Challenge{ID: "c-bad"}
	var se *sms.SendError
	if _, err := e.v.Start(ctx, e.alice, ch); !errors.As(err, &se) || !strings.Contains(se.UserMessage, "can't be called") {
		t.Fatalf("invalid number: %v", err)
	}
	if st, _, _ := e.v.Call(ctx, e.alice, ch); st != store.CallFailed {
		t.Fatalf("state of a call never placed: %q", st)
	}
}

var spokenRe = regexp.MustCompile(`Your verification code is ((?:\d, ){5}\d)\. Again, your code is ((?:\d, ){5}\d)\.`)

func TestReadCodeAloud(t *testing.T) {
	e := newEnv(t, ReadCode)
	ctx := context.Background()
	ch := verifiers.Challenge{ID: "ch1"}
	prompt, err := e.v.Start(ctx, e.alice, ch)
	if err != nil || prompt.Message != "We're calling your phone +1 ••• ••• ••71." || prompt.Input != "code" {
		t.Fatalf("Start: %+v %v", prompt, err)
	}
	c := e.tw.Calls()[0]
	m := spokenRe.FindStringSubmatch(c.Twiml)
	if m == nil || m[1] != m[2] || c.StatusCallback != "" || strings.Contains(c.Twiml, "<Gather") {
		t.Fatalf("read_code TwiML: %+v", c)
	}
	code := strings.ReplaceAll(m[1], ", ", "")
	if r, _ := e.v.Check(ctx, e.alice, ch, code); r != verifiers.Accepted {
		t.Fatalf("spoken code: %v", r)
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, code); r != verifiers.Expired {
		t.Fatalf("spoken code twice: %v", r)
	}
}

// brokenFailures cannot read failure counters.
type brokenFailures struct{ store.Store }

func (brokenFailures) Failures(context.Context, string, string) (store.Failures, error) {
	return store.Failures{}, errors.New("database is locked")
}

// A store error is a store error, not a fraud block: the user must not be
// told calls were turned off after a fraud report.
func TestStoreErrorIsNotABlock(t *testing.T) {
	e := newEnv(t, PressKey)
	e.v.Store = brokenFailures{e.st}
	_, err := e.v.Start(context.Background(), e.alice, verifiers.Challenge{ID: "c"})
	if err == nil || errors.Is(err, ErrBlocked) {
		t.Fatalf("Start with a broken store: %v", err)
	}
	if len(e.tw.Calls()) != 0 {
		t.Fatal("called although the block could not be checked")
	}
}
