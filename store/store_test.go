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
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UseTOTPStep(ctx, "bob", 42)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent uses of one step won, want exactly 1", wins.Load())
	}
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
