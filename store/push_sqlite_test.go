package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestPushEnrolment(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	if err := s.PutPushEnrolment(ctx, []byte("tok1"), "ch1", "alice", now.Add(10*time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushEnrolled(ctx, "ch1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("enrolled before any device: %v", err)
	}
	if _, _, err := s.EnrolPushDevice(ctx, []byte("nope"), PushDevice{ID: "d0", Name: "x", PublicKey: []byte{4}}, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	d, ch, err := s.EnrolPushDevice(ctx, []byte("tok1"), PushDevice{ID: "d1", Name: "Pixel", PublicKey: []byte{4, 1}, Subscription: `{"endpoint":"x"}`}, now)
	if err != nil || d.Username != "alice" || ch != "ch1" {
		t.Fatalf("enrol: %+v %q %v", d, ch, err)
	}
	// Single use: the same token enrols nothing more, and nothing is stored.
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok1"), PushDevice{ID: "d2", Name: "y", PublicKey: []byte{4}}, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token reused: %v", err)
	}
	if _, err := s.PushDevice(ctx, "d2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused enrolment stored its device: %v", err)
	}
	if got, err := s.PushEnrolled(ctx, "ch1"); err != nil || got.ID != "d1" {
		t.Fatalf("PushEnrolled: %+v %v", got, err)
	}
	// An expired token is refused.
	s.PutPushEnrolment(ctx, []byte("tok2"), "ch2", "alice", now.Add(time.Minute), true)
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok2"), PushDevice{ID: "d3", Name: "z", PublicKey: []byte{4}}, now.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired token: %v", err)
	}
	// Of racing enrolments with one token, exactly one wins.
	s.PutPushEnrolment(ctx, []byte("tok3"), "ch3", "carol", now.Add(time.Minute), true)
	if wins := concurrentWins(t, func() (bool, error) {
		_, _, err := s.EnrolPushDevice(ctx, []byte("tok3"), PushDevice{ID: "raced", Name: "r", PublicKey: []byte{4}}, now)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d enrolments with one token", wins)
	}
	// A token that is not for a first method adds a second device.
	s.PutPushEnrolment(ctx, []byte("tok4"), "ch4", "alice", now.Add(time.Minute), false)
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok4"), PushDevice{ID: "d4", Name: "Tablet", PublicKey: []byte{4}}, now); err != nil {
		t.Fatalf("second device: %v", err)
	}

	if err := s.RenamePushDevice(ctx, "d1", "Work phone"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPushSubscription(ctx, "d1", "", true); err != nil {
		t.Fatal(err)
	}
	if err := s.RenamePushDevice(ctx, "missing", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renaming a missing device: %v", err)
	}
	devs, err := s.PushDevices(ctx, "alice")
	if err != nil || len(devs) != 2 || devs[0].Name != "Work phone" || !devs[0].Gone || devs[0].Subscription != "" {
		t.Fatalf("devices: %+v %v", devs, err)
	}
	if devs, _ := s.PushDevices(ctx, "bob"); len(devs) != 0 {
		t.Fatalf("bob has alice's devices: %+v", devs)
	}
	if err := s.DeletePushDevice(ctx, "bob", "d1"); !errors.Is(err, ErrNotFound) {
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
func TestFirstMethodOnlyOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	dev := func(id string) PushDevice { return PushDevice{ID: id, Name: "Phone", PublicKey: []byte{4}} }
	var tokens atomic.Int32
	adds := map[string]func(s *SQLite, user string) error{
		"totp":  func(s *SQLite, user string) error { return s.SetFirstTOTP(ctx, user, []byte("sealed"), 1) },
		"phone": func(s *SQLite, user string) error { return s.SetFirstPhone(ctx, user, "+14155552671") },
		"push": func(s *SQLite, user string) error {
			tok := []byte(fmt.Sprintf("tok-%s-%d", user, tokens.Add(1)))
			if err := s.PutPushEnrolment(ctx, tok, "ch-"+user, user, now.Add(time.Minute), true); err != nil {
				return err
			}
			_, _, err := s.EnrolPushDevice(ctx, tok, dev("dev-"+string(tok)), now)
			return err
		},
		"credential": func(s *SQLite, user string) error {
			id := fmt.Sprintf("cred-%s-%d", user, tokens.Add(1))
			return s.AddCredential(ctx, Credential{ID: id, Username: user, Method: "test", Name: "Key"}, true)
		},
	}
	for first, addFirst := range adds {
		for then, addThen := range adds {
			t.Run(first+" then "+then, func(t *testing.T) {
				s := openTest(t)
				if err := addFirst(s, "alice"); err != nil {
					t.Fatal(err)
				}
				before, _ := s.SecurityInfo(ctx, "alice")
				devsBefore, _ := s.PushDevices(ctx, "alice")
				credsBefore, _ := s.Credentials(ctx, "alice", "")
				if err := addThen(s, "alice"); !errors.Is(err, ErrAlreadySetUp) {
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
	s := openTest(t)
	var i atomic.Int32
	if wins := concurrentWins(t, func() (bool, error) {
		names := []string{"totp", "phone", "push", "credential"}
		err := adds[names[int(i.Add(1))%len(names)]](s, "carol")
		if errors.Is(err, ErrAlreadySetUp) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d first methods stored for one user", wins)
	}
}

// TestFinishPushEnrolment: finishing a set-up succeeds once, for its
// user, while its device exists.
func TestFinishPushEnrolment(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	if _, err := s.FinishPushEnrolment(ctx, "ch1", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finish without a set-up: %v", err)
	}
	s.PutPushEnrolment(ctx, []byte("tok1"), "ch1", "alice", now.Add(time.Minute), true)
	if _, err := s.FinishPushEnrolment(ctx, "ch1", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finish before a device enrolled: %v", err)
	}
	if _, _, err := s.EnrolPushDevice(ctx, []byte("tok1"), PushDevice{ID: "d1", Name: "Pixel", PublicKey: []byte{4}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishPushEnrolment(ctx, "ch1", "mallory"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user finished alice's set-up: %v", err)
	}
	if wins := concurrentWins(t, func() (bool, error) {
		d, err := s.FinishPushEnrolment(ctx, "ch1", "alice")
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return err == nil && d.ID == "d1", err
	}); wins != 1 {
		t.Fatalf("one set-up finished %d times", wins)
	}
	if _, err := s.PushEnrolled(ctx, "ch1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a finished set-up still reads as enrolled: %v", err)
	}
	// A device removed before the set-up finished does not finish it.
	s.PutPushEnrolment(ctx, []byte("tok2"), "ch2", "bob", now.Add(time.Minute), true)
	s.EnrolPushDevice(ctx, []byte("tok2"), PushDevice{ID: "d2", Name: "Pixel", PublicKey: []byte{4}}, now)
	s.DeletePushDevice(ctx, "bob", "d2")
	if _, err := s.FinishPushEnrolment(ctx, "ch2", "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finish with a removed device: %v", err)
	}
}

func TestPushRequests(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	req := func(id, ch string, at time.Time) PushRequest {
		return PushRequest{ID: id, ChallengeID: ch, Username: "alice", Number: 42,
			ClientIP: "192.0.2.1", Host: "app.example.com", Created: at, Expires: at.Add(2 * time.Minute)}
	}
	if err := s.PutPushRequest(ctx, req("r1", "c1", now), 3); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestPushRequest(ctx, "c1", "alice", now)
	if err != nil || got.State != PushPending || got.Number != 42 || got.Host != "app.example.com" {
		t.Fatalf("latest: %+v %v", got, err)
	}
	if _, err := s.LatestPushRequest(ctx, "c1", "mallory", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user's request: %v", err)
	}
	// Asking again for the same sign-in replaces the earlier request.
	s.PutPushRequest(ctx, req("r2", "c1", now.Add(time.Second)), 3)
	if got, _ := s.LatestPushRequest(ctx, "c1", "alice", now); got.ID != "r2" {
		t.Fatalf("latest after a new request: %+v", got)
	}
	if ok, _ := s.SetPushState(ctx, "r1", "alice", PushPending, PushApproved, "", "d1", now); ok {
		t.Fatal("a replaced request was approved")
	}
	// At most maxPending live requests per user.
	s.PutPushRequest(ctx, req("r3", "c2", now), 3)
	s.PutPushRequest(ctx, req("r4", "c3", now), 3)
	if err := s.PutPushRequest(ctx, req("r5", "c4", now), 3); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("fourth pending request: %v", err)
	}
	if p, _ := s.PendingPushRequests(ctx, "alice", now); len(p) != 3 {
		t.Fatalf("pending: %d", len(p))
	}
	// Once they expire, they are marked, counted, and make room.
	later := now.Add(3 * time.Minute)
	if got, _ := s.LatestPushRequest(ctx, "c2", "alice", later); got.State != PushExpired {
		t.Fatalf("expired request reads as %q", got.State)
	}
	if ok, _ := s.SetPushState(ctx, "r3", "alice", PushPending, PushApproved, "", "d1", later); ok {
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
		return s.SetPushState(ctx, "r6", "alice", PushPending, PushApproved, "", "d1", later)
	}); wins != 1 {
		t.Fatalf("%d concurrent approvals won", wins)
	}
	if wins := concurrentWins(t, func() (bool, error) {
		return s.SetPushState(ctx, "r6", "alice", PushApproved, PushUsed, "", "", later.Add(5*time.Minute))
	}); wins != 1 {
		t.Fatalf("%d sign-ins from one approval", wins)
	}
	if got, _ := s.LatestPushRequest(ctx, "c5", "alice", later); got.State != PushUsed || got.Device != "d1" {
		t.Fatalf("used request: %+v", got)
	}
	if ok, _ := s.SetPushState(ctx, "r6", "mallory", PushUsed, PushApproved, "", "", later); ok {
		t.Fatal("another user changed alice's request")
	}
}

func TestSettings(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.Setting(ctx, "vapid"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unset setting: %v", err)
	}
	if v, err := s.InitSetting(ctx, "vapid", "first"); v != "first" || err != nil {
		t.Fatalf("init: %q %v", v, err)
	}
	if v, err := s.InitSetting(ctx, "vapid", "second"); v != "first" || err != nil {
		t.Fatalf("second init overwrote: %q %v", v, err)
	}
}
