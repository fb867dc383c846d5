package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

type rig struct {
	v     *push.Verifier
	wp    *push.WebPush
	st    *store.SQLite
	svc   *pushtest.Service
	now   time.Time
	alice verifiers.User
}

func (r *rig) clock() time.Time { return r.now }

func newRig(t testing.TB) *rig {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := store.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, svc: pushtest.NewService(t), now: time.Now(), alice: verifiers.User{Name: "alice"}}
	r.wp = &push.WebPush{Store: st, Sealer: sealer, Contact: "mailto:ops@example.com", Services: []string{r.svc.Origin()}}
	r.v = &push.Verifier{Store: st, Sender: r.wp, Now: r.clock}
	return r
}

// enrol sets up a phone for user through a set-up token, as the QR code
// does: the first with a token of first-sign-in registration, any later
// one with a token for another device.
func (r *rig) enrol(t testing.TB, user string, ph *pushtest.Phone) {
	t.Helper()
	ch := verifiers.Challenge{ID: "setup-" + ph.Name}
	devs, _ := r.st.PushDevices(context.Background(), user)
	token, err := r.v.NewEnrolment(context.Background(), verifiers.User{Name: user}, ch, len(devs) == 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	d, chID, err := r.v.EnrolDevice(context.Background(), ph.Enrolment(token))
	if err != nil || d.Username != user || chID != ch.ID {
		t.Fatalf("enrol: %+v %q %v", d, chID, err)
	}
	ph.Device = d.ID
}

func (r *rig) start(t *testing.T, ch string) verifiers.Prompt {
	t.Helper()
	p, err := r.v.Start(context.Background(), r.alice, verifiers.Challenge{ID: ch, ClientIP: "198.51.100.7", Host: "app.example.com"})
	if err != nil {
		t.Fatalf("start %s: %v", ch, err)
	}
	return p
}

// request is the newest notification the phone received.
func (r *rig) request(t *testing.T) push.Notification {
	t.Helper()
	msgs := r.svc.Messages()
	if len(msgs) == 0 {
		t.Fatalf("no notification arrived; refused: %v", r.svc.Refused())
	}
	return msgs[len(msgs)-1].Payload
}

func (r *rig) check(ch string) verifiers.Result {
	res, err := r.v.Check(context.Background(), r.alice, verifiers.Challenge{ID: ch}, "")
	if err != nil {
		panic(err)
	}
	return res
}

func TestNotificationIsRealWebPush(t *testing.T) {
	r := newRig(t)
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)
	p := r.start(t, "c1")
	msgs := r.svc.Messages()
	if len(msgs) != 1 || len(r.svc.Refused()) != 0 {
		t.Fatalf("messages %+v, refused %v", msgs, r.svc.Refused())
	}
	m := msgs[0]
	if m.Subject != "mailto:ops@example.com" || m.TTL != "120" || m.Urgency != "high" {
		t.Errorf("headers: sub %q TTL %q urgency %q", m.Subject, m.TTL, m.Urgency)
	}
	n := m.Payload
	if n.Host != "app.example.com" || n.ClientIP != "198.51.100.7" || n.User != "alice" || len(p.Show) != 2 {
		t.Errorf("payload: %+v, page's number %q", n, p.Show)
	}
	// The phone is not told the number, nor offered a few to pick from:
	// the user must type the one on the sign-in page.
	var fields map[string]any
	if err := json.Unmarshal([]byte(m.Raw), &fields); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if !slices.Contains([]string{"request", "host", "ip", "from", "time", "expires", "user"}, k) {
			t.Errorf("the notification carries %q: %v", k, v)
		}
	}
	if !strings.Contains(p.Message, "Pixel") {
		t.Errorf("prompt: %q", p.Message)
	}
	// The VAPID keys were generated once and stored: another instance on
	// the same store signs with the same key.
	k1, _ := r.wp.PublicKey(context.Background())
	other := &push.WebPush{Store: r.st, Sealer: r.wp.Sealer}
	if k2, err := other.PublicKey(context.Background()); err != nil || k1 != k2 || len(k1) != 87 {
		t.Fatalf("public keys %q and %q (%v)", k1, k2, err)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestApproveWithTheRightNumber(t *testing.T) {
	r := newRig(t)
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)
	p := r.start(t, "c1")
	if got := r.check("c1"); got != verifiers.Pending {
		t.Fatalf("before an answer: %v", got)
	}
	n := r.request(t)
	_, _, out, err := r.v.Answer(context.Background(), ph.Answer(r.now, n.Request, atoi(p.Show), push.Approve))
	if err != nil || out != push.Approved {
		t.Fatalf("answer: %v %v", out, err)
	}
	if got := r.check("c1"); got != verifiers.Accepted {
		t.Fatalf("after approval: %v", got)
	}
	// The approval completes one sign-in, and cannot be given again.
	if got := r.check("c1"); got != verifiers.Replayed {
		t.Fatalf("second use of the approval: %v", got)
	}
	if _, _, _, err := r.v.Answer(context.Background(), ph.Answer(r.now, n.Request, atoi(p.Show), push.Approve)); !errors.Is(err, push.ErrNotPending) {
		t.Fatalf("replayed approval: %v", err)
	}
}

func TestApprovalsRefused(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)
	thief := pushtest.NewPhone(t, r.svc, "Thief")
	r.enrol(t, "mallory", thief)

	p := r.start(t, "c1")
	n := r.request(t)
	right := atoi(p.Show)

	// Another user's device cannot answer alice's request.
	if _, _, _, err := r.v.Answer(ctx, thief.Answer(r.now, n.Request, right, push.Approve)); !errors.Is(err, push.ErrNotPending) {
		t.Fatalf("other device: %v", err)
	}
	// A signature by another key under alice's device ID.
	forged := thief.Answer(r.now, n.Request, right, push.Approve)
	forged.Device = ph.Device
	if _, _, _, err := r.v.Answer(ctx, forged); !errors.Is(err, push.ErrBadSignature) {
		t.Fatalf("forged signature: %v", err)
	}
	// A signed answer whose fields were changed afterwards.
	tampered := ph.Answer(r.now, n.Request, right+1, push.Approve)
	tampered.Number = right
	if _, _, _, err := r.v.Answer(ctx, tampered); !errors.Is(err, push.ErrBadSignature) {
		t.Fatalf("tampered answer: %v", err)
	}
	// An old signature.
	if _, _, _, err := r.v.Answer(ctx, ph.Answer(r.now.Add(-time.Hour), n.Request, right, push.Approve)); !errors.Is(err, push.ErrStale) {
		t.Fatalf("stale answer: %v", err)
	}
	if _, _, _, err := r.v.Answer(ctx, push.Answer{Signed: push.Signed{Device: "nope"}, Request: n.Request, Decision: push.Approve}); !errors.Is(err, push.ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	var ie *push.InputError
	if _, _, _, err := r.v.Answer(ctx, ph.Answer(r.now, n.Request, right, "maybe")); !errors.As(err, &ie) {
		t.Fatalf("unknown decision: %v", err)
	}
	if got := r.check("c1"); got != verifiers.Pending {
		t.Fatalf("refused answers changed the request: %v", got)
	}
	// The wrong number denies the request.
	wrong := pushtest.WrongNumber(right)
	if _, _, out, err := r.v.Answer(ctx, ph.Answer(r.now, n.Request, wrong, push.Approve)); err != nil || out != push.WrongNumber {
		t.Fatalf("wrong number: %v %v", out, err)
	}
	if got := r.check("c1"); got != verifiers.Rejected {
		t.Fatalf("after the wrong number: %v", got)
	}
	if _, _, _, err := r.v.Answer(ctx, ph.Answer(r.now, n.Request, right, push.Approve)); !errors.Is(err, push.ErrNotPending) {
		t.Fatalf("right number after a wrong one: %v", err)
	}

	// An expired request cannot be approved, and reads as expired.
	p = r.start(t, "c2")
	n = r.request(t)
	r.now = r.now.Add(push.RequestLifetime)
	if _, _, _, err := r.v.Answer(ctx, ph.Answer(r.now, n.Request, atoi(p.Show), push.Approve)); !errors.Is(err, push.ErrNotPending) {
		t.Fatalf("expired request: %v", err)
	}
	if got := r.check("c2"); got != verifiers.Expired {
		t.Fatalf("expired: %v", got)
	}
}

func TestConcurrentApprovalsOneWins(t *testing.T) {
	r := newRig(t)
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)
	p := r.start(t, "c1")
	n := r.request(t)
	var wins, signIns atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, _, out, err := r.v.Answer(context.Background(), ph.Answer(r.now, n.Request, atoi(p.Show), push.Approve)); err == nil && out == push.Approved {
				wins.Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			if res, _ := r.v.Check(context.Background(), r.alice, verifiers.Challenge{ID: "c1"}, ""); res == verifiers.Accepted {
				signIns.Add(1)
			}
		}()
	}
	wg.Wait()
	// The checks may all have run before the approval landed.
	if r.check("c1") == verifiers.Accepted {
		signIns.Add(1)
	}
	if wins.Load() != 1 || signIns.Load() != 1 {
		t.Fatalf("%d approvals and %d sign-ins won, want 1 and 1", wins.Load(), signIns.Load())
	}
}

func TestFatigueLimits(t *testing.T) {
	r := newRig(t)
	r.v.Limits = push.Limits{MaxPending: 3, PerUser: 5, Window: 10 * time.Minute, PauseAfter: 3, Pause: 15 * time.Minute}
	ctx := context.Background()
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)
	ch := func(id string) verifiers.Challenge { return verifiers.Challenge{ID: id} }

	// At most three unanswered requests.
	for _, id := range []string{"a", "b", "c"} {
		r.start(t, id)
	}
	if _, err := r.v.Start(ctx, r.alice, ch("d")); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("fourth pending request: %v", err)
	}
	// Asking again for the same sign-in replaces its request.
	r.start(t, "a")
	// Five per ten minutes (the refused one did not count).
	if _, err := r.v.Start(ctx, r.alice, ch("a")); !isLimit(err) {
		t.Fatalf("sixth request in ten minutes: %v", err)
	}
	// The three unanswered requests expire: the method pauses.
	r.now = r.now.Add(10 * time.Minute)
	var pe *push.PausedError
	if _, err := r.v.Start(ctx, r.alice, ch("e")); !errors.As(err, &pe) || !pe.Until.After(r.now) {
		t.Fatalf("after three unanswered requests: %v", err)
	}
	// The pause ends; an approval clears the streak.
	r.now = r.now.Add(16 * time.Minute)
	p := r.start(t, "f")
	if _, _, out, err := r.v.Answer(ctx, ph.Answer(r.now, r.request(t).Request, atoi(p.Show), push.Approve)); out != push.Approved || err != nil {
		t.Fatalf("approve: %v %v", out, err)
	}
	// Three denials in a row pause it again.
	for _, id := range []string{"g", "h", "i"} {
		r.start(t, id)
		if _, _, out, err := r.v.Answer(ctx, ph.Answer(r.now, r.request(t).Request, 0, push.Deny)); out != push.Denied || err != nil {
			t.Fatalf("deny: %v %v", out, err)
		}
		r.now = r.now.Add(time.Minute) // keep under the per-user limit
	}
	if _, err := r.v.Start(ctx, r.alice, ch("j")); !errors.As(err, &pe) {
		t.Fatalf("after three denials: %v", err)
	}
}

func isLimit(err error) bool {
	var le *push.LimitError
	return errors.As(err, &le)
}

func TestReportSuspiciousActivity(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)
	r.start(t, "c1")
	if _, _, out, err := r.v.Answer(ctx, ph.Answer(r.now, r.request(t).Request, 0, push.Report)); out != push.Reported || err != nil {
		t.Fatalf("report: %v %v", out, err)
	}
	if got := r.check("c1"); got != verifiers.Rejected {
		t.Fatalf("reported request: %v", got)
	}
	if ok, _ := r.v.Enrolled(ctx, r.alice); ok {
		t.Fatal("push still offered after a report")
	}
	if _, err := r.v.Start(ctx, r.alice, verifiers.Challenge{ID: "c2"}); !errors.Is(err, push.ErrBlocked) {
		t.Fatalf("start after a report: %v", err)
	}
	// An administrator's unlock lifts the block.
	if _, err := r.st.UnlockUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	r.start(t, "c3")
}

func TestEnrolmentRefusals(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	token, _ := r.v.NewEnrolment(ctx, r.alice, verifiers.Challenge{ID: "s1"}, true, time.Time{})
	var ie *push.InputError
	for name, tc := range map[string]struct {
		edit func(*push.Enrolment)
		want func(error) bool
	}{
		"bad key": {func(e *push.Enrolment) { e.PublicKey = "AAAA" }, func(err error) bool { return errors.As(err, &ie) }},
		"signed by other": {func(e *push.Enrolment) {
			e.Sig = pushtest.NewPhone(t, nil, "x").Sign(push.SignedText("enrol", token, e.PublicKey))
		}, is(push.ErrBadSignature)},
		"unknown token": {func(e *push.Enrolment) { *e = ph.Enrolment("made-up") }, is(push.ErrBadToken)},
		"malformed sub": {func(e *push.Enrolment) { e.Subscription = `{"endpoint":` }, func(err error) bool { return errors.As(err, &ie) }},
		"other service": {func(e *push.Enrolment) {
			e.Subscription = strings.Replace(e.Subscription, r.svc.Origin(), "http://169.254.169.254", 1)
		}, func(err error) bool { return errors.As(err, &ie) }},
		"bad p256dh": {func(e *push.Enrolment) {
			e.Subscription = strings.Replace(e.Subscription, `"p256dh":"B`, `"p256dh":"A`, 1)
		}, func(err error) bool { return errors.As(err, &ie) }},
		"control char name": {func(e *push.Enrolment) { e.Name = "a\x00b" }, func(err error) bool { return errors.As(err, &ie) }},
	} {
		e := ph.Enrolment(token)
		tc.edit(&e)
		if _, _, err := r.v.EnrolDevice(ctx, e); !tc.want(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// None of those used the token up; it works once.
	if _, _, err := r.v.EnrolDevice(ctx, ph.Enrolment(token)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.v.EnrolDevice(ctx, pushtest.NewPhone(t, r.svc, "Second").Enrolment(token)); !errors.Is(err, push.ErrBadToken) {
		t.Fatalf("token used twice: %v", err)
	}
	// A set-up link kept while the user set up another method enrols
	// nothing.
	kept, _ := r.v.NewEnrolment(ctx, verifiers.User{Name: "bob"}, verifiers.Challenge{ID: "s3"}, true, time.Time{})
	if err := r.st.SetFirstTOTP(ctx, "bob", []byte("sealed"), 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.v.EnrolDevice(ctx, pushtest.NewPhone(t, r.svc, "Attacker").Enrolment(kept)); !errors.Is(err, push.ErrAlreadySetUp) {
		t.Fatalf("kept set-up link: %v", err)
	}
	if devs, _ := r.st.PushDevices(ctx, "bob"); len(devs) != 0 {
		t.Fatalf("a kept set-up link enrolled %d devices", len(devs))
	}
	// Ten minutes later a token is refused.
	late, _ := r.v.NewEnrolment(ctx, r.alice, verifiers.Challenge{ID: "s2"}, false, time.Time{})
	r.now = r.now.Add(push.EnrolmentLifetime)
	if _, _, err := r.v.EnrolDevice(ctx, ph.Enrolment(late)); !errors.Is(err, push.ErrBadToken) {
		t.Fatalf("expired token: %v", err)
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func TestPushServiceFailures(t *testing.T) {
	r := newRig(t)
	r.v.Limits.PerUser = 20
	ctx := context.Background()
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)

	// 429 and 500: the request is still there to approve from the app.
	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError} {
		r.svc.FailWith(status)
		p := r.start(t, "c1")
		if !strings.Contains(p.Message, "couldn't send a notification") || p.Show == "" {
			t.Fatalf("%d: prompt %+v", status, p)
		}
		_, reqs, err := r.v.Pending(ctx, ph.Signed(r.now, "pending", ""), "")
		if err != nil || len(reqs) != 1 {
			t.Fatalf("%d: the app does not list the request: %v %v", status, reqs, err)
		}
	}
	// A push service that does not answer in time.
	r.svc.FailWith(0)
	r.svc.Delay(2 * time.Second)
	r.wp.Client = push.NewClient()
	r.wp.Client.Timeout = 200 * time.Millisecond
	if p := r.start(t, "c2"); !strings.Contains(p.Message, "couldn't send") {
		t.Fatalf("timeout: prompt %q", p.Message)
	}
	r.svc.Delay(0)
	// 410: the subscription is gone; the device is marked, and told so.
	r.svc.FailWith(http.StatusGone)
	r.now = r.now.Add(3 * time.Minute)
	if p := r.start(t, "c3"); !strings.Contains(p.Message, "stopped working") {
		t.Fatalf("gone: prompt %q", p.Message)
	}
	devs, _ := r.v.Devices(ctx, "alice")
	if !devs[0].Gone {
		t.Fatalf("device after 410: %+v", devs[0])
	}
	// The app sending its dead subscription back does not revive it ...
	r.svc.FailWith(0)
	if d, _, err := r.v.Pending(ctx, ph.Signed(r.now, "pending", ph.Subscription()), ph.Subscription()); err != nil || !d.Gone {
		t.Fatalf("dead subscription revived: %+v %v", d, err)
	}
	if p := r.start(t, "c3"); !strings.Contains(p.Message, "stopped working") {
		t.Fatalf("still gone: prompt %q", p.Message)
	}
	// ... a new one does.
	ph.Resubscribe(t)
	if d, _, err := r.v.Pending(ctx, ph.Signed(r.now, "pending", ph.Subscription()), ph.Subscription()); err != nil || d.Gone {
		t.Fatalf("renewal: %+v %v", d, err)
	}
	before := len(r.svc.Messages())
	if p := r.start(t, "c4"); !strings.Contains(p.Message, "sent a sign-in request") || len(r.svc.Messages()) != before+1 {
		t.Fatalf("after renewal: %q", p.Message)
	}
}

func TestRename(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	ph := pushtest.NewPhone(t, r.svc, "Pixel")
	r.enrol(t, "alice", ph)
	if _, err := r.v.RenameDevice(ctx, ph.Signed(r.now, "rename", "Work phone"), "Work phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.v.RenameDevice(ctx, ph.Signed(r.now, "rename", "Work phone"), "Stolen name"); !errors.Is(err, push.ErrBadSignature) {
		t.Fatalf("rename with another name than signed: %v", err)
	}
	long := strings.Repeat("x", 41)
	var ie *push.InputError
	if _, err := r.v.RenameDevice(ctx, ph.Signed(r.now, "rename", long), long); !errors.As(err, &ie) {
		t.Fatalf("long name: %v", err)
	}
	devs, _ := r.v.Devices(ctx, "alice")
	if devs[0].Name != "Work phone" {
		t.Fatalf("name %q", devs[0].Name)
	}
}

func TestVAPIDKeysCheck(t *testing.T) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, _ := webpush.GenerateVAPIDKeys()
	for _, tc := range []struct {
		keys push.VAPIDKeys
		ok   bool
	}{
		{push.VAPIDKeys{Public: pub, Private: priv}, true},
		{push.VAPIDKeys{Public: otherPub, Private: priv}, false},
		{push.VAPIDKeys{Public: pub, Private: "not base64!"}, false},
		{push.VAPIDKeys{Public: pub, Private: "AAAA"}, false},
		{push.VAPIDKeys{}, false},
	} {
		if err := tc.keys.Check(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.keys, err)
		}
	}
}

func TestDeviceWithoutNotifications(t *testing.T) {
	r := newRig(t)
	ph := pushtest.NewPhone(t, nil, "Blocked notifications")
	r.enrol(t, "alice", ph)
	p := r.start(t, "c1")
	if !strings.Contains(p.Message, "Notifications are off on your phone") || len(r.svc.Messages()) != 0 {
		t.Fatalf("prompt %q, %d notifications", p.Message, len(r.svc.Messages()))
	}
	// The app lists the request, and its approval signs in.
	_, reqs, err := r.v.Pending(context.Background(), ph.Signed(r.now, "pending", ""), "")
	if err != nil || len(reqs) != 1 {
		t.Fatalf("pending: %v %v", reqs, err)
	}
	if _, _, out, err := r.v.Answer(context.Background(), ph.Answer(r.now, reqs[0].ID, atoi(p.Show), push.Approve)); out != push.Approved || err != nil {
		t.Fatalf("approve: %v %v", out, err)
	}
	if got := r.check("c1"); got != verifiers.Accepted {
		t.Fatalf("check: %v", got)
	}
}

// BenchmarkStart is one sign-in request: the store writes and a real Web
// Push request (encryption, VAPID signature, HTTP) to the local service.
func BenchmarkStart(b *testing.B) {
	r := newRig(b)
	r.v.Limits = push.Limits{PerUser: 1 << 30, MaxPending: 1 << 30}
	ph := pushtest.NewPhone(b, r.svc, "Pixel")
	r.enrol(b, "alice", ph)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := r.v.Start(ctx, r.alice, verifiers.Challenge{ID: strconv.Itoa(i), Host: "app.example.com"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnswer is the device's approval: signature check and the
// atomic state change.
func BenchmarkAnswer(b *testing.B) {
	r := newRig(b)
	r.v.Sender = nil
	r.v.Limits = push.Limits{PerUser: 1 << 30, MaxPending: 1 << 30}
	ph := pushtest.NewPhone(b, nil, "Pixel")
	r.enrol(b, "alice", ph)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		p, err := r.v.Start(ctx, r.alice, verifiers.Challenge{ID: strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		reqs, _ := r.st.PendingPushRequests(ctx, "alice", r.now)
		a := ph.Answer(r.now, reqs[0].ID, atoi(p.Show), push.Approve)
		b.StartTimer()
		if _, _, out, err := r.v.Answer(ctx, a); err != nil || out != push.Approved {
			b.Fatal(out, err)
		}
	}
}

func TestEveryDeviceIsNotified(t *testing.T) {
	r := newRig(t)
	phone := pushtest.NewPhone(t, r.svc, "Pixel")
	tablet := pushtest.NewPhone(t, r.svc, "Tablet")
	r.enrol(t, "alice", phone)
	r.enrol(t, "alice", tablet)
	p := r.start(t, "c1")
	msgs := r.svc.Messages()
	if len(msgs) != 2 || msgs[0].Payload.Request != msgs[1].Payload.Request || !strings.Contains(p.Message, "your 2 devices") {
		t.Fatalf("prompt %q, messages %+v", p.Message, msgs)
	}
	// Either device may answer; the tablet does.
	if _, _, out, err := r.v.Answer(context.Background(), tablet.Answer(r.now, msgs[0].Payload.Request, atoi(p.Show), push.Approve)); out != push.Approved || err != nil {
		t.Fatalf("tablet: %v %v", out, err)
	}
	if got := r.check("c1"); got != verifiers.Accepted {
		t.Fatalf("check: %v", got)
	}
}

func TestReadableAddress(t *testing.T) {
	for in, want := range map[string]string{
		"::1":              "the server itself (::1)",
		"127.0.0.1":        "the server itself (127.0.0.1)",
		"::ffff:192.0.2.7": "192.0.2.7",
		"::ffff:10.1.2.3":  "10.1.2.3 (a private network)",
		"192.168.1.20":     "192.168.1.20 (a private network)",
		"fe80::1":          "fe80::1 (a private network)",
		"2001:db8::5":      "2001:db8::5",
		"203.0.113.9":      "203.0.113.9",
		"not an address":   "not an address",
		"":                 "",
	} {
		if got := push.ReadableAddress(messages.English(), in); got != want {
			t.Errorf("ReadableAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
