package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openVersion creates a database at path with the schema of the given
// version, as an older Stepgate left it.
func openVersion(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for v, m := range sqliteMigrations[:version] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", v+1, err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, version)); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestMigrationFromVersion5: a database of schema version 5 with users in
// it opens, keeps every row, and reads the new columns as unknown.
func TestMigrationFromVersion5(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	created := time.UnixMilli(1_600_000_000_000)
	old := openVersion(t, path, 5)
	for _, q := range []string{
		`INSERT INTO security_info (username, totp_secret, totp_last_step, default_method, updated_at, phone)
		 VALUES ('alice', x'0102', 77, 'sms', 1600000000, '+14155552671')`,
		`INSERT INTO push_devices (id, username, name, public_key, subscription, gone, created_at)
		 VALUES ('d1', 'alice', 'Pixel', x'04', '{"endpoint":"x"}', 0, 1600000000000)`,
		`INSERT INTO push_requests (id, challenge_id, username, number, choices, state, created_at, expires_at)
		 VALUES ('r1', 'c1', 'alice', 42, '', 'pending', 1600000000000, 1600000120000)`,
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
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != len(sqliteMigrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(sqliteMigrations))
	}
	info, err := s.SecurityInfo(ctx, "alice")
	if err != nil || string(info.TOTPSecret) != "\x01\x02" || info.TOTPLastStep != 77 || info.DefaultMethod != "sms" ||
		info.Phone != "+14155552671" || !info.TOTPAdded.IsZero() || !info.PhoneAdded.IsZero() {
		t.Fatalf("security info after migration: %+v %v", info, err)
	}
	devs, err := s.PushDevices(ctx, "alice")
	if err != nil || len(devs) != 1 || devs[0].Name != "Pixel" || !devs[0].Created.Equal(created) || !devs[0].LastUsed.IsZero() {
		t.Fatalf("devices after migration: %+v %v", devs, err)
	}
	if r, err := s.LatestPushRequest(ctx, "c1", "alice", created); err != nil || r.State != PushPending || r.Number != 42 {
		t.Fatalf("request after migration: %+v %v", r, err)
	}
	// The migrated methods count, and the new tables start empty.
	if n, err := s.MethodCount(ctx, "alice"); n != 3 || err != nil {
		t.Fatalf("alice's migrated methods: %d %v, want 3", n, err)
	}
	if ev, err := s.RecentSignInEvents(ctx, "alice", 10); len(ev) != 0 || err != nil {
		t.Fatalf("events after migration: %+v %v", ev, err)
	}
	if c, err := s.Credentials(ctx, "alice", ""); len(c) != 0 || err != nil {
		t.Fatalf("credentials after migration: %+v %v", c, err)
	}
	// A migrated user is still refused a second first method.
	if err := s.AddCredential(ctx, Credential{ID: "k1", Username: "alice", Method: "test"}, true); !errors.Is(err, ErrAlreadySetUp) {
		t.Fatalf("first credential for a migrated user with methods: %v", err)
	}
}

func TestSignInEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.UnixMilli(1_700_000_000_123)
	ev := func(user string, i int) SignInEvent {
		return SignInEvent{Username: user, At: now.Add(time.Duration(i) * time.Second), Method: "totp",
			ClientIP: "192.0.2.1", Site: "app.example.com", Outcome: fmt.Sprint("attempt ", i), Detail: fmt.Sprint("key ", i%2)}
	}
	if got, err := s.RecentSignInEvents(ctx, "alice", 10); err != nil || len(got) != 0 {
		t.Fatalf("no events yet: %+v %v", got, err)
	}
	for i := range 3 {
		if err := s.RecordSignInEvent(ctx, ev("alice", i)); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSignInEvent(ctx, ev("bob", i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RecentSignInEvents(ctx, "alice", 2)
	if err != nil || len(got) != 2 || got[0] != ev("alice", 2) || got[1] != ev("alice", 1) {
		t.Fatalf("two newest of alice's: %+v %v", got, err)
	}
	if got, _ := s.RecentSignInEvents(ctx, "alice", 0); len(got) != 0 {
		t.Fatalf("n = 0 returned %d events", len(got))
	}

	// A flood of attempts on alice keeps her newest MaxSignInEvents, and
	// leaves bob's alone.
	for i := 3; i < MaxSignInEvents+30; i++ {
		if err := s.RecordSignInEvent(ctx, ev("alice", i)); err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	if err := s.db.QueryRow(`SELECT count(*) FROM sign_in_events WHERE username = 'alice'`).Scan(&rows); err != nil || rows != MaxSignInEvents {
		t.Fatalf("alice has %d stored events (%v), want %d", rows, err, MaxSignInEvents)
	}
	got, _ = s.RecentSignInEvents(ctx, "alice", 1000)
	if len(got) != MaxSignInEvents || got[0] != ev("alice", MaxSignInEvents+29) || got[len(got)-1] != ev("alice", 30) {
		t.Fatalf("kept %d events, from %+v to %+v", len(got), got[0], got[len(got)-1])
	}
	if got, _ := s.RecentSignInEvents(ctx, "bob", 1000); len(got) != 3 {
		t.Fatalf("alice's flood left bob %d events, want 3", len(got))
	}

	// Concurrent records keep the bound too.
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if err := s.RecordSignInEvent(ctx, ev("carol", g*10+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got, _ := s.RecentSignInEvents(ctx, "carol", 1000); len(got) != MaxSignInEvents {
		t.Fatalf("after 200 concurrent records carol has %d events", len(got))
	}

	// Prune forgets events older than 90 days.
	s.RecordSignInEvent(ctx, SignInEvent{Username: "dave", At: now.Add(-91 * 24 * time.Hour), Outcome: "old"})
	s.RecordSignInEvent(ctx, SignInEvent{Username: "dave", At: now.Add(-89 * 24 * time.Hour), Outcome: "recent"})
	if err := s.Prune(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RecentSignInEvents(ctx, "dave", 10); len(got) != 1 || got[0].Outcome != "recent" {
		t.Fatalf("after prune: %+v", got)
	}
}

// openPair opens one database file twice, as two processes sharing it
// would: each handle has its own connection, so a test racing the two
// shows whether a check-and-update is atomic in the database itself, not
// just behind one handle's single connection.
func openPair(t *testing.T) (*SQLite, *SQLite) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	var out [2]*SQLite
	for i := range out {
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out[0], out[1]
}

// TestRemoveMethod: each kind of method is removed from its user only,
// with what goes with it; MethodCount follows.
func TestRemoveMethod(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.Unix(1_700_000_000, 0)
	count := func(user string, want int) {
		t.Helper()
		if n, err := s.MethodCount(ctx, user); n != want || err != nil {
			t.Fatalf("%s has %d methods (%v), want %d", user, n, err, want)
		}
	}
	setDefault := func(user, method string) {
		t.Helper()
		if err := s.SetDefaultMethod(ctx, user, method); err != nil {
			t.Fatal(err)
		}
	}
	wantDefault := func(user, method string) {
		t.Helper()
		if info, err := s.SecurityInfo(ctx, user); err != nil || info.DefaultMethod != method {
			t.Fatalf("%s's default method is %q (%v), want %q", user, info.DefaultMethod, err, method)
		}
	}
	remove := func(user, kind, id string, keepOne bool) error {
		return s.RemoveMethod(ctx, user, MethodRef{Kind: kind, ID: id}, keepOne)
	}
	cred := func(id, user, method string) {
		t.Helper()
		if err := s.AddCredential(ctx, Credential{ID: id, Username: user, Method: method, Name: id}, false); err != nil {
			t.Fatal(err)
		}
	}

	count("alice", 0)
	s.SetTOTP(ctx, "alice", []byte("sealed"), 50)
	s.SetPhone(ctx, "alice", "+14155552671")
	enrol(t, s, "alice", "d1", now)
	enrol(t, s, "alice", "d2", now)
	cred("k1", "alice", "test")
	cred("k2", "alice", "test")
	count("alice", 6)
	s.SetTOTP(ctx, "bob", []byte("bob's"), 1)
	enrol(t, s, "bob", "bd", now)
	cred("bk", "bob", "test")
	count("bob", 3)

	// Another user's IDs, unknown IDs and methods the user does not have
	// are not found, and change nothing.
	for _, tc := range []struct{ user, kind, id string }{
		{"alice", KindPushDevice, "bd"},
		{"alice", KindCredential, "bk"},
		{"alice", KindPushDevice, "missing"},
		{"alice", KindCredential, "missing"},
		{"alice", KindCredential, "d1"},
		{"alice", KindPushDevice, "k1"},
		{"mallory", KindPushDevice, "bd"},
		{"mallory", KindTOTP, ""},
		{"carol", KindPhone, ""},
	} {
		if err := remove(tc.user, tc.kind, tc.id, false); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s removing %s %q: %v, want ErrNotFound", tc.user, tc.kind, tc.id, err)
		}
	}
	count("alice", 6)
	count("bob", 3)
	if _, err := s.PushDevice(ctx, "bd"); err != nil {
		t.Fatalf("bob's device: %v", err)
	}
	if _, err := s.SecurityInfo(ctx, "mallory"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused removal made mallory a record: %v", err)
	}
	if err := remove("alice", "password", "", false); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown kind: %v", err)
	}

	// The authenticator app: the secret and its time go, the last used
	// step stays, and so does a default that is not the app's.
	setDefault("alice", "push")
	if err := remove("alice", KindTOTP, "", true); err != nil {
		t.Fatal(err)
	}
	info, _ := s.SecurityInfo(ctx, "alice")
	if info.TOTPSecret != nil || !info.TOTPAdded.IsZero() || info.TOTPLastStep != 50 || info.Phone == "" {
		t.Fatalf("after removing the authenticator: %+v", info)
	}
	wantDefault("alice", "push")
	count("alice", 5)
	if err := remove("alice", KindTOTP, "", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing the authenticator twice: %v", err)
	}
	// A default that names the app goes with it.
	s.SetTOTP(ctx, "bob", []byte("x"), 1)
	setDefault("bob", "totp")
	remove("bob", KindTOTP, "", true)
	wantDefault("bob", "")

	// The phone: its number, its time and the calls still ringing on it.
	s.PutCall(ctx, "call-a", "alice", now.Add(time.Hour))
	s.PutCall(ctx, "call-b", "bob", now.Add(time.Hour))
	setDefault("alice", "voice")
	if err := remove("alice", KindPhone, "", true); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.SecurityInfo(ctx, "alice"); info.Phone != "" || !info.PhoneAdded.IsZero() {
		t.Fatalf("after removing the phone: %+v", info)
	}
	wantDefault("alice", "")
	if state, detail, _ := s.CallState(ctx, "call-a", "alice", now); state != CallFailed || detail != "phone removed" {
		t.Fatalf("call to the removed phone: %s %q", state, detail)
	}
	if ok, _ := s.SetCallState(ctx, "call-a", CallPending, CallApproved, "", now); ok {
		t.Fatal("a call to the removed phone approved a sign-in")
	}
	if state, _, _ := s.CallState(ctx, "call-b", "bob", now); state != CallPending {
		t.Fatalf("bob's call: %s", state)
	}
	count("alice", 4)

	// Push devices: pending requests and the "push" default outlive a
	// removed device while another is left, and end with the last one.
	req := func(id, user string) PushRequest {
		return PushRequest{ID: id, ChallengeID: "c-" + id, Username: user, Created: now, Expires: now.Add(2 * time.Minute)}
	}
	for _, r := range []PushRequest{req("p1", "alice"), req("p2", "alice"), req("pb", "bob")} {
		if err := s.PutPushRequest(ctx, r, 5); err != nil {
			t.Fatal(err)
		}
	}
	s.SetPushState(ctx, "p2", "alice", PushPending, PushApproved, "", "d1", now)
	setDefault("alice", "push")
	if err := remove("alice", KindPushDevice, "d1", true); err != nil {
		t.Fatal(err)
	}
	wantDefault("alice", "push")
	if p, _ := s.PendingPushRequests(ctx, "alice", now); len(p) != 1 {
		t.Fatalf("with a device left, %d pending requests, want 1", len(p))
	}
	if err := s.DeletePushDevice(ctx, "alice", "d2"); err != nil {
		t.Fatal(err)
	}
	wantDefault("alice", "")
	if r, _ := s.LatestPushRequest(ctx, "c-p1", "alice", now); r.State != PushExpired {
		t.Fatalf("pending request after the last device went: %s", r.State)
	}
	if ok, _ := s.SetPushState(ctx, "p1", "alice", PushPending, PushApproved, "", "d2", now); ok {
		t.Fatal("a request of a user without devices was approved")
	}
	if r, _ := s.LatestPushRequest(ctx, "c-p2", "alice", now); r.State != PushApproved {
		t.Fatalf("an approval given before the device went: %s", r.State)
	}
	if r, _ := s.LatestPushRequest(ctx, "c-pb", "bob", now); r.State != PushPending {
		t.Fatalf("bob's request: %s", r.State)
	}
	count("alice", 2)

	// Credentials: the default of their method goes with the last one.
	setDefault("alice", "test")
	if err := remove("alice", KindCredential, "k1", true); err != nil {
		t.Fatal(err)
	}
	wantDefault("alice", "test")
	count("alice", 1)

	// The last method is kept when asked, removed when not.
	if err := remove("alice", KindCredential, "k2", true); !errors.Is(err, ErrLastMethod) {
		t.Fatalf("removing the last method with keepOne: %v", err)
	}
	if c, _ := s.Credentials(ctx, "alice", "test"); len(c) != 1 {
		t.Fatalf("a refused removal removed: %+v", c)
	}
	wantDefault("alice", "test")
	if err := remove("alice", KindCredential, "k2", false); err != nil {
		t.Fatal(err)
	}
	wantDefault("alice", "")
	count("alice", 0)
	count("bob", 2)

	// A user with no security info row (a device enrolled by an older
	// Stepgate) can still remove it.
	if _, err := s.db.Exec(`DELETE FROM security_info WHERE username = 'bob'`); err != nil {
		t.Fatal(err)
	}
	if err := remove("bob", KindPushDevice, "bd", true); err != nil {
		t.Fatalf("removing a device of a user without a record: %v", err)
	}
	count("bob", 1)
}
