package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openTest(t *testing.T) *SQLite {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSecurityInfoAndTOTPSteps(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.SecurityInfo(ctx, "alice"); !errors.Is(err, ErrNotFound) {
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

func TestUseTOTPStepConcurrentExactlyOne(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
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

func TestDatabaseFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
}

func TestFailuresPersistAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	for i := 1; i <= 3; i++ {
		f, err := s.AddFailure(ctx, "alice", "password", now)
		if err != nil || f.Count != i {
			t.Fatalf("AddFailure #%d = %+v, %v", i, f, err)
		}
	}
	s.Close()
	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := s.Failures(ctx, "alice", "password")
	if err != nil || f.Count != 3 || !f.Last.Equal(now) {
		t.Fatalf("after reopen: %+v, %v", f, err)
	}
	if f, _ := s.Failures(ctx, "alice", "totp"); f.Count != 0 {
		t.Fatalf("other method shares the counter: %+v", f)
	}
	if err := s.ResetFailures(ctx, "alice", "password"); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Failures(ctx, "alice", "password"); f.Count != 0 {
		t.Fatalf("after reset: %+v", f)
	}
	s.AddFailure(ctx, "alice", "password", now)
	s.AddFailure(ctx, "alice", "totp", now)
	s.AddFailure(ctx, "bob", "totp", now)
	if n, err := s.UnlockUser(ctx, "alice"); n != 2 || err != nil {
		t.Fatalf("UnlockUser = %d, %v", n, err)
	}
	if f, _ := s.Failures(ctx, "bob", "totp"); f.Count != 1 {
		t.Fatal("unlocking alice unlocked bob")
	}
}

func TestRevocations(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Now()
	r1, err := s.Revoke(ctx, Revocation{SessionID: "s1", Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, Revocation{SessionID: "old", Expires: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	r3, err := s.Revoke(ctx, Revocation{Username: "alice", NotBefore: now, Expires: now.Add(time.Hour)})
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

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenSQLite(path); err == nil {
		t.Fatal("opened a database with a newer schema")
	}
}

func TestSealer(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, _ := NewSealer(k1)
	sealed, err := old.Seal("alice", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed value contains the plaintext")
	}
	rotated, _ := NewSealer(k2, k1)
	if pt, err := rotated.Open("alice", sealed); err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open after rotation: %q, %v", pt, err)
	}
	if _, err := rotated.Open("bob", sealed); err == nil {
		t.Fatal("secret sealed for alice opened for bob")
	}
	other, _ := NewSealer(k2)
	if _, err := other.Open("alice", sealed); err == nil {
		t.Fatal("opened with the wrong key")
	}
	if _, err := other.Open("alice", []byte("short")); err == nil {
		t.Fatal("opened garbage")
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("accepted a short key")
	}
}

func TestPhone(t *testing.T) {
	s := openTest(t)
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

func TestCodes(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	put := func(id string, hash string) {
		t.Helper()
		if err := s.PutCode(ctx, Code{ChallengeID: id, Username: "alice", Method: "sms", Hash: []byte(hash), Expires: now.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	use := func(id, user, method, hash string, at time.Time) CodeResult {
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
		want                   CodeResult
	}{
		"other user's challenge": {"c1", "mallory", "sms", "right", now, CodeGone},
		"other method":           {"c1", "alice", "voice", "right", now, CodeGone},
		"unknown challenge":      {"c9", "alice", "sms", "right", now, CodeGone},
		"expired":                {"c1", "alice", "sms", "right", now.Add(10 * time.Minute), CodeGone},
	} {
		if got := use(tc.id, tc.user, tc.method, tc.hash, tc.at); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if use("c1", "alice", "sms", "right", now) != CodeAccepted {
		t.Fatal("right code refused")
	}
	if use("c1", "alice", "sms", "right", now) != CodeGone {
		t.Fatal("code accepted twice")
	}
	// Five wrong tries use the code up, even for the right code after.
	put("c2", "right")
	for i := range 5 {
		if got := use("c2", "alice", "sms", "wrong", now); got != CodeWrong {
			t.Fatalf("wrong try %d: %v", i+1, got)
		}
	}
	if use("c2", "alice", "sms", "right", now) != CodeGone {
		t.Fatal("right code accepted after five wrong tries")
	}
	// A new code for the challenge replaces the old one and its tries.
	put("c2", "newer")
	if use("c2", "alice", "sms", "right", now) != CodeWrong || use("c2", "alice", "sms", "newer", now) != CodeAccepted {
		t.Fatal("resent code")
	}
}

func TestUseCodeConcurrentExactlyOne(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s.PutCode(ctx, Code{ChallengeID: "c", Username: "alice", Method: "sms", Hash: []byte("h"), Expires: now.Add(time.Minute)})
	wins := concurrentWins(t, func() (bool, error) {
		r, err := s.UseCode(ctx, "c", "alice", "sms", []byte("h"), now, 5)
		return r == CodeAccepted, err
	})
	if wins != 1 {
		t.Fatalf("%d winners, want exactly 1", wins)
	}
}

func TestTakeSend(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	limits := func(user string) []Limit {
		return []Limit{{Key: "cooldown:" + user, Max: 1, Window: 30 * time.Second}, {Key: "user:" + user, Max: 3, Window: time.Hour}, {Key: "global", Max: 3, Window: time.Minute}}
	}
	take := func(user string, at time.Time) (*Limit, time.Time) {
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

func TestCalls(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	if err := s.PutCall(ctx, "c1", "alice", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if st, _, err := s.CallState(ctx, "c1", "mallory", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user's call: %q %v", st, err)
	}
	if st, _, _ := s.CallState(ctx, "c1", "alice", now); st != CallPending {
		t.Fatalf("new call: %q", st)
	}
	// Approve once; a replayed callback changes nothing.
	if ok, _ := s.SetCallState(ctx, "c1", CallPending, CallApproved, "", now); !ok {
		t.Fatal("approval refused")
	}
	if ok, _ := s.SetCallState(ctx, "c1", CallPending, CallFraud, "", now); ok {
		t.Fatal("a finished call changed state")
	}
	// The approval completes one sign-in only.
	if wins := concurrentWins(t, func() (bool, error) { return s.SetCallState(ctx, "c1", CallApproved, CallUsed, "", now) }); wins != 1 {
		t.Fatalf("%d sign-ins from one approval", wins)
	}
	// An unanswered call expires.
	s.PutCall(ctx, "c2", "alice", now.Add(time.Minute))
	if st, detail, _ := s.CallState(ctx, "c2", "alice", now.Add(time.Minute)); st != CallFailed || detail != "expired" {
		t.Fatalf("expired call: %q %q", st, detail)
	}
	if ok, _ := s.SetCallState(ctx, "c2", CallPending, CallApproved, "", now.Add(time.Minute)); ok {
		t.Fatal("an expired call was approved")
	}
}

// testBackoff lets 5 attempts through, then one a minute, and locks at 8.
func testBackoff(f Failures, now time.Time) (time.Duration, bool) {
	switch {
	case f.Count >= 8:
		return 0, true
	case f.Count >= 5:
		return max(0, f.Last.Add(time.Minute).Sub(now)), false
	}
	return 0, false
}

func TestTakeAttempt(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
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

// TestTakeAttemptConcurrent: 300 attempts at once on one account, through
// eight handles on the same database file (as from several Caddy
// instances on one host), take exactly as many as the back-off allows.
func TestTakeAttemptConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	var handles [8]*SQLite
	for i := range handles {
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		handles[i] = s
	}
	now := time.Now()
	var taken, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := handles[i%len(handles)].TakeAttempt(ctx, "alice", "code", now, testBackoff)
			if err != nil {
				t.Error(err)
				return
			}
			if a.Taken {
				taken.Add(1)
			} else {
				refused.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if taken.Load() != 5 || refused.Load() != 295 {
		t.Fatalf("300 concurrent attempts: %d taken, %d refused; want 5 and 295", taken.Load(), refused.Load())
	}
	if f, _ := handles[0].Failures(ctx, "alice", "code"); f.Count != 5 {
		t.Fatalf("counter after the burst = %d, want 5", f.Count)
	}
}
