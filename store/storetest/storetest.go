// Package storetest is the contract every store backend keeps: one
// suite of tests, run against each backend by its own test.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
)

// Backend is a store implementation under test.
type Backend struct {
	// Open opens a new, empty store for one test.
	Open func(*testing.T) store.Store
	// OpenTwo opens a new, empty store twice, as two instances (two
	// processes) sharing it.
	OpenTwo func(*testing.T) (store.Store, store.Store)
}

// Run runs the store contract against a backend: each test opens its own
// empty store. Every backend's tests call it, so the backends keep one
// behaviour, concurrency across instances included.
func Run(t *testing.T, b Backend) {
	open := b.Open
	t.Run("SecurityInfoAndTOTPSteps", func(t *testing.T) { t.Parallel(); testSecurityInfoAndTOTPSteps(t, open) })
	t.Run("UseTOTPStepConcurrentExactlyOne", func(t *testing.T) { t.Parallel(); testUseTOTPStepConcurrentExactlyOne(t, open) })
	t.Run("Revocations", func(t *testing.T) { t.Parallel(); testRevocations(t, open) })
	t.Run("Phone", func(t *testing.T) { t.Parallel(); testPhone(t, open) })
	t.Run("Codes", func(t *testing.T) { t.Parallel(); testCodes(t, open) })
	t.Run("UseCodeConcurrentExactlyOne", func(t *testing.T) { t.Parallel(); testUseCodeConcurrentExactlyOne(t, open) })
	t.Run("TakeSend", func(t *testing.T) { t.Parallel(); testTakeSend(t, open) })
	t.Run("Calls", func(t *testing.T) { t.Parallel(); testCalls(t, open) })
	t.Run("TakeAttempt", func(t *testing.T) { t.Parallel(); testTakeAttempt(t, open) })
	t.Run("PushEnrolment", func(t *testing.T) { t.Parallel(); testPushEnrolment(t, open) })
	t.Run("FirstMethodOnlyOnce", func(t *testing.T) { t.Parallel(); testFirstMethodOnlyOnce(t, open) })
	t.Run("FinishPushEnrolment", func(t *testing.T) { t.Parallel(); testFinishPushEnrolment(t, open) })
	t.Run("PushRequests", func(t *testing.T) { t.Parallel(); testPushRequests(t, open) })
	t.Run("Settings", func(t *testing.T) { t.Parallel(); testSettings(t, open) })
	t.Run("AccessPass", func(t *testing.T) { t.Parallel(); testAccessPass(t, open) })
	t.Run("ReusableAccessPass", func(t *testing.T) { t.Parallel(); testReusableAccessPass(t, open) })
	t.Run("PruneAccessPasses", func(t *testing.T) { t.Parallel(); testPruneAccessPasses(t, open) })
	t.Run("MethodTimes", func(t *testing.T) { t.Parallel(); testMethodTimes(t, open) })
	t.Run("Credentials", func(t *testing.T) { t.Parallel(); testCredentials(t, open) })
	t.Run("SetPhoneEndsCallsToTheOldNumber", func(t *testing.T) { t.Parallel(); testSetPhoneEndsCallsToTheOldNumber(t, open) })
	t.Run("SetDefaultMethod", func(t *testing.T) { t.Parallel(); testSetDefaultMethod(t, open) })
	t.Run("ResetMethods", func(t *testing.T) { t.Parallel(); testResetMethods(t, open) })
	t.Run("AccessPassConcurrentExactlyOne", func(t *testing.T) { t.Parallel(); testAccessPassConcurrentExactlyOne(t, b) })
	t.Run("DeviceLimit", func(t *testing.T) { t.Parallel(); testDeviceLimit(t, b) })
	t.Run("RemoveMethodKeepsOneConcurrently", func(t *testing.T) { t.Parallel(); testRemoveMethodKeepsOneConcurrently(t, b) })
	t.Run("TakeSendConcurrentExact", func(t *testing.T) { t.Parallel(); testTakeSendConcurrentExact(t, b) })
	t.Run("TakeAttemptConcurrentExact", func(t *testing.T) { t.Parallel(); testTakeAttemptConcurrentExact(t, b) })
	t.Run("RememberedDevices", func(t *testing.T) { t.Parallel(); testRememberedDevices(t, open) })
	t.Run("RememberDeviceConcurrentBounded", func(t *testing.T) { t.Parallel(); testRememberDeviceConcurrentBounded(t, b) })
	t.Run("PutPushRequestConcurrentBounded", func(t *testing.T) { t.Parallel(); testPutPushRequestConcurrentBounded(t, open) })
}

func testSecurityInfoAndTOTPSteps(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.SecurityInfo(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: got %v, want ErrNotFound", err)
	}
	if ok, err := s.UseTOTPStep(ctx, "alice", 5); err != nil || ok {
		t.Fatalf("step for user without TOTP accepted: ok=%v err=%v", ok, err)
	}
	if err := s.SetTOTP(ctx, "alice", []byte("sealed"), 10); err != nil {
		t.Fatal(err)
	}
	info, err := s.SecurityInfo(ctx, "alice")
	if err != nil || !bytes.Equal(info.TOTPSecret, []byte("sealed")) || info.TOTPLastStep != 10 {
		t.Fatalf("got %+v, %v", info, err)
	}
	for _, tc := range []struct {
		step int64
		want bool
	}{{10, false}, {9, false}, {11, true}, {11, false}, {13, true}, {12, false}} {
		ok, err := s.UseTOTPStep(ctx, "alice", tc.step)
		if err != nil || ok != tc.want {
			t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
		}
	}
}

func testUseTOTPStepConcurrentExactlyOne(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	if err := s.SetTOTP(ctx, "bob", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if wins := concurrentWins(t, func() (bool, error) { return s.UseTOTPStep(ctx, "bob", 42) }); wins != 1 {
		t.Fatalf("%d concurrent uses of one step won, want exactly 1", wins)
	}
}

// concurrentWins runs try from 20 goroutines at once and counts how many
// succeeded.
func concurrentWins(t *testing.T, try func() (bool, error)) int {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := try()
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(wins.Load())
}

func testRevocations(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.Now()
	r1, err := s.Revoke(ctx, store.Revocation{SessionID: "s1", Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, store.Revocation{SessionID: "old", Expires: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	r3, err := s.Revoke(ctx, store.Revocation{Username: "alice", NotBefore: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.RevocationsAfter(ctx, 0, now)
	if err != nil || len(all) != 2 || all[0].SessionID != "s1" || all[1].Username != "alice" {
		t.Fatalf("RevocationsAfter(0) = %+v, %v", all, err)
	}
	later, _ := s.RevocationsAfter(ctx, r1.Seq, now)
	if len(later) != 1 || later[0].Seq != r3.Seq || later[0].NotBefore.UnixMilli() != now.UnixMilli() {
		t.Fatalf("RevocationsAfter(r1) = %+v", later)
	}
	if err := s.Prune(ctx, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.RevocationsAfter(ctx, 0, now); len(left) != 0 {
		t.Fatalf("after prune: %+v", left)
	}
}

func testPhone(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	if err := s.SetPhone(ctx, "alice", "+15555550142"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTOTP(ctx, "alice", []byte("sealed"), 7); err != nil {
		t.Fatal(err)
	}
	info, err := s.SecurityInfo(ctx, "alice")
	if err != nil || info.Phone != "+15555550142" || string(info.TOTPSecret) != "sealed" {
		t.Fatalf("phone and TOTP side by side: %+v %v", info, err)
	}
	s.SetPhone(ctx, "alice", "")
	if info, _ := s.SecurityInfo(ctx, "alice"); info.Phone != "" || info.TOTPSecret == nil {
		t.Fatalf("removing the phone: %+v", info)
	}
}

func testCodes(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	put := func(id string, hash string) {
		t.Helper()
		if err := s.PutCode(ctx, store.Code{ChallengeID: id, Username: "alice", Method: "sms", Hash: []byte(hash), Expires: now.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	use := func(id, user, method, hash string, at time.Time) store.CodeResult {
		t.Helper()
		r, err := s.UseCode(ctx, id, user, method, []byte(hash), at, 5)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	put("c1", "right")
	for name, tc := range map[string]struct {
		id, user, method, hash string
		at                     time.Time
		want                   store.CodeResult
	}{
		"other user's challenge": {"c1", "mallory", "sms", "right", now, store.CodeGone},
		"other method":           {"c1", "alice", "voice", "right", now, store.CodeGone},
		"unknown challenge":      {"c9", "alice", "sms", "right", now, store.CodeGone},
		"expired":                {"c1", "alice", "sms", "right", now.Add(10 * time.Minute), store.CodeGone},
	} {
		if got := use(tc.id, tc.user, tc.method, tc.hash, tc.at); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if use("c1", "alice", "sms", "right", now) != store.CodeAccepted {
		t.Fatal("right code refused")
	}
	if use("c1", "alice", "sms", "right", now) != store.CodeGone {
		t.Fatal("code accepted twice")
	}
	// Five wrong tries use the code up, even for the right code after.
	put("c2", "right")
	for i := range 5 {
		if got := use("c2", "alice", "sms", "wrong", now); got != store.CodeWrong {
			t.Fatalf("wrong try %d: %v", i+1, got)
		}
	}
	if use("c2", "alice", "sms", "right", now) != store.CodeGone {
		t.Fatal("right code accepted after five wrong tries")
	}
	// A new code for the challenge replaces the old one and its tries.
	put("c2", "newer")
	if use("c2", "alice", "sms", "right", now) != store.CodeWrong || use("c2", "alice", "sms", "newer", now) != store.CodeAccepted {
		t.Fatal("resent code")
	}
}

func testUseCodeConcurrentExactlyOne(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s.PutCode(ctx, store.Code{ChallengeID: "c", Username: "alice", Method: "sms", Hash: []byte("h"), Expires: now.Add(time.Minute)})
	wins := concurrentWins(t, func() (bool, error) {
		r, err := s.UseCode(ctx, "c", "alice", "sms", []byte("h"), now, 5)
		return r == store.CodeAccepted, err
	})
	if wins != 1 {
		t.Fatalf("%d winners, want exactly 1", wins)
	}
}

func testTakeSend(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	limits := func(user string) []store.Limit {
		return []store.Limit{{Key: "cooldown:" + user, Max: 1, Window: 30 * time.Second}, {Key: "user:" + user, Max: 3, Window: time.Hour}, {Key: "global", Max: 3, Window: time.Minute}}
	}
	take := func(user string, at time.Time) (*store.Limit, time.Time) {
		t.Helper()
		l, retry, err := s.TakeSend(ctx, limits(user), at)
		if err != nil {
			t.Fatal(err)
		}
		return l, retry
	}
	if l, _ := take("alice", now); l != nil {
		t.Fatalf("first send blocked by %v", l.Key)
	}
	if l, retry := take("alice", now.Add(10*time.Second)); l == nil || l.Key != "cooldown:alice" || !retry.Equal(now.Add(30*time.Second)) {
		t.Fatalf("resend within the cooldown: %v %v", l, retry)
	}
	take("alice", now.Add(31*time.Second))
	take("alice", now.Add(62*time.Second))
	if l, retry := take("alice", now.Add(93*time.Second)); l == nil || l.Key != "user:alice" || !retry.Equal(now.Add(time.Hour)) {
		t.Fatalf("fourth send in an hour: %v %v", l, retry)
	}
	// A blocked attempt records nothing: bob is limited only by the
	// global ceiling, which counts alice's sends at 31 s and 62 s.
	if l, _ := take("bob", now.Add(63*time.Second)); l != nil {
		t.Fatalf("bob blocked by %v", l.Key)
	}
	if l, _ := take("carol", now.Add(64*time.Second)); l == nil || l.Key != "global" {
		t.Fatalf("global ceiling: %v", l)
	}
	if err := s.Prune(ctx, now.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if l, _ := take("alice", now.Add(48*time.Hour)); l != nil {
		t.Fatalf("after two days: %v", l.Key)
	}
}

func testCalls(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	if err := s.PutCall(ctx, "c1", "alice", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if st, _, err := s.CallState(ctx, "c1", "mallory", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another user's call: %q %v", st, err)
	}
	if st, _, _ := s.CallState(ctx, "c1", "alice", now); st != store.CallPending {
		t.Fatalf("new call: %q", st)
	}
	// Approve once; a replayed callback changes nothing.
	if ok, _ := s.SetCallState(ctx, "c1", store.CallPending, store.CallApproved, "", now); !ok {
		t.Fatal("approval refused")
	}
	if ok, _ := s.SetCallState(ctx, "c1", store.CallPending, store.CallFraud, "", now); ok {
		t.Fatal("a finished call changed state")
	}
	// The approval completes one sign-in only.
	if wins := concurrentWins(t, func() (bool, error) { return s.SetCallState(ctx, "c1", store.CallApproved, store.CallUsed, "", now) }); wins != 1 {
		t.Fatalf("%d sign-ins from one approval", wins)
	}
	// An unanswered call expires.
	s.PutCall(ctx, "c2", "alice", now.Add(time.Minute))
	if st, detail, _ := s.CallState(ctx, "c2", "alice", now.Add(time.Minute)); st != store.CallFailed || detail != "expired" {
		t.Fatalf("expired call: %q %q", st, detail)
	}
	if ok, _ := s.SetCallState(ctx, "c2", store.CallPending, store.CallApproved, "", now.Add(time.Minute)); ok {
		t.Fatal("an expired call was approved")
	}
}

// testBackoff lets 5 attempts through, then one a minute, and locks at 8.
func testBackoff(f store.Failures, now time.Time) (time.Duration, bool) {
	switch {
	case f.Count >= 8:
		return 0, true
	case f.Count >= 5:
		return max(0, f.Last.Add(time.Minute).Sub(now)), false
	}
	return 0, false
}

func testTakeAttempt(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.Now().Truncate(time.Millisecond)
	for i := 1; i <= 5; i++ {
		a, err := s.TakeAttempt(ctx, "alice", "code", now, testBackoff)
		if err != nil || !a.Taken || a.Failures.Count != i || !a.Failures.Last.Equal(now) {
			t.Fatalf("attempt %d = %+v, %v", i, a, err)
		}
	}
	a, err := s.TakeAttempt(ctx, "alice", "code", now.Add(30*time.Second), testBackoff)
	if err != nil || a.Taken || a.Wait != 30*time.Second || a.Failures.Count != 5 {
		t.Fatalf("attempt in back-off = %+v, %v", a, err)
	}
	// A returned attempt (the check could not run) no longer counts, and
	// the back-off runs from the failure before it again.
	a6, err := s.TakeAttempt(ctx, "alice", "code", now.Add(61*time.Second), testBackoff)
	if err != nil || !a6.Taken || a6.Failures.Count != 6 || !a6.Prev.Equal(now) {
		t.Fatalf("attempt after the back-off = %+v, %v", a6, err)
	}
	if err := s.ReturnAttempt(ctx, "alice", "code", a6); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Failures(ctx, "alice", "code"); f.Count != 5 || !f.Last.Equal(now) {
		t.Fatalf("after ReturnAttempt: %+v, want 5 failures, the last at %v", f, now)
	}
	// Returning an attempt not taken changes nothing.
	if err := s.ReturnAttempt(ctx, "alice", "code", a); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Failures(ctx, "alice", "code"); f.Count != 5 {
		t.Fatalf("after returning a refused attempt: %+v", f)
	}
	// An attempt taken after the one returned keeps its time.
	a6, _ = s.TakeAttempt(ctx, "alice", "code", now.Add(61*time.Second), testBackoff)
	a7, _ := s.TakeAttempt(ctx, "alice", "code", now.Add(3*time.Minute), testBackoff)
	if !a7.Taken {
		t.Fatalf("attempt 7 = %+v", a7)
	}
	s.ReturnAttempt(ctx, "alice", "code", a6)
	if f, _ := s.Failures(ctx, "alice", "code"); f.Count != 6 || !f.Last.Equal(now.Add(3*time.Minute)) {
		t.Fatalf("after returning attempt 6 of 7: %+v", f)
	}
	s.ReturnAttempt(ctx, "alice", "code", a7)
	// After a reset, an attempt from before it is not given back.
	s.ResetFailures(ctx, "alice", "code")
	if a, _ := s.TakeAttempt(ctx, "alice", "code", now, testBackoff); a.Failures.Count != 1 {
		t.Fatalf("after reset: %+v", a)
	}
	s.ReturnAttempt(ctx, "alice", "code", a6)
	if f, _ := s.Failures(ctx, "alice", "code"); f.Count != 1 {
		t.Fatalf("an attempt from before a reset was given back: %+v", f)
	}
	for i := 2; i <= 4; i++ {
		s.TakeAttempt(ctx, "alice", "code", now, testBackoff)
	}
	// Back to 5, then the back-off is over a minute later; at 8, locked.
	later := now
	for i := 5; i <= 8; i++ {
		if a, err := s.TakeAttempt(ctx, "alice", "code", later, testBackoff); err != nil || !a.Taken || a.Failures.Count != i {
			t.Fatalf("attempt %d at %v = %+v, %v", i, later.Sub(now), a, err)
		}
		later = later.Add(time.Minute)
	}
	if a, err := s.TakeAttempt(ctx, "alice", "code", later.Add(time.Hour), testBackoff); err != nil || a.Taken || !a.Locked {
		t.Fatalf("attempt past the hard limit = %+v, %v", a, err)
	}
	// Other users and methods have their own counters.
	if a, _ := s.TakeAttempt(ctx, "alice", "password", now, testBackoff); !a.Taken || a.Failures.Count != 1 {
		t.Fatalf("password shares the code counter: %+v", a)
	}
	// ReturnAttempt never goes below zero, nor gives back another user's.
	b1, _ := s.TakeAttempt(ctx, "bob", "code", now, testBackoff)
	for range 3 {
		if err := s.ReturnAttempt(ctx, "bob", "code", b1); err != nil {
			t.Fatal(err)
		}
	}
	if f, _ := s.Failures(ctx, "bob", "code"); f.Count != 0 {
		t.Fatalf("bob after returning one attempt three times: %+v", f)
	}
}

func testPushEnrolment(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	if err := s.PutPushEnrolment(ctx, []byte("tok1"), "ch1", "alice", now.Add(10*time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushEnrolled(ctx, "ch1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("enrolled before any device: %v", err)
	}
	if _, _, err := s.EnrolPushDevice(ctx, []byte("nope"), store.PushDevice{ID: "d0", Name: "x", PublicKey: []byte{4}}, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	d, ch, err := s.EnrolPushDevice(ctx, []byte("tok1"), store.PushDevice{ID: "d1", Name: "Pixel", PublicKey: []byte{4, 1}, Subscription: `{"endpoint":"x"}`}, now)
	if err != nil || d.Username != "alice" || ch != "ch1" {
		t.Fatalf("enrol: %+v %q %v", d, ch, err)
	}
	// Single use: the same token enrols nothing more, and nothing is stored.
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok1"), store.PushDevice{ID: "d2", Name: "y", PublicKey: []byte{4}}, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token reused: %v", err)
	}
	if _, err := s.PushDevice(ctx, "d2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused enrolment stored its device: %v", err)
	}
	if got, err := s.PushEnrolled(ctx, "ch1"); err != nil || got.ID != "d1" {
		t.Fatalf("PushEnrolled: %+v %v", got, err)
	}
	// An expired token is refused.
	s.PutPushEnrolment(ctx, []byte("tok2"), "ch2", "alice", now.Add(time.Minute), true)
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok2"), store.PushDevice{ID: "d3", Name: "z", PublicKey: []byte{4}}, now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired token: %v", err)
	}
	// Of racing enrolments with one token, exactly one wins.
	s.PutPushEnrolment(ctx, []byte("tok3"), "ch3", "carol", now.Add(time.Minute), true)
	if wins := concurrentWins(t, func() (bool, error) {
		_, _, err := s.EnrolPushDevice(ctx, []byte("tok3"), store.PushDevice{ID: "raced", Name: "r", PublicKey: []byte{4}}, now)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d enrolments with one token", wins)
	}
	// A token that is not for a first method adds a second device.
	s.PutPushEnrolment(ctx, []byte("tok4"), "ch4", "alice", now.Add(time.Minute), false)
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok4"), store.PushDevice{ID: "d4", Name: "Tablet", PublicKey: []byte{4}}, now); err != nil {
		t.Fatalf("second device: %v", err)
	}

	if err := s.RenamePushDevice(ctx, "d1", "Work phone"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPushSubscription(ctx, "d1", "", true); err != nil {
		t.Fatal(err)
	}
	if err := s.RenamePushDevice(ctx, "missing", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("renaming a missing device: %v", err)
	}
	devs, err := s.PushDevices(ctx, "alice")
	if err != nil || len(devs) != 2 || devs[0].Name != "Work phone" || !devs[0].Gone || devs[0].Subscription != "" {
		t.Fatalf("devices: %+v %v", devs, err)
	}
	if devs, _ := s.PushDevices(ctx, "bob"); len(devs) != 0 {
		t.Fatalf("bob has alice's devices: %+v", devs)
	}
	if err := s.DeletePushDevice(ctx, "bob", "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob removed alice's device: %v", err)
	}
	if err := s.DeletePushDevice(ctx, "alice", "d1"); err != nil {
		t.Fatal(err)
	}
	if devs, _ := s.PushDevices(ctx, "alice"); len(devs) != 1 {
		t.Fatalf("after removing one: %+v", devs)
	}
}

// TestFirstMethodOnlyOnce: the writes of first-sign-in registration refuse
// a user who has any method, whichever came first (a credential of a
// method that is not built in counts too); a kept set-up token adds
// nothing, and stores nothing, once the user has set up another method.
func testFirstMethodOnlyOnce(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	dev := func(id string) store.PushDevice { return store.PushDevice{ID: id, Name: "Phone", PublicKey: []byte{4}} }
	var tokens atomic.Int32
	adds := map[string]func(s store.Store, user string) error{
		"totp":  func(s store.Store, user string) error { return s.SetFirstTOTP(ctx, user, []byte("sealed"), 1) },
		"phone": func(s store.Store, user string) error { return s.SetFirstPhone(ctx, user, "+14155552671") },
		"push": func(s store.Store, user string) error {
			tok := []byte(fmt.Sprintf("tok-%s-%d", user, tokens.Add(1)))
			if err := s.PutPushEnrolment(ctx, tok, "ch-"+user, user, now.Add(time.Minute), true); err != nil {
				return err
			}
			_, _, err := s.EnrolPushDevice(ctx, tok, dev("dev-"+string(tok)), now)
			return err
		},
		"credential": func(s store.Store, user string) error {
			id := fmt.Sprintf("cred-%s-%d", user, tokens.Add(1))
			return s.AddCredential(ctx, store.Credential{ID: id, Username: user, Method: "test", Name: "Key"}, true)
		},
	}
	for first, addFirst := range adds {
		for then, addThen := range adds {
			t.Run(first+" then "+then, func(t *testing.T) {
				t.Parallel()
				s := open(t)
				if err := addFirst(s, "alice"); err != nil {
					t.Fatal(err)
				}
				before, _ := s.SecurityInfo(ctx, "alice")
				devsBefore, _ := s.PushDevices(ctx, "alice")
				credsBefore, _ := s.Credentials(ctx, "alice", "")
				if err := addThen(s, "alice"); !errors.Is(err, store.ErrAlreadySetUp) {
					t.Fatalf("second first method: %v", err)
				}
				after, _ := s.SecurityInfo(ctx, "alice")
				devsAfter, _ := s.PushDevices(ctx, "alice")
				credsAfter, _ := s.Credentials(ctx, "alice", "")
				if !bytes.Equal(before.TOTPSecret, after.TOTPSecret) || before.Phone != after.Phone ||
					len(devsBefore) != len(devsAfter) || len(credsBefore) != len(credsAfter) {
					t.Fatalf("a refused registration changed alice's methods: %+v %+v, %d %d devices, %d %d credentials",
						before, after, len(devsBefore), len(devsAfter), len(credsBefore), len(credsAfter))
				}
				// Another user is not affected.
				if err := addThen(s, "bob"); err != nil {
					t.Fatalf("bob's first method: %v", err)
				}
			})
		}
	}
	// Racing first methods of one user: exactly one is stored.
	s := open(t)
	var i atomic.Int32
	if wins := concurrentWins(t, func() (bool, error) {
		names := []string{"totp", "phone", "push", "credential"}
		err := adds[names[int(i.Add(1))%len(names)]](s, "carol")
		if errors.Is(err, store.ErrAlreadySetUp) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d first methods stored for one user", wins)
	}
}

// TestFinishPushEnrolment: finishing a set-up succeeds once, for its
// user, while its device exists.
func testFinishPushEnrolment(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	if _, err := s.FinishPushEnrolment(ctx, "ch1", "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("finish without a set-up: %v", err)
	}
	s.PutPushEnrolment(ctx, []byte("tok1"), "ch1", "alice", now.Add(time.Minute), true)
	if _, err := s.FinishPushEnrolment(ctx, "ch1", "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("finish before a device enrolled: %v", err)
	}
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok1"), store.PushDevice{ID: "d1", Name: "Pixel", PublicKey: []byte{4}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishPushEnrolment(ctx, "ch1", "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another user finished alice's set-up: %v", err)
	}
	if wins := concurrentWins(t, func() (bool, error) {
		d, err := s.FinishPushEnrolment(ctx, "ch1", "alice")
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil && d.ID == "d1", err
	}); wins != 1 {
		t.Fatalf("one set-up finished %d times", wins)
	}
	if _, err := s.PushEnrolled(ctx, "ch1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a finished set-up still reads as enrolled: %v", err)
	}
	// A device removed before the set-up finished does not finish it.
	s.PutPushEnrolment(ctx, []byte("tok2"), "ch2", "bob", now.Add(time.Minute), true)
	s.EnrolPushDevice(ctx, []byte("tok2"), store.PushDevice{ID: "d2", Name: "Pixel", PublicKey: []byte{4}}, now)
	s.DeletePushDevice(ctx, "bob", "d2")
	if _, err := s.FinishPushEnrolment(ctx, "ch2", "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("finish with a removed device: %v", err)
	}
}

func testPushRequests(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	req := func(id, ch string, at time.Time) store.PushRequest {
		return store.PushRequest{ID: id, ChallengeID: ch, Username: "alice", Number: 42,
			ClientIP: "192.0.2.1", Host: "app.example.com", Created: at, Expires: at.Add(2 * time.Minute)}
	}
	if err := s.PutPushRequest(ctx, req("r1", "c1", now), 3); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestPushRequest(ctx, "c1", "alice", now)
	if err != nil || got.State != store.PushPending || got.Number != 42 || got.Host != "app.example.com" {
		t.Fatalf("latest: %+v %v", got, err)
	}
	if _, err := s.LatestPushRequest(ctx, "c1", "mallory", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another user's request: %v", err)
	}
	// Asking again for the same sign-in replaces the earlier request.
	s.PutPushRequest(ctx, req("r2", "c1", now.Add(time.Second)), 3)
	if got, _ := s.LatestPushRequest(ctx, "c1", "alice", now); got.ID != "r2" {
		t.Fatalf("latest after a new request: %+v", got)
	}
	if ok, _ := s.SetPushState(ctx, "r1", "alice", store.PushPending, store.PushApproved, "", "d1", now); ok {
		t.Fatal("a replaced request was approved")
	}
	// At most maxPending live requests per user.
	s.PutPushRequest(ctx, req("r3", "c2", now), 3)
	s.PutPushRequest(ctx, req("r4", "c3", now), 3)
	if err := s.PutPushRequest(ctx, req("r5", "c4", now), 3); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("fourth pending request: %v", err)
	}
	if p, _ := s.PendingPushRequests(ctx, "alice", now); len(p) != 3 {
		t.Fatalf("pending: %d", len(p))
	}
	// Once they expire, they are marked, counted, and make room.
	later := now.Add(3 * time.Minute)
	if got, _ := s.LatestPushRequest(ctx, "c2", "alice", later); got.State != store.PushExpired {
		t.Fatalf("expired request reads as %q", got.State)
	}
	if ok, _ := s.SetPushState(ctx, "r3", "alice", store.PushPending, store.PushApproved, "", "d1", later); ok {
		t.Fatal("an expired request was approved")
	}
	if n, err := s.ExpirePushRequests(ctx, "alice", later); n != 3 || err != nil {
		t.Fatalf("expired %d (%v), want 3", n, err)
	}
	if n, _ := s.ExpirePushRequests(ctx, "alice", later); n != 0 {
		t.Fatalf("expired again: %d", n)
	}
	if err := s.PutPushRequest(ctx, req("r6", "c5", later), 3); err != nil {
		t.Fatal(err)
	}
	// One approval wins, and completes one sign-in.
	if wins := concurrentWins(t, func() (bool, error) {
		return s.SetPushState(ctx, "r6", "alice", store.PushPending, store.PushApproved, "", "d1", later)
	}); wins != 1 {
		t.Fatalf("%d concurrent approvals won", wins)
	}
	if wins := concurrentWins(t, func() (bool, error) {
		return s.SetPushState(ctx, "r6", "alice", store.PushApproved, store.PushUsed, "", "", later.Add(5*time.Minute))
	}); wins != 1 {
		t.Fatalf("%d sign-ins from one approval", wins)
	}
	if got, _ := s.LatestPushRequest(ctx, "c5", "alice", later); got.State != store.PushUsed || got.Device != "d1" {
		t.Fatalf("used request: %+v", got)
	}
	if ok, _ := s.SetPushState(ctx, "r6", "mallory", store.PushUsed, store.PushApproved, "", "", later); ok {
		t.Fatal("another user changed alice's request")
	}
}

func testSettings(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	if _, err := s.Setting(ctx, "vapid"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unset setting: %v", err)
	}
	if v, err := s.InitSetting(ctx, "vapid", "first"); v != "first" || err != nil {
		t.Fatalf("init: %q %v", v, err)
	}
	if v, err := s.InitSetting(ctx, "vapid", "second"); v != "first" || err != nil {
		t.Fatalf("second init overwrote: %q %v", v, err)
	}
}

// putPass stores a pass for user with hash, issued at now and expiring an
// hour later.
func putPass(t *testing.T, s store.Store, user, hash string, now time.Time, reusable bool) {
	t.Helper()
	if err := s.PutAccessPass(context.Background(), store.AccessPass{
		Username: user, Hash: []byte(hash), Created: now, Expires: now.Add(time.Hour), Reusable: reusable,
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAccessPass: a single-use pass works once, with its hash, while it
// has not expired; a new pass replaces the old one and its use; another
// user's pass is not this user's.
func testAccessPass(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.UnixMilli(1_700_000_000_000)
	use := func(user, hash string, at time.Time) (store.AccessPass, error) {
		return s.UseAccessPass(ctx, user, []byte(hash), at)
	}

	if _, err := use("alice", "h1", now); !errors.Is(err, store.ErrNoAccessPass) {
		t.Fatalf("using a pass alice does not have: %v", err)
	}
	if _, err := s.AccessPassOf(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pass of a user without one: %v", err)
	}
	for _, p := range []store.AccessPass{
		{Username: "", Hash: []byte("h"), Expires: now.Add(time.Hour)},
		{Username: "alice", Expires: now.Add(time.Hour)},
	} {
		if err := s.PutAccessPass(ctx, p); err == nil {
			t.Fatalf("stored a pass without a username or hash: %+v", p)
		}
	}

	putPass(t, s, "alice", "h1", now, false)
	putPass(t, s, "bob", "hb", now, false)
	got, err := s.AccessPassOf(ctx, "alice")
	if err != nil || got.Username != "alice" || !bytes.Equal(got.Hash, []byte("h1")) || !got.Created.Equal(now) ||
		!got.Expires.Equal(now.Add(time.Hour)) || got.Reusable || !got.Used.IsZero() {
		t.Fatalf("alice's pass: %+v %v", got, err)
	}

	// A wrong hash, an empty one, another user's, and a use at or after the
	// expiry all fail, and none of them uses the pass up.
	for _, tc := range []struct {
		user, hash string
		at         time.Time
	}{
		{"alice", "h2", now},
		{"alice", "", now},
		{"alice", "h", now},
		{"alice", "h1x", now},
		{"alice", "hb", now},
		{"bob", "h1", now},
		{"carol", "h1", now},
		{"alice", "h1", now.Add(time.Hour)},
		{"alice", "h1", now.Add(2 * time.Hour)},
	} {
		if p, err := use(tc.user, tc.hash, tc.at); !errors.Is(err, store.ErrNoAccessPass) {
			t.Errorf("%s using %q at %v: %+v %v, want ErrNoAccessPass", tc.user, tc.hash, tc.at, p, err)
		}
	}
	if got, _ := s.AccessPassOf(ctx, "alice"); !got.Used.IsZero() {
		t.Fatalf("a failed use used the pass: %+v", got)
	}

	// The right hash just before the expiry works, once.
	at := now.Add(time.Hour - time.Millisecond)
	p, err := use("alice", "h1", at)
	if err != nil || p.Username != "alice" || !p.Used.Equal(at) || p.Reusable {
		t.Fatalf("using alice's pass: %+v %v", p, err)
	}
	if _, err := use("alice", "h1", at); !errors.Is(err, store.ErrNoAccessPass) {
		t.Fatalf("a single-use pass used twice: %v", err)
	}
	if got, err := s.AccessPassOf(ctx, "alice"); err != nil || !got.Used.Equal(at) {
		t.Fatalf("alice's used pass: %+v %v", got, err)
	}
	// Bob's pass is untouched by all of that.
	if p, err := use("bob", "hb", now); err != nil || p.Username != "bob" {
		t.Fatalf("bob's pass: %+v %v", p, err)
	}

	// A new pass replaces the used one, with its use: the old hash no
	// longer works, the new one does.
	putPass(t, s, "alice", "h3", now.Add(time.Minute), false)
	if got, _ := s.AccessPassOf(ctx, "alice"); !got.Used.IsZero() || !bytes.Equal(got.Hash, []byte("h3")) {
		t.Fatalf("replaced pass: %+v", got)
	}
	if _, err := use("alice", "h1", now.Add(2*time.Minute)); !errors.Is(err, store.ErrNoAccessPass) {
		t.Fatalf("the replaced pass still works: %v", err)
	}
	if _, err := use("alice", "h3", now.Add(2*time.Minute)); err != nil {
		t.Fatalf("the new pass: %v", err)
	}

	// Deleting removes it; deleting again, or a pass nobody has, is fine.
	putPass(t, s, "alice", "h4", now, false)
	for range 2 {
		if err := s.DeleteAccessPass(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := use("alice", "h4", now); !errors.Is(err, store.ErrNoAccessPass) {
		t.Fatalf("a deleted pass works: %v", err)
	}
	if _, err := s.AccessPassOf(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted pass reads: %v", err)
	}
	if _, err := s.AccessPassOf(ctx, "bob"); err != nil {
		t.Fatalf("deleting alice's pass deleted bob's: %v", err)
	}
}

// TestReusableAccessPass: a reusable pass works every time until it
// expires, and records each use.
func testReusableAccessPass(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.UnixMilli(1_700_000_000_000)
	putPass(t, s, "alice", "h1", now, true)
	for i := range 3 {
		at := now.Add(time.Duration(i+1) * time.Minute)
		p, err := s.UseAccessPass(ctx, "alice", []byte("h1"), at)
		if err != nil || !p.Reusable || !p.Used.Equal(at) {
			t.Fatalf("use %d of a reusable pass: %+v %v", i+1, p, err)
		}
		if got, _ := s.AccessPassOf(ctx, "alice"); !got.Used.Equal(at) {
			t.Fatalf("use %d recorded as %v, want %v", i+1, got.Used, at)
		}
	}
	if _, err := s.UseAccessPass(ctx, "alice", []byte("h2"), now); !errors.Is(err, store.ErrNoAccessPass) {
		t.Fatalf("a reusable pass with a wrong hash: %v", err)
	}
	if _, err := s.UseAccessPass(ctx, "alice", []byte("h1"), now.Add(time.Hour)); !errors.Is(err, store.ErrNoAccessPass) {
		t.Fatalf("an expired reusable pass: %v", err)
	}
}

// TestPruneAccessPasses: Prune forgets passes that expired more than a
// day ago, and keeps the rest, used or not.
func testPruneAccessPasses(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.UnixMilli(1_700_000_000_000)
	for user, expires := range map[string]time.Time{
		"old":     now.Add(-25 * time.Hour),
		"dayago":  now.Add(-24 * time.Hour),
		"recent":  now.Add(-23 * time.Hour),
		"expired": now.Add(-time.Minute),
		"live":    now.Add(time.Hour),
	} {
		if err := s.PutAccessPass(ctx, store.AccessPass{Username: user, Hash: []byte("h"), Created: expires.Add(-time.Hour), Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	putPass(t, s, "used", "h", now.Add(-time.Minute), false)
	if _, err := s.UseAccessPass(ctx, "used", []byte("h"), now); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx, now); err != nil {
		t.Fatal(err)
	}
	for user, kept := range map[string]bool{
		"old": false, "dayago": false, "recent": true, "expired": true, "live": true, "used": true,
	} {
		if _, err := s.AccessPassOf(ctx, user); (err == nil) != kept || (err != nil && !errors.Is(err, store.ErrNotFound)) {
			t.Errorf("%s's pass after Prune: %v, want kept %v", user, err, kept)
		}
	}
}

// TestMethodTimes: storing a method records when; removing the phone
// forgets its time; approving a request records when its device was used.
func testMethodTimes(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	// inRange reports whether t was taken between from and to, at the
	// store's millisecond precision.
	inRange := func(t, from, to time.Time) bool {
		return !t.Before(from.Truncate(time.Millisecond)) && !t.After(to)
	}
	before := time.Now()
	if err := s.SetTOTP(ctx, "alice", []byte("sealed"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPhone(ctx, "alice", "+14155552671"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFirstTOTP(ctx, "bob", []byte("sealed"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFirstPhone(ctx, "carol", "+14155552671"); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	for _, tc := range []struct {
		user       string
		totp, call bool
	}{{"alice", true, true}, {"bob", true, false}, {"carol", false, true}} {
		info, err := s.SecurityInfo(ctx, tc.user)
		if err != nil {
			t.Fatal(err)
		}
		if tc.totp != inRange(info.TOTPAdded, before, after) || tc.totp == info.TOTPAdded.IsZero() {
			t.Errorf("%s: authenticator added at %v, want within [%v, %v]: %v", tc.user, info.TOTPAdded, before, after, tc.totp)
		}
		if tc.call != inRange(info.PhoneAdded, before, after) || tc.call == info.PhoneAdded.IsZero() {
			t.Errorf("%s: phone added at %v, want within [%v, %v]: %v", tc.user, info.PhoneAdded, before, after, tc.call)
		}
	}
	if err := s.SetPhone(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.SecurityInfo(ctx, "alice"); info.Phone != "" || !info.PhoneAdded.IsZero() || info.TOTPAdded.IsZero() {
		t.Fatalf("after removing the phone: %+v", info)
	}

	now := time.UnixMilli(1_700_000_000_123)
	s.PutPushEnrolment(ctx, []byte("tok1"), "ch1", "alice", now.Add(time.Minute), false)
	s.PutPushEnrolment(ctx, []byte("tok2"), "ch2", "bob", now.Add(time.Minute), false)
	if d, _, err := s.EnrolPushDevice(ctx, []byte("tok1"), store.PushDevice{ID: "d1", Name: "Pixel", PublicKey: []byte{4}}, now); err != nil || !d.LastUsed.IsZero() {
		t.Fatalf("enrolled device: %+v %v", d, err)
	}
	s.EnrolPushDevice(ctx, []byte("tok2"), store.PushDevice{ID: "bobs", Name: "Bob's", PublicKey: []byte{4}}, now)
	req := func(id, user string) store.PushRequest {
		return store.PushRequest{ID: id, ChallengeID: "c-" + id, Username: user, Created: now, Expires: now.Add(2 * time.Minute)}
	}
	for _, r := range []store.PushRequest{req("r1", "alice"), req("r2", "alice"), req("r3", "alice"), req("r4", "bob")} {
		if err := s.PutPushRequest(ctx, r, 5); err != nil {
			t.Fatal(err)
		}
	}
	lastUsed := func(id string) time.Time {
		t.Helper()
		d, err := s.PushDevice(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.LastUsed
	}
	// Denying is not using.
	s.SetPushState(ctx, "r1", "alice", store.PushPending, store.PushDenied, "", "d1", now)
	if !lastUsed("d1").IsZero() {
		t.Fatalf("a denial marked the device used at %v", lastUsed("d1"))
	}
	// An approval that loses (the request is no longer pending) marks nothing.
	s.SetPushState(ctx, "r1", "alice", store.PushPending, store.PushApproved, "", "d1", now)
	if !lastUsed("d1").IsZero() {
		t.Fatal("a refused approval marked the device used")
	}
	// Alice's request cannot mark Bob's device as used.
	s.SetPushState(ctx, "r2", "alice", store.PushPending, store.PushApproved, "", "bobs", now)
	if !lastUsed("bobs").IsZero() {
		t.Fatal("alice's request marked bob's device used")
	}
	at := now.Add(time.Second)
	if ok, err := s.SetPushState(ctx, "r3", "alice", store.PushPending, store.PushApproved, "", "d1", at); !ok || err != nil {
		t.Fatalf("approve: %v %v", ok, err)
	}
	if got := lastUsed("d1"); !got.Equal(at) {
		t.Fatalf("device last used at %v, want %v", got, at)
	}
	if devs, _ := s.PushDevices(ctx, "alice"); len(devs) != 1 || !devs[0].LastUsed.Equal(at) {
		t.Fatalf("devices: %+v", devs)
	}
	// Using the approval up is not another use of the device.
	s.SetPushState(ctx, "r3", "alice", store.PushApproved, store.PushUsed, "", "", at.Add(time.Minute))
	if got := lastUsed("d1"); !got.Equal(at) {
		t.Fatalf("after use: last used at %v, want %v", got, at)
	}
}

// enrol enrols a device named id for user with a fresh token that is not
// for a first method.
func enrol(t *testing.T, s store.Store, user, id string, now time.Time) error {
	t.Helper()
	tok := []byte("tok-" + id)
	if err := s.PutPushEnrolment(context.Background(), tok, "ch-"+id, user, now.Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.EnrolPushDevice(context.Background(), tok, store.PushDevice{ID: id, Name: id, PublicKey: []byte{4}}, now)
	return err
}

func testCredentials(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	t1 := time.UnixMilli(1_700_000_000_000)
	t2 := t1.Add(time.Hour)
	for _, c := range []store.Credential{
		{ID: "k2", Username: "alice", Method: "test", Name: "Second", Data: []byte("two"), Created: t2},
		{ID: "k1", Username: "alice", Method: "test", Name: "First", Data: []byte("one"), Created: t1},
		{ID: "p1", Username: "alice", Method: "passkey", Name: "Laptop", Data: []byte("pk"), Created: t1},
		{ID: "b1", Username: "bob", Method: "test", Name: "Bob's", Data: []byte("bob"), Created: t1},
	} {
		if err := s.AddCredential(ctx, c, false); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Credentials(ctx, "alice", "test")
	want := []store.Credential{
		{ID: "k1", Username: "alice", Method: "test", Name: "First", Data: []byte("one"), Created: t1},
		{ID: "k2", Username: "alice", Method: "test", Name: "Second", Data: []byte("two"), Created: t2},
	}
	if err != nil || len(got) != 2 || !sameCredential(got[0], want[0]) || !sameCredential(got[1], want[1]) {
		t.Fatalf("alice's test credentials, oldest first: %+v %v", got, err)
	}
	if all, _ := s.Credentials(ctx, "alice", ""); len(all) != 3 {
		t.Fatalf("all of alice's credentials: %+v", all)
	}
	if none, _ := s.Credentials(ctx, "carol", ""); len(none) != 0 {
		t.Fatalf("carol's credentials: %+v", none)
	}

	// An ID already stored is refused, not taken over.
	if err := s.AddCredential(ctx, store.Credential{ID: "k1", Username: "bob", Method: "test", Data: []byte("mine")}, false); err == nil {
		t.Fatal("bob stored a credential under alice's credential ID")
	}
	if err := s.AddCredential(ctx, store.Credential{Username: "bob", Method: "test"}, false); err == nil {
		t.Fatal("stored a credential without an ID")
	}
	// A zero Created is stored as now.
	before := time.Now().Truncate(time.Millisecond)
	s.AddCredential(ctx, store.Credential{ID: "b2", Username: "bob", Method: "other"}, false)
	if got, _ := s.Credentials(ctx, "bob", "other"); len(got) != 1 || got[0].Created.Before(before) || got[0].Created.After(time.Now()) {
		t.Fatalf("credential added without a time: %+v", got)
	}

	// Renaming and touching reach only the user's own credentials.
	if err := s.RenameCredential(ctx, "alice", "k1", "Yubikey"); err != nil {
		t.Fatal(err)
	}
	used := t2.Add(time.Minute)
	if err := s.TouchCredential(ctx, "alice", "k1", used, nil); err != nil {
		t.Fatal(err)
	}
	want[0].Name, want[0].LastUsed = "Yubikey", used
	if got, _ := s.Credentials(ctx, "alice", "test"); !sameCredential(got[0], want[0]) {
		t.Fatalf("after rename and a touch without data: %+v", got[0])
	}
	if err := s.TouchCredential(ctx, "alice", "k1", used.Add(time.Minute), []byte("counter 2")); err != nil {
		t.Fatal(err)
	}
	want[0].LastUsed, want[0].Data = used.Add(time.Minute), []byte("counter 2")
	if got, _ := s.Credentials(ctx, "alice", "test"); !sameCredential(got[0], want[0]) {
		t.Fatalf("after a touch with data: %+v", got[0])
	}
	for name, err := range map[string]error{
		"bob renames alice's":  s.RenameCredential(ctx, "bob", "k1", "mine"),
		"bob touches alice's":  s.TouchCredential(ctx, "bob", "k1", used, []byte("forged")),
		"rename a missing one": s.RenameCredential(ctx, "alice", "missing", "x"),
		"touch a missing one":  s.TouchCredential(ctx, "alice", "missing", used, nil),
		"alice renames bob's":  s.RenameCredential(ctx, "alice", "b1", "mine"),
		"alice touches bob's":  s.TouchCredential(ctx, "alice", "b1", used, nil),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if got, _ := s.Credentials(ctx, "alice", "test"); !sameCredential(got[0], want[0]) {
		t.Fatalf("another user changed alice's credential: %+v", got[0])
	}
	if got, _ := s.Credentials(ctx, "bob", "test"); len(got) != 1 || got[0].Name != "Bob's" || !got[0].LastUsed.IsZero() {
		t.Fatalf("alice changed bob's credential: %+v", got)
	}
}

func sameCredential(a, b store.Credential) bool {
	return a.ID == b.ID && a.Username == b.Username && a.Method == b.Method && a.Name == b.Name &&
		bytes.Equal(a.Data, b.Data) && a.Created.Equal(b.Created) && a.LastUsed.Equal(b.LastUsed)
}

// TestSetPhoneEndsCallsToTheOldNumber: changing a user's number (Security
// info's "Change number") or removing it through SetPhone fails the calls
// still ringing on the old one, as RemoveMethod does, so a press-# answer
// there cannot approve a sign-in; the same number again, the first number
// and other users' calls leave calls alone.
func testSetPhoneEndsCallsToTheOldNumber(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.Now()
	set := func(user, phone string) {
		t.Helper()
		if err := s.SetPhone(ctx, user, phone); err != nil {
			t.Fatal(err)
		}
	}
	call := func(id, user string) {
		t.Helper()
		if err := s.PutCall(ctx, id, user, now.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	want := func(id, user, state, detail string) {
		t.Helper()
		got, gotDetail, err := s.CallState(ctx, id, user, now)
		if err != nil || got != state || gotDetail != detail {
			t.Fatalf("call %s: %s %q (%v), want %s %q", id, got, gotDetail, err, state, detail)
		}
	}

	// A user's first number: no call of theirs is to another number.
	call("first", "bob")
	set("bob", "+14155552671")
	want("first", "bob", store.CallPending, "")
	// The same number stored again (verified again) is no change.
	set("bob", "+14155552671")
	want("first", "bob", store.CallPending, "")

	call("alice-call", "alice")
	set("bob", "+14155550199")
	want("first", "bob", store.CallFailed, "phone changed")
	if ok, err := s.SetCallState(ctx, "first", store.CallPending, store.CallApproved, "", now); ok || err != nil {
		t.Fatalf("a call ringing on the old number approved a sign-in after the number was changed: %v %v", ok, err)
	}
	want("alice-call", "alice", store.CallPending, "")

	// A call to the new number is not touched by the change before it.
	call("new", "bob")
	if ok, err := s.SetCallState(ctx, "new", store.CallPending, store.CallApproved, "", now); !ok || err != nil {
		t.Fatalf("a call to the new number: %v %v", ok, err)
	}

	call("last", "bob")
	set("bob", "")
	want("last", "bob", store.CallFailed, "phone removed")
	want("alice-call", "alice", store.CallPending, "")
}

func testSetDefaultMethod(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	if err := s.SetDefaultMethod(ctx, "alice", "sms"); err != nil {
		t.Fatal(err)
	}
	if info, err := s.SecurityInfo(ctx, "alice"); err != nil || info.DefaultMethod != "sms" {
		t.Fatalf("default for a user without a record: %+v %v", info, err)
	}
	s.SetTOTP(ctx, "alice", []byte("sealed"), 3)
	if err := s.SetDefaultMethod(ctx, "alice", "totp"); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.SecurityInfo(ctx, "alice"); info.DefaultMethod != "totp" || string(info.TOTPSecret) != "sealed" || info.TOTPLastStep != 3 {
		t.Fatalf("default for a user with a record: %+v", info)
	}
	if info, err := s.SecurityInfo(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob: %+v %v", info, err)
	}
}

// TestResetMethods: a reset removes every kind of method with the side
// effects of removing each one, counts what it removed, and leaves other
// users alone.
func testResetMethods(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.Unix(1_700_000_000, 0)
	count := func(user string, want int) {
		t.Helper()
		if n, err := s.MethodCount(ctx, user); n != want || err != nil {
			t.Fatalf("%s has %d methods (%v), want %d", user, n, err, want)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Each of alice and bob has every kind of method, a default, a call
	// ringing, a pending and an approved request, and an unused set-up
	// link for a first method.
	for _, user := range []string{"alice", "bob"} {
		must(s.SetTOTP(ctx, user, []byte("sealed-"+user), 50))
		must(s.SetPhone(ctx, user, "+14155552671"))
		must(enrol(t, s, user, user+"-d1", now))
		must(enrol(t, s, user, user+"-d2", now))
		must(s.AddCredential(ctx, store.Credential{ID: user + "-k1", Username: user, Method: "test"}, false))
		must(s.AddCredential(ctx, store.Credential{ID: user + "-k2", Username: user, Method: "test"}, false))
		must(s.SetDefaultMethod(ctx, user, "push"))
		must(s.PutCall(ctx, "call-"+user, user, now.Add(time.Hour)))
		for _, id := range []string{"pending-" + user, "approved-" + user} {
			must(s.PutPushRequest(ctx, store.PushRequest{ID: id, ChallengeID: "c-" + id, Username: user,
				Created: now, Expires: now.Add(2 * time.Minute)}, 5))
		}
		if ok, err := s.SetPushState(ctx, "approved-"+user, user, store.PushPending, store.PushApproved, "", user+"-d1", now); !ok || err != nil {
			t.Fatalf("approving %s's request: %v %v", user, ok, err)
		}
		must(s.PutPushEnrolment(ctx, []byte("link-"+user), "ch-link-"+user, user, now.Add(time.Hour), true))
		count(user, 6)
	}

	n, err := s.ResetMethods(ctx, "alice", false, now)
	if err != nil || n != 6 {
		t.Fatalf("resetting alice: %d %v, want 6", n, err)
	}
	count("alice", 0)
	info, err := s.SecurityInfo(ctx, "alice")
	if err != nil || info.TOTPSecret != nil || !info.TOTPAdded.IsZero() || info.Phone != "" || !info.PhoneAdded.IsZero() ||
		info.DefaultMethod != "" {
		t.Fatalf("alice after the reset: %+v %v", info, err)
	}
	// The last used time step stays, so a code already used stays used.
	if info.TOTPLastStep != 50 {
		t.Fatalf("alice's last step after the reset: %d, want 50", info.TOTPLastStep)
	}
	if d, err := s.PushDevices(ctx, "alice"); len(d) != 0 || err != nil {
		t.Fatalf("alice's devices after the reset: %+v %v", d, err)
	}
	if c, err := s.Credentials(ctx, "alice", ""); len(c) != 0 || err != nil {
		t.Fatalf("alice's credentials after the reset: %+v %v", c, err)
	}
	if state, detail, _ := s.CallState(ctx, "call-alice", "alice", now); state != store.CallFailed || detail != "phone removed" {
		t.Fatalf("alice's call after the reset: %s %q", state, detail)
	}
	if ok, _ := s.SetCallState(ctx, "call-alice", store.CallPending, store.CallApproved, "", now); ok {
		t.Fatal("a call to the reset phone approved a sign-in")
	}
	if r, _ := s.LatestPushRequest(ctx, "c-pending-alice", "alice", now); r.State != store.PushExpired {
		t.Fatalf("alice's pending request after the reset: %s", r.State)
	}
	if ok, _ := s.SetPushState(ctx, "pending-alice", "alice", store.PushPending, store.PushApproved, "", "alice-d1", now); ok {
		t.Fatal("a request of a reset user was approved")
	}
	if r, _ := s.LatestPushRequest(ctx, "c-approved-alice", "alice", now); r.State != store.PushApproved {
		t.Fatalf("an approval given before the reset: %s", r.State)
	}
	// The set-up link issued before the reset no longer enrols a device,
	// though alice now has no method a first-method link would clash with.
	if _, _, err := s.EnrolPushDevice(ctx, []byte("link-alice"), store.PushDevice{ID: "late", PublicKey: []byte{4}}, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a set-up link from before the reset: %v", err)
	}
	count("alice", 0)

	// Bob keeps everything.
	count("bob", 6)
	if info, _ := s.SecurityInfo(ctx, "bob"); info.TOTPSecret == nil || info.Phone == "" || info.DefaultMethod != "push" {
		t.Fatalf("bob after alice's reset: %+v", info)
	}
	if state, _, _ := s.CallState(ctx, "call-bob", "bob", now); state != store.CallPending {
		t.Fatalf("bob's call: %s", state)
	}
	if r, _ := s.LatestPushRequest(ctx, "c-pending-bob", "bob", now); r.State != store.PushPending {
		t.Fatalf("bob's request: %s", r.State)
	}
	if _, _, err := s.EnrolPushDevice(ctx, []byte("link-bob"), store.PushDevice{ID: "bob-d3", PublicKey: []byte{4}}, now); !errors.Is(err, store.ErrAlreadySetUp) {
		t.Fatalf("bob's set-up link: %v, want it kept (and refused as bob has methods)", err)
	}

	// Resetting again removes nothing; so does resetting a user who has
	// never had a method.
	for _, user := range []string{"alice", "carol"} {
		if n, err := s.ResetMethods(ctx, user, false, now); n != 0 || err != nil {
			t.Fatalf("resetting %s with no methods: %d %v", user, n, err)
		}
	}
	// One kind at a time is counted too.
	must(s.SetPhone(ctx, "dave", "+14155552671"))
	if n, err := s.ResetMethods(ctx, "dave", false, now); n != 1 || err != nil {
		t.Fatalf("resetting dave's phone: %d %v, want 1", n, err)
	}
	count("dave", 0)
}

// testTakeSendConcurrentExact: 20 sends at once, over two instances of a
// store, against a limit of 5 (and a wider one of 8) record exactly 5: each limit is checked and taken in
// one step, however the backend runs concurrent transactions.
func testTakeSendConcurrentExact(t *testing.T, be Backend) {
	s, other := be.OpenTwo(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	limits := []store.Limit{{Key: "user:alice", Max: 5, Window: time.Hour}, {Key: "ip:192.0.2.1", Max: 8, Window: time.Hour}}
	var turn atomic.Int32
	sent := concurrentWins(t, func() (bool, error) {
		// Spread over two instances of the store.
		st := s
		if turn.Add(1)%2 == 0 {
			st = other
		}
		blocked, _, err := st.TakeSend(ctx, limits, now)
		return blocked == nil && err == nil, err
	})
	if sent != 5 {
		t.Fatalf("%d of 20 concurrent sends taken against a limit of 5", sent)
	}
	// The wider limit recorded the same 5: three more fit for someone else.
	bobs := []store.Limit{{Key: "user:bob", Max: 5, Window: time.Hour}, {Key: "ip:192.0.2.1", Max: 8, Window: time.Hour}}
	if sent = concurrentWins(t, func() (bool, error) {
		blocked, _, err := other.TakeSend(ctx, bobs, now)
		return blocked == nil && err == nil, err
	}); sent != 3 {
		t.Fatalf("%d sends for bob taken where the shared limit had 3 left", sent)
	}
}

// testTakeAttemptConcurrentExact: 20 attempts on one account at once,
// spread over two instances of the store, against a back-off that makes
// the sixth wait: exactly 5 are taken (each one a guess checked), and the
// counter says 5.
func testTakeAttemptConcurrentExact(t *testing.T, be Backend) {
	s, other := be.OpenTwo(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	var turn atomic.Int32
	taken := concurrentWins(t, func() (bool, error) {
		st := s
		if turn.Add(1)%2 == 0 {
			st = other
		}
		a, err := st.TakeAttempt(ctx, "alice", "password", now, testBackoff)
		return a.Taken && err == nil, err
	})
	if taken != 5 {
		t.Fatalf("%d of 20 concurrent attempts taken where the back-off allows 5", taken)
	}
	if f, err := s.Failures(ctx, "alice", "password"); err != nil || f.Count != 5 {
		t.Fatalf("failures after the race: %+v, %v", f, err)
	}
}

// testPutPushRequestConcurrentBounded: 20 requests for different sign-ins
// of one user at once, at most 3 pending: exactly 3 are stored, the
// others refused with ErrTooManyPending.
func testPutPushRequestConcurrentBounded(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	var n atomic.Int32
	stored := concurrentWins(t, func() (bool, error) {
		i := n.Add(1)
		err := s.PutPushRequest(ctx, store.PushRequest{ID: fmt.Sprint("r", i), ChallengeID: fmt.Sprint("c", i), Username: "alice", Number: 42,
			Created: now, Expires: now.Add(2 * time.Minute)}, 3)
		if errors.Is(err, store.ErrTooManyPending) {
			return false, nil
		}
		return err == nil, err
	})
	if stored != 3 {
		t.Fatalf("%d of 20 concurrent requests stored, at most 3 pending", stored)
	}
	if pending, err := s.PendingPushRequests(ctx, "alice", now); err != nil || len(pending) != 3 {
		t.Fatalf("pending: %d, %v", len(pending), err)
	}
}

// TestAccessPassConcurrentExactlyOne: of 20 uses of one single-use pass
// at once, through two handles on one file as two processes would have,
// exactly one succeeds.
func testAccessPassConcurrentExactlyOne(t *testing.T, be Backend) {
	ctx := context.Background()
	a, b := be.OpenTwo(t)
	now := time.UnixMilli(1_700_000_000_000)
	putPass(t, a, "alice", "h1", now, false)
	var i atomic.Int32
	if wins := concurrentWins(t, func() (bool, error) {
		s := [2]store.Store{a, b}[i.Add(1)%2]
		_, err := s.UseAccessPass(ctx, "alice", []byte("h1"), now)
		if errors.Is(err, store.ErrNoAccessPass) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d concurrent uses of a single-use pass succeeded, want exactly 1", wins)
	}
}

// TestDeviceLimit: a user has at most MaxPushDevices devices; a refused
// enrolment stores nothing and leaves its token usable once there is
// room; racing enrolments cannot overshoot.
func testDeviceLimit(t *testing.T, be Backend) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s := be.Open(t)
	for i := range store.MaxPushDevices {
		if err := enrol(t, s, "alice", fmt.Sprint("d", i), now); err != nil {
			t.Fatalf("device %d: %v", i+1, err)
		}
	}
	if err := enrol(t, s, "alice", "extra", now); !errors.Is(err, store.ErrTooManyDevices) {
		t.Fatalf("device %d: %v, want ErrTooManyDevices", store.MaxPushDevices+1, err)
	}
	if _, err := s.PushDevice(ctx, "extra"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused device was stored: %v", err)
	}
	if devs, _ := s.PushDevices(ctx, "alice"); len(devs) != store.MaxPushDevices {
		t.Fatalf("alice has %d devices", len(devs))
	}
	// The limit is per user.
	if err := enrol(t, s, "bob", "bobs", now); err != nil {
		t.Fatalf("bob's device: %v", err)
	}
	// The refused token was not used up: with room made, it enrols.
	if err := s.DeletePushDevice(ctx, "alice", "d0"); err != nil {
		t.Fatal(err)
	}
	if d, ch, err := s.EnrolPushDevice(ctx, []byte("tok-extra"), store.PushDevice{ID: "extra", Name: "extra", PublicKey: []byte{4}}, now); err != nil || ch != "ch-extra" || d.Username != "alice" {
		t.Fatalf("the refused token after removing a device: %+v %q %v", d, ch, err)
	}

	// Racing enrolments with different tokens, through two handles on
	// one file, fill the last place once.
	a, b := be.OpenTwo(t)
	for i := range store.MaxPushDevices - 1 {
		if err := enrol(t, a, "carol", fmt.Sprint("c", i), now); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		a.PutPushEnrolment(ctx, []byte(fmt.Sprint("race", i)), "ch-race", "carol", now.Add(time.Minute), false)
	}
	var next atomic.Int32
	if wins := concurrentWins(t, func() (bool, error) {
		i := next.Add(1) - 1
		s := []store.Store{a, b}[i%2]
		_, _, err := s.EnrolPushDevice(ctx, []byte(fmt.Sprint("race", i)), store.PushDevice{ID: fmt.Sprint("r", i), Name: "r", PublicKey: []byte{4}}, now)
		if errors.Is(err, store.ErrTooManyDevices) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d racing enrolments filled carol's last place", wins)
	}
	if devs, _ := b.PushDevices(ctx, "carol"); len(devs) != store.MaxPushDevices {
		t.Fatalf("carol has %d devices", len(devs))
	}
}

// TestRemoveMethodKeepsOneConcurrently: of many removals racing (through
// two handles on one file) with keepOne, only as many succeed as leave
// the user one method.
func testRemoveMethodKeepsOneConcurrently(t *testing.T, be Backend) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	for _, methods := range [][]store.MethodRef{
		{{Kind: store.KindTOTP}, {Kind: store.KindPushDevice, ID: "d1"}},
		{{Kind: store.KindPushDevice, ID: "d1"}, {Kind: store.KindPushDevice, ID: "d2"}},
		{{Kind: store.KindPhone}, {Kind: store.KindCredential, ID: "k1"}, {Kind: store.KindTOTP}},
	} {
		t.Run(fmt.Sprint(methods), func(t *testing.T) {
			t.Parallel()
			a, b := be.OpenTwo(t)
			for _, m := range methods {
				var err error
				switch m.Kind {
				case store.KindTOTP:
					err = a.SetTOTP(ctx, "alice", []byte("sealed"), 1)
				case store.KindPhone:
					err = a.SetPhone(ctx, "alice", "+14155552671")
				case store.KindPushDevice:
					err = enrol(t, a, "alice", m.ID, now)
				case store.KindCredential:
					err = a.AddCredential(ctx, store.Credential{ID: m.ID, Username: "alice", Method: "test"}, false)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			var next atomic.Int32
			wins := concurrentWins(t, func() (bool, error) {
				i := int(next.Add(1) - 1)
				err := []store.Store{a, b}[i%2].RemoveMethod(ctx, "alice", methods[i%len(methods)], true)
				if errors.Is(err, store.ErrLastMethod) || errors.Is(err, store.ErrNotFound) {
					return false, nil
				}
				return err == nil, err
			})
			if wins != len(methods)-1 {
				t.Fatalf("%d removals of %d methods succeeded, want %d", wins, len(methods), len(methods)-1)
			}
			if n, err := b.MethodCount(ctx, "alice"); n != 1 || err != nil {
				t.Fatalf("alice is left with %d methods (%v), want 1", n, err)
			}
		})
	}
}

func testRememberedDevices(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.UnixMilli(1_700_000_000_000)
	dev := func(id, user string, created time.Time, life time.Duration) store.RememberedDevice {
		return store.RememberedDevice{ID: id, Username: user, Name: "Firefox on Linux", Created: created, Expires: created.Add(life)}
	}
	for _, d := range []store.RememberedDevice{
		dev("a1", "alice", now, time.Hour),
		dev("a2", "alice", now.Add(time.Minute), time.Hour),
		dev("a-old", "alice", now.Add(-2*time.Hour), time.Hour), // expired at now
		dev("b1", "bob", now, time.Hour),
	} {
		if _, err := s.RememberDevice(ctx, d, 3); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RememberedDevice(ctx, "alice", "a1", now)
	if err != nil || got.Name != "Firefox on Linux" || !got.Created.Equal(now) || !got.Expires.Equal(now.Add(time.Hour)) || !got.LastUsed.IsZero() {
		t.Fatalf("alice's a1: %+v %v", got, err)
	}
	// Another user's device, an expired one and one at its expiry are not found.
	for _, c := range []struct {
		user, id string
		at       time.Time
	}{{"alice", "b1", now}, {"bob", "a1", now}, {"alice", "a-old", now}, {"alice", "a1", now.Add(time.Hour)}, {"alice", "none", now}} {
		if _, err := s.RememberedDevice(ctx, c.user, c.id, c.at); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s's %s at %v: %v, want ErrNotFound", c.user, c.id, c.at, err)
		}
	}
	list, err := s.RememberedDevices(ctx, "alice", now)
	if err != nil || len(list) != 2 || list[0].ID != "a2" || list[1].ID != "a1" {
		t.Fatalf("alice's devices, newest first, expired left out: %+v %v", list, err)
	}
	// An ID already stored is refused for another user, not taken over,
	// and changes nothing for its own.
	if _, err := s.RememberDevice(ctx, dev("a1", "bob", now, time.Hour), 3); err == nil {
		t.Fatal("bob took over alice's device ID")
	}
	if created, err := s.RememberDevice(ctx, dev("a1", "alice", now.Add(time.Minute), 2*time.Hour), 3); created || err != nil {
		t.Fatalf("alice's a1 again: %v %v, want no change", created, err)
	}
	if got, _ := s.RememberedDevice(ctx, "alice", "a1", now); !got.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("alice's a1 changed: %+v", got)
	}
	if err := s.TouchRememberedDevice(ctx, "bob", "a1", now); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchRememberedDevice(ctx, "alice", "a1", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RememberedDevice(ctx, "alice", "a1", now); !got.LastUsed.Equal(now.Add(time.Second)) {
		t.Fatalf("last used: %v (bob's touch must not count)", got.LastUsed)
	}
	// The limit forgets the oldest: a third and fourth leave the newest three.
	for i, at := range []time.Duration{2 * time.Minute, 3 * time.Minute} {
		if _, err := s.RememberDevice(ctx, dev(fmt.Sprint("n", i), "alice", now.Add(at), time.Hour), 3); err != nil {
			t.Fatal(err)
		}
	}
	list, _ = s.RememberedDevices(ctx, "alice", now)
	if len(list) != 3 || list[0].ID != "n1" || list[1].ID != "n0" || list[2].ID != "a2" {
		t.Fatalf("after the limit: %+v", list)
	}
	if ok, err := s.ForgetDevice(ctx, "bob", "a2"); ok || err != nil {
		t.Fatalf("bob forgot alice's device: %v %v", ok, err)
	}
	if ok, err := s.ForgetDevice(ctx, "alice", "a2"); !ok || err != nil {
		t.Fatalf("forgetting a2: %v %v", ok, err)
	}
	if _, err := s.RememberedDevice(ctx, "alice", "a2", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a forgotten device: %v", err)
	}
	if n, err := s.ForgetDevices(ctx, "alice"); n != 2 || err != nil {
		t.Fatalf("forgetting all of alice's: %d %v", n, err)
	}
	if _, err := s.RememberedDevice(ctx, "bob", "b1", now); err != nil {
		t.Fatalf("bob's device went with alice's: %v", err)
	}
	// Prune drops expired devices only.
	if _, err := s.RememberDevice(ctx, dev("b-old", "bob", now.Add(-2*time.Hour), time.Hour), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(ctx, now); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.RememberedDevices(ctx, "bob", now.Add(-90*time.Minute)); len(list) != 1 || list[0].ID != "b1" {
		t.Fatalf("after pruning: %+v", list)
	}
}

// testRememberDeviceConcurrentBounded remembers 20 devices of one user at
// once, through two instances: the limit holds. One ID remembered 20
// times at once is created once.
func testRememberDeviceConcurrentBounded(t *testing.T, be Backend) {
	ctx := context.Background()
	a, b := be.OpenTwo(t)
	now := time.UnixMilli(1_700_000_000_000)
	// twenty remembers d(i) through a and b in turn, all at once, and
	// counts the devices created.
	twenty := func(d func(i int) store.RememberedDevice) int32 {
		var wg sync.WaitGroup
		var created atomic.Int32
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				ok, err := s.RememberDevice(ctx, d(i), 5)
				if err != nil {
					t.Error(err)
				}
				if ok {
					created.Add(1)
				}
			}()
		}
		wg.Wait()
		return created.Load()
	}
	twenty(func(i int) store.RememberedDevice {
		return store.RememberedDevice{ID: fmt.Sprint("d", i), Username: "alice", Created: now.Add(time.Duration(i) * time.Millisecond), Expires: now.Add(time.Hour)}
	})
	if list, err := a.RememberedDevices(ctx, "alice", now); err != nil || len(list) != 5 {
		t.Fatalf("%d devices kept, want 5: %v", len(list), err)
	}
	if n := twenty(func(int) store.RememberedDevice {
		return store.RememberedDevice{ID: "same", Username: "bob", Created: now, Expires: now.Add(time.Hour)}
	}); n != 1 {
		t.Fatalf("the same device created %d times", n)
	}
}
