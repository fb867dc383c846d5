package sms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "tokentokentokentokentokentoken12"
	testFrom  = "+15555550100"
	alicePh   = "+14155552671"
)

var codeRe = regexp.MustCompile(`^(\d{6}) is your Test App verification code`)

type env struct {
	v     *Verifier
	st    store.Store
	tw    *smstest.Twilio
	clock time.Time
	alice verifiers.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tw := smstest.NewTwilio(t, testSID, testToken)
	c, err := NewTwilioClient(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, APIURL: tw.URL})
	if err != nil {
		t.Fatal(err)
	}
	countries, _ := phone.ParseCountries([]string{"+1"})
	e := &env{st: st, tw: tw, clock: time.Unix(1_700_000_000, 0), alice: verifiers.User{Name: "alice"}}
	e.v = &Verifier{Store: st, Sender: &Twilio{Client: c, From: testFrom}, Key: []byte("0123456789abcdef0123456789abcdef"),
		AppName: "Test App", Countries: countries, Now: func() time.Time { return e.clock }}
	st.SetPhone(context.Background(), "alice", alicePh)
	return e
}

func (e *env) last(t *testing.T) smstest.Message {
	t.Helper()
	msgs := e.tw.Messages()
	if len(msgs) == 0 {
		t.Fatal("no message sent")
	}
	return msgs[len(msgs)-1]
}

func (e *env) sentCode(t *testing.T) string {
	t.Helper()
	m := codeRe.FindStringSubmatch(e.last(t).Body)
	if m == nil {
		t.Fatalf("message without a code: %q", e.last(t).Body)
	}
	return m[1]
}

func TestTextCodeThroughTwilio(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ch := verifiers.Challenge{ID: "ch1", ClientIP: "192.0.2.7"}
	prompt, err := e.v.Start(ctx, e.alice, ch)
	if err != nil {
		t.Fatal(err)
	}
	if prompt.Message != "We texted your phone +1 ••• ••• ••71." {
		t.Fatalf("prompt %q", prompt.Message)
	}
	msg := e.last(t)
	if msg.To != alicePh || msg.From != testFrom {
		t.Fatalf("message %v", msg)
	}
	code := e.sentCode(t)
	// Bound to the challenge: the right code for another challenge fails.
	if r, _ := e.v.Check(ctx, e.alice, verifiers.Challenge{ID: "ch2"}, code); r == verifiers.Accepted {
		t.Fatal("code accepted for another challenge")
	}
	if r, _ := e.v.Check(ctx, verifiers.User{Name: "mallory"}, ch, code); r == verifiers.Accepted {
		t.Fatal("code accepted for another user")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, wrong); r != verifiers.Rejected {
		t.Fatalf("wrong code: %v", r)
	}
	if r, err := e.v.Check(ctx, e.alice, ch, code); r != verifiers.Accepted || err != nil {
		t.Fatalf("right code: %v %v", r, err)
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, code); r != verifiers.Expired {
		t.Fatalf("reused code: %v, want Expired", r)
	}
	// Codes expire after 10 minutes.
	e.clock = e.clock.Add(time.Minute)
	ch3 := verifiers.Challenge{ID: "ch3"}
	if _, err := e.v.Start(ctx, e.alice, ch3); err != nil {
		t.Fatal(err)
	}
	code = e.sentCode(t)
	e.clock = e.clock.Add(CodeLifetime)
	if r, _ := e.v.Check(ctx, e.alice, ch3, code); r != verifiers.Expired {
		t.Fatalf("expired code: %v", r)
	}
}

func TestTwilioErrorsBecomeMessages(t *testing.T) {
	for name, tc := range map[string]struct {
		status, code int
		want         string
	}{
		"invalid number": {400, 21211, "can't receive text messages"},
		"opted out":      {400, 21610, "replied STOP"},
		"fraud block":    {400, 30450, "blocked by our message provider"},
		"rate limited":   {429, 20429, "Too many text messages"},
		"server error":   {500, 20500, "couldn't send a text message"},
	} {
		e := newEnv(t)
		e.tw.FailWith(tc.status, tc.code)
		_, err := e.v.Start(context.Background(), e.alice, verifiers.Challenge{ID: "c"})
		var se *SendError
		if !errors.As(err, &se) || !strings.Contains(se.UserMessage, tc.want) {
			t.Errorf("%s: %v, want a SendError saying %q", name, err, tc.want)
		}
	}
	// Bad credentials: the fake answers 20003 to a wrong token.
	e := newEnv(t)
	c, _ := NewTwilioClient(TwilioConfig{AccountSID: testSID, AuthToken: "wrongtoken", From: testFrom, APIURL: e.tw.URL})
	e.v.Sender = &Twilio{Client: c, From: testFrom}
	var se *SendError
	if _, err := e.v.Start(context.Background(), e.alice, verifiers.Challenge{ID: "c"}); !errors.As(err, &se) || !strings.Contains(se.UserMessage, "settings") {
		t.Errorf("bad credentials: %v", err)
	}
	// Twilio unreachable: nothing listens at the address any more.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	e.clock = e.clock.Add(time.Minute) // past the cooldown
	e.v.Sender = &Twilio{Client: mustClient(t, dead.URL), From: testFrom}
	if _, err := e.v.Start(context.Background(), e.alice, verifiers.Challenge{ID: "c2"}); !errors.As(err, &se) || !strings.Contains(se.UserMessage, "couldn't reach") {
		t.Errorf("unreachable: %v", err)
	}
}

func mustClient(t *testing.T, url string) *twilio.RestClient {
	c, err := NewTwilioClient(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, APIURL: url})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSendLimitsAndNumbers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ch := verifiers.Challenge{ID: "c", ClientIP: "192.0.2.7"}
	if _, err := e.v.Start(ctx, e.alice, ch); err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if _, err := e.v.Start(ctx, e.alice, ch); !errors.As(err, &le) || le.Limit != "cooldown" || !le.Retry.Equal(e.clock.Add(30*time.Second)) {
		t.Fatalf("resend at once: %v", err)
	}
	e.clock = e.clock.Add(31 * time.Second)
	if _, err := e.v.Start(ctx, e.alice, ch); err != nil {
		t.Fatalf("resend after the cooldown: %v", err)
	}
	// Many users sending to one number (SMS pumping) hit the number limit.
	e.v.Limits = Limits{PerNumber: 3}
	for _, name := range []string{"u1", "u2", "u3"} {
		if _, err := e.v.SendTo(ctx, verifiers.User{Name: name}, verifiers.Challenge{ID: name, ClientIP: "198.51.100.1"}, "+14155550199"); err != nil {
			t.Fatalf("send for %s: %v", name, err)
		}
	}
	if _, err := e.v.SendTo(ctx, verifiers.User{Name: "u4"}, verifiers.Challenge{ID: "u4", ClientIP: "198.51.100.2"}, "+14155550199"); !errors.As(err, &le) || le.Limit != "number" {
		t.Fatalf("fourth send to one number: %v", err)
	}
	if _, err := e.v.SendTo(ctx, e.alice, verifiers.Challenge{ID: "x"}, "+4930901820"); !errors.Is(err, ErrCountry) {
		t.Fatalf("number in a country not allowed: %v", err)
	}
	if _, err := e.v.SendTo(ctx, e.alice, verifiers.Challenge{ID: "x"}, "555-0142"); !errors.Is(err, phone.ErrInvalid) {
		t.Fatalf("not E.164: %v", err)
	}
	if _, err := e.v.Start(ctx, verifiers.User{Name: "nophone"}, ch); !errors.Is(err, verifiers.ErrNotEnrolled) {
		t.Fatalf("user without a phone: %v", err)
	}
}

// failingStore refuses to save codes.
type failingStore struct{ store.Store }

func (failingStore) PutCode(context.Context, store.Code) error { return errors.New("disk full") }

func TestStoreErrorSendsNothing(t *testing.T) {
	e := newEnv(t)
	e.v.Store = failingStore{e.st}
	if _, err := e.v.Start(context.Background(), e.alice, verifiers.Challenge{ID: "c"}); err == nil {
		t.Fatal("no error")
	}
	if len(e.tw.Messages()) != 0 {
		t.Fatal("a code was sent that was never stored")
	}
}

func TestOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox", "messages.jsonl")
	o := &Outbox{Path: path, Log: zap.NewNop()}
	if err := o.Send(context.Background(), alicePh, "123456 is your code"); err != nil {
		t.Fatal(err)
	}
	o.Send(context.Background(), alicePh, "654321 is your code")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var m OutboxMessage
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &m) != nil || m.To != alicePh || m.Body != "654321 is your code" || m.Method != "sms" {
		t.Fatalf("outbox file: %q", raw)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("outbox mode %v", st.Mode())
	}
}

func TestTwilioConfigNamesWhatIsMissing(t *testing.T) {
	for want, c := range map[string]TwilioConfig{
		"account_sid": {AuthToken: "t", From: testFrom},
		"auth_token":  {AccountSID: testSID, From: testFrom},
		"from":        {AccountSID: testSID, AuthToken: "t"},
		"api_url":     {AccountSID: testSID, AuthToken: "t", From: testFrom, APIURL: "ftp://x"},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s: %v", want, err)
		}
	}
}

func TestTwilioVerifyService(t *testing.T) {
	e := newEnv(t)
	c, _ := NewTwilioClient(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, APIURL: e.tw.URL})
	e.v.Service = &TwilioVerify{Client: c, ServiceSID: "VA0123"}
	ctx := context.Background()
	ch := verifiers.Challenge{ID: "c1"}
	prompt, err := e.v.Start(ctx, e.alice, ch)
	if err != nil || prompt.Message != "We texted your phone +1 ••• ••• ••71." {
		t.Fatalf("Start: %q %v", prompt.Message, err)
	}
	m := e.last(t)
	if m.From != "verify:VA0123" || m.To != alicePh {
		t.Fatalf("Verify was not asked to send: %+v", m)
	}
	code := regexp.MustCompile(`\d{6}`).FindString(m.Body)
	if r, err := e.v.Check(ctx, e.alice, ch, wrongCode(code)); r != verifiers.Rejected || err != nil {
		t.Fatalf("wrong code: %v %v", r, err)
	}
	if r, err := e.v.Check(ctx, e.alice, ch, code); r != verifiers.Accepted || err != nil {
		t.Fatalf("right code: %v %v", r, err)
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, code); r != verifiers.Expired {
		t.Fatalf("code used twice: %v", r)
	}
	// Five wrong tries end the verification.
	e.clock = e.clock.Add(time.Minute)
	e.v.Start(ctx, e.alice, ch)
	code = regexp.MustCompile(`\d{6}`).FindString(e.last(t).Body)
	for range 5 {
		e.v.Check(ctx, e.alice, ch, wrongCode(code))
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, code); r != verifiers.Expired {
		t.Fatalf("right code after five wrong ones: %v", r)
	}
	// Setting up a phone: the number is not stored yet.
	e.clock = e.clock.Add(time.Minute)
	bob := verifiers.User{Name: "bob"}
	if _, err := e.v.SendTo(ctx, bob, ch, "+1 415 555 0199"); err != nil {
		t.Fatal(err)
	}
	code = regexp.MustCompile(`\d{6}`).FindString(e.last(t).Body)
	if r, _ := e.v.CheckNumber(ctx, bob, ch, "+14155550199", code); r != verifiers.Accepted {
		t.Fatalf("set-up code: %v", r)
	}
}

func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestCodeIsBoundToItsNumber: in one challenge, a code sent to one number
// does not confirm another; a code sent for sign-in stops working once the
// user's number changes.
func TestCodeIsBoundToItsNumber(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ch := verifiers.Challenge{ID: "setup", ClientIP: "192.0.2.7"}
	const other = "+14155550199"
	if _, err := e.v.SendTo(ctx, e.alice, ch, other); err != nil {
		t.Fatal(err)
	}
	code := e.sentCode(t)
	if res, err := e.v.CheckNumber(ctx, e.alice, ch, alicePh, code); err != nil || res != verifiers.Rejected {
		t.Fatalf("code sent to %s checked for %s: %v %v", other, alicePh, res, err)
	}
	if res, err := e.v.CheckNumber(ctx, e.alice, ch, "+1 415 555 0199", code); err != nil || res != verifiers.Accepted {
		t.Fatalf("code checked for the number it was sent to: %v %v", res, err)
	}

	e.clock = e.clock.Add(time.Minute)
	signIn := verifiers.Challenge{ID: "sign-in", ClientIP: "192.0.2.7"}
	if _, err := e.v.Start(ctx, e.alice, signIn); err != nil {
		t.Fatal(err)
	}
	code = e.sentCode(t)
	e.st.SetPhone(ctx, "alice", other)
	if res, err := e.v.Check(ctx, e.alice, signIn, code); err != nil || res != verifiers.Rejected {
		t.Fatalf("code sent to the old number after the number changed: %v %v", res, err)
	}
}

// TestPerIPLimitCountsIPv6By64: one IPv6 client rotating addresses in its
// /64 meets the per-IP limit; another /64 and IPv4 clients are counted on
// their own.
func TestPerIPLimitCountsIPv6By64(t *testing.T) {
	e := newEnv(t)
	e.v.Limits = Limits{PerIP: 2}
	ctx := context.Background()
	send := func(i int, ip string) error {
		user := verifiers.User{Name: "u" + string(rune('a'+i))}
		_, err := e.v.SendTo(ctx, user, verifiers.Challenge{ID: user.Name, ClientIP: ip}, "+1415555010"+string(rune('0'+i)))
		return err
	}
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:aaaa::7"} {
		if err := send(i, ip); err != nil {
			t.Fatalf("send %d from %s: %v", i, ip, err)
		}
	}
	var le *LimitError
	if err := send(2, "2001:db8:1:2:ffff:ffff:ffff:fffe"); !errors.As(err, &le) || le.Limit != "ip" {
		t.Fatalf("third send from the same /64: %v", err)
	}
	if err := send(3, "2001:db8:1:3::1"); err != nil {
		t.Fatalf("send from another /64: %v", err)
	}
	if err := send(4, "192.0.2.1"); err != nil {
		t.Fatalf("send from IPv4: %v", err)
	}
}
