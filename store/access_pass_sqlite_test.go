package store

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// putPass stores a pass for user with hash, issued at now and expiring an
// hour later.
func putPass(t *testing.T, s *SQLite, user, hash string, now time.Time, reusable bool) {
	t.Helper()
	if err := s.PutAccessPass(context.Background(), AccessPass{
		Username: user, Hash: []byte(hash), Created: now, Expires: now.Add(time.Hour), Reusable: reusable,
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAccessPass: a single-use pass works once, with its hash, while it
// has not expired; a new pass replaces the old one and its use; another
// user's pass is not this user's.
func TestAccessPass(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.UnixMilli(1_700_000_000_000)
	use := func(user, hash string, at time.Time) (AccessPass, error) {
		return s.UseAccessPass(ctx, user, []byte(hash), at)
	}

	if _, err := use("alice", "h1", now); !errors.Is(err, ErrNoAccessPass) {
		t.Fatalf("using a pass alice does not have: %v", err)
	}
	if _, err := s.AccessPassOf(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pass of a user without one: %v", err)
	}
	for _, p := range []AccessPass{
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
		if p, err := use(tc.user, tc.hash, tc.at); !errors.Is(err, ErrNoAccessPass) {
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
	if _, err := use("alice", "h1", at); !errors.Is(err, ErrNoAccessPass) {
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
	if _, err := use("alice", "h1", now.Add(2*time.Minute)); !errors.Is(err, ErrNoAccessPass) {
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
	if _, err := use("alice", "h4", now); !errors.Is(err, ErrNoAccessPass) {
		t.Fatalf("a deleted pass works: %v", err)
	}
	if _, err := s.AccessPassOf(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted pass reads: %v", err)
	}
	if _, err := s.AccessPassOf(ctx, "bob"); err != nil {
		t.Fatalf("deleting alice's pass deleted bob's: %v", err)
	}
}

// TestReusableAccessPass: a reusable pass works every time until it
// expires, and records each use.
func TestReusableAccessPass(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
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
	if _, err := s.UseAccessPass(ctx, "alice", []byte("h2"), now); !errors.Is(err, ErrNoAccessPass) {
		t.Fatalf("a reusable pass with a wrong hash: %v", err)
	}
	if _, err := s.UseAccessPass(ctx, "alice", []byte("h1"), now.Add(time.Hour)); !errors.Is(err, ErrNoAccessPass) {
		t.Fatalf("an expired reusable pass: %v", err)
	}
}

// TestAccessPassConcurrentExactlyOne: of 20 uses of one single-use pass
// at once, through two handles on one file as two processes would have,
// exactly one succeeds.
func TestAccessPassConcurrentExactlyOne(t *testing.T) {
	ctx := context.Background()
	a, b := openPair(t)
	now := time.UnixMilli(1_700_000_000_000)
	putPass(t, a, "alice", "h1", now, false)
	var i atomic.Int32
	if wins := concurrentWins(t, func() (bool, error) {
		s := [2]*SQLite{a, b}[i.Add(1)%2]
		_, err := s.UseAccessPass(ctx, "alice", []byte("h1"), now)
		if errors.Is(err, ErrNoAccessPass) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d concurrent uses of a single-use pass succeeded, want exactly 1", wins)
	}
}

// TestPruneAccessPasses: Prune forgets passes that expired more than a
// day ago, and keeps the rest, used or not.
func TestPruneAccessPasses(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.UnixMilli(1_700_000_000_000)
	for user, expires := range map[string]time.Time{
		"old":     now.Add(-25 * time.Hour),
		"dayago":  now.Add(-24 * time.Hour),
		"recent":  now.Add(-23 * time.Hour),
		"expired": now.Add(-time.Minute),
		"live":    now.Add(time.Hour),
	} {
		if err := s.PutAccessPass(ctx, AccessPass{Username: user, Hash: []byte("h"), Created: expires.Add(-time.Hour), Expires: expires}); err != nil {
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
		if _, err := s.AccessPassOf(ctx, user); (err == nil) != kept || (err != nil && !errors.Is(err, ErrNotFound)) {
			t.Errorf("%s's pass after Prune: %v, want kept %v", user, err, kept)
		}
	}
}
