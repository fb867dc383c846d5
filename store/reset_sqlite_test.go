package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestRegistrationGrant: ResetMethods grants a registration when asked;
// the grant stays until it is cleared or the user registers a first
// method, whichever kind, and a refused or failed registration leaves it.
func TestRegistrationGrant(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	granted := func(s *SQLite, user string, want bool) {
		t.Helper()
		if g, err := s.RegistrationGranted(ctx, user); g != want || err != nil {
			t.Fatalf("%s granted: %v %v, want %v", user, g, err, want)
		}
	}
	s := openTest(t)
	granted(s, "nobody", false)
	if err := s.ClearRegistrationGrant(ctx, "nobody"); err != nil {
		t.Fatalf("clearing a grant nobody holds: %v", err)
	}
	s.SetTOTP(ctx, "alice", []byte("sealed"), 1)
	if n, err := s.ResetMethods(ctx, "alice", false, now); n != 1 || err != nil {
		t.Fatalf("reset: %d %v", n, err)
	}
	granted(s, "alice", false)
	if _, err := s.ResetMethods(ctx, "alice", true, now); err != nil {
		t.Fatal(err)
	}
	granted(s, "alice", true)
	granted(s, "bob", false)
	if err := s.ClearRegistrationGrant(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	granted(s, "alice", false)

	// A grant to a user without a record (never signed in) holds too.
	if n, err := s.ResetMethods(ctx, "carol", true, now); n != 0 || err != nil {
		t.Fatalf("granting carol: %d %v", n, err)
	}
	granted(s, "carol", true)

	// Each first-method registration uses the grant up.
	var i int
	for kind, add := range map[string]func(s *SQLite) error{
		"totp":  func(s *SQLite) error { return s.SetFirstTOTP(ctx, "alice", []byte("sealed"), 1) },
		"phone": func(s *SQLite) error { return s.SetFirstPhone(ctx, "alice", "+14155552671") },
		"push": func(s *SQLite) error {
			i++
			tok := []byte(fmt.Sprint("tok", i))
			if err := s.PutPushEnrolment(ctx, tok, "ch", "alice", now.Add(time.Minute), true); err != nil {
				return err
			}
			_, _, err := s.EnrolPushDevice(ctx, tok, PushDevice{ID: fmt.Sprint("d", i), PublicKey: []byte{4}}, now)
			return err
		},
		"credential": func(s *SQLite) error {
			i++
			return s.AddCredential(ctx, Credential{ID: fmt.Sprint("k", i), Username: "alice", Method: "test"}, true)
		},
	} {
		t.Run(kind, func(t *testing.T) {
			s := openTest(t)
			s.ResetMethods(ctx, "alice", true, now)
			s.ResetMethods(ctx, "bob", true, now)
			granted(s, "alice", true)
			if err := add(s); err != nil {
				t.Fatal(err)
			}
			granted(s, "alice", false)
			granted(s, "bob", true)
			// A second first method is refused and does not touch a grant
			// given since.
			s.db.Exec(`UPDATE security_info SET registration_granted_at = 1 WHERE username = 'alice'`)
			if err := add(s); !errors.Is(err, ErrAlreadySetUp) {
				t.Fatalf("second first method: %v", err)
			}
			granted(s, "alice", true)
		})
	}

	// A first method that fails to be stored (its credential ID is taken)
	// leaves the grant for the next try.
	s.AddCredential(ctx, Credential{ID: "taken", Username: "bob", Method: "test"}, false)
	s.ResetMethods(ctx, "erin", true, now)
	if err := s.AddCredential(ctx, Credential{ID: "taken", Username: "erin", Method: "test"}, true); err == nil {
		t.Fatal("erin took bob's credential ID")
	}
	granted(s, "erin", true)
	if n, _ := s.MethodCount(ctx, "erin"); n != 0 {
		t.Fatalf("erin has %d methods after a failed registration", n)
	}
	// Methods added other than as a first method leave the grant alone;
	// the caller clears it.
	if err := s.SetPhone(ctx, "erin", "+14155552671"); err != nil {
		t.Fatal(err)
	}
	granted(s, "erin", true)
}

// TestMigrationFromVersion6: a database of schema version 6 with a user
// in it opens, keeps the user's methods, and starts with no access passes
// and no registration grants; both then work.
func TestMigrationFromVersion6(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	now := time.UnixMilli(1_700_000_000_000)
	old := openVersion(t, path, 6)
	for _, q := range []string{
		`INSERT INTO security_info (username, totp_secret, totp_last_step, default_method, updated_at, phone, totp_added_at, phone_added_at)
		 VALUES ('alice', x'0102', 77, 'sms', 1600000000, '+14155552671', 1600000000000, 1600000000000)`,
		`INSERT INTO push_devices (id, username, name, public_key, subscription, gone, created_at, last_used_at)
		 VALUES ('d1', 'alice', 'Pixel', x'04', '', 0, 1600000000000, 0)`,
		`INSERT INTO credentials (id, username, method, name, data, created_at) VALUES ('k1', 'alice', 'test', 'Key', x'00', 1600000000000)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != len(sqliteMigrations) || version != 9 {
		t.Fatalf("schema version %d (%v), want 9", version, err)
	}
	// Migration 8: remembered devices start empty and work.
	if list, err := s.RememberedDevices(ctx, "alice", now); len(list) != 0 || err != nil {
		t.Fatalf("remembered devices after migrating: %+v %v", list, err)
	}
	if _, err := s.RememberDevice(ctx, RememberedDevice{ID: "r1", Username: "alice", Created: now, Expires: now.Add(time.Hour)}, 5); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MethodCount(ctx, "alice"); n != 4 || err != nil {
		t.Fatalf("alice's migrated methods: %d %v, want 4", n, err)
	}
	if info, err := s.SecurityInfo(ctx, "alice"); err != nil || info.TOTPLastStep != 77 || info.DefaultMethod != "sms" {
		t.Fatalf("security info after migration: %+v %v", info, err)
	}
	if g, err := s.RegistrationGranted(ctx, "alice"); g || err != nil {
		t.Fatalf("a migrated user holds a grant: %v %v", g, err)
	}
	if _, err := s.AccessPassOf(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a migrated user has an access pass: %v", err)
	}
	if err := s.PutAccessPass(ctx, AccessPass{Username: "alice", Hash: []byte("h"), Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseAccessPass(ctx, "alice", []byte("h"), now); err != nil {
		t.Fatalf("using a pass after migration: %v", err)
	}
	if n, err := s.ResetMethods(ctx, "alice", true, now); n != 4 || err != nil {
		t.Fatalf("resetting a migrated user: %d %v, want 4", n, err)
	}
	if g, err := s.RegistrationGranted(ctx, "alice"); !g || err != nil {
		t.Fatalf("grant after resetting a migrated user: %v %v", g, err)
	}
}
