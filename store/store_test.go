package store

import (
	"bytes"
	"context"
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
