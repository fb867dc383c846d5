package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// TestMethodTimes: storing a method records when; removing the phone
// forgets its time; approving a request records when its device was used.
func TestMethodTimes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
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
	if d, _, err := s.EnrolPushDevice(ctx, []byte("tok1"), PushDevice{ID: "d1", Name: "Pixel", PublicKey: []byte{4}}, now); err != nil || !d.LastUsed.IsZero() {
		t.Fatalf("enrolled device: %+v %v", d, err)
	}
	s.EnrolPushDevice(ctx, []byte("tok2"), PushDevice{ID: "bobs", Name: "Bob's", PublicKey: []byte{4}}, now)
	req := func(id, user string) PushRequest {
		return PushRequest{ID: id, ChallengeID: "c-" + id, Username: user, Created: now, Expires: now.Add(2 * time.Minute)}
	}
	for _, r := range []PushRequest{req("r1", "alice"), req("r2", "alice"), req("r3", "alice"), req("r4", "bob")} {
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
	s.SetPushState(ctx, "r1", "alice", PushPending, PushDenied, "", "d1", now)
	if !lastUsed("d1").IsZero() {
		t.Fatalf("a denial marked the device used at %v", lastUsed("d1"))
	}
	// An approval that loses (the request is no longer pending) marks nothing.
	s.SetPushState(ctx, "r1", "alice", PushPending, PushApproved, "", "d1", now)
	if !lastUsed("d1").IsZero() {
		t.Fatal("a refused approval marked the device used")
	}
	// Alice's request cannot mark Bob's device as used.
	s.SetPushState(ctx, "r2", "alice", PushPending, PushApproved, "", "bobs", now)
	if !lastUsed("bobs").IsZero() {
		t.Fatal("alice's request marked bob's device used")
	}
	at := now.Add(time.Second)
	if ok, err := s.SetPushState(ctx, "r3", "alice", PushPending, PushApproved, "", "d1", at); !ok || err != nil {
		t.Fatalf("approve: %v %v", ok, err)
	}
	if got := lastUsed("d1"); !got.Equal(at) {
		t.Fatalf("device last used at %v, want %v", got, at)
	}
	if devs, _ := s.PushDevices(ctx, "alice"); len(devs) != 1 || !devs[0].LastUsed.Equal(at) {
		t.Fatalf("devices: %+v", devs)
	}
	// Using the approval up is not another use of the device.
	s.SetPushState(ctx, "r3", "alice", PushApproved, PushUsed, "", "", at.Add(time.Minute))
	if got := lastUsed("d1"); !got.Equal(at) {
		t.Fatalf("after use: last used at %v, want %v", got, at)
	}
}

func TestSignInEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	now := time.UnixMilli(1_700_000_000_123)
	ev := func(user string, i int) SignInEvent {
		return SignInEvent{Username: user, At: now.Add(time.Duration(i) * time.Second), Method: "totp",
			ClientIP: "192.0.2.1", Site: "app.example.com", Outcome: fmt.Sprint("attempt ", i)}
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

// enrol enrols a device named id for user with a fresh token that is not
// for a first method.
func enrol(t *testing.T, s *SQLite, user, id string, now time.Time) error {
	t.Helper()
	tok := []byte("tok-" + id)
	if err := s.PutPushEnrolment(context.Background(), tok, "ch-"+id, user, now.Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.EnrolPushDevice(context.Background(), tok, PushDevice{ID: id, Name: id, PublicKey: []byte{4}}, now)
	return err
}

// TestDeviceLimit: a user has at most MaxPushDevices devices; a refused
// enrolment stores nothing and leaves its token usable once there is
// room; racing enrolments cannot overshoot.
func TestDeviceLimit(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s := openTest(t)
	for i := range MaxPushDevices {
		if err := enrol(t, s, "alice", fmt.Sprint("d", i), now); err != nil {
			t.Fatalf("device %d: %v", i+1, err)
		}
	}
	if err := enrol(t, s, "alice", "extra", now); !errors.Is(err, ErrTooManyDevices) {
		t.Fatalf("device %d: %v, want ErrTooManyDevices", MaxPushDevices+1, err)
	}
	if _, err := s.PushDevice(ctx, "extra"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused device was stored: %v", err)
	}
	if devs, _ := s.PushDevices(ctx, "alice"); len(devs) != MaxPushDevices {
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
	if d, ch, err := s.EnrolPushDevice(ctx, []byte("tok-extra"), PushDevice{ID: "extra", Name: "extra", PublicKey: []byte{4}}, now); err != nil || ch != "ch-extra" || d.Username != "alice" {
		t.Fatalf("the refused token after removing a device: %+v %q %v", d, ch, err)
	}

	// Racing enrolments with different tokens, through two handles on
	// one file, fill the last place once.
	a, b := openPair(t)
	for i := range MaxPushDevices - 1 {
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
		s := []*SQLite{a, b}[i%2]
		_, _, err := s.EnrolPushDevice(ctx, []byte(fmt.Sprint("race", i)), PushDevice{ID: fmt.Sprint("r", i), Name: "r", PublicKey: []byte{4}}, now)
		if errors.Is(err, ErrTooManyDevices) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d racing enrolments filled carol's last place", wins)
	}
	if devs, _ := b.PushDevices(ctx, "carol"); len(devs) != MaxPushDevices {
		t.Fatalf("carol has %d devices", len(devs))
	}
}

func TestCredentials(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	t1 := time.UnixMilli(1_700_000_000_000)
	t2 := t1.Add(time.Hour)
	for _, c := range []Credential{
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
	want := []Credential{
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
	if err := s.AddCredential(ctx, Credential{ID: "k1", Username: "bob", Method: "test", Data: []byte("mine")}, false); err == nil {
		t.Fatal("bob stored a credential under alice's credential ID")
	}
	if err := s.AddCredential(ctx, Credential{Username: "bob", Method: "test"}, false); err == nil {
		t.Fatal("stored a credential without an ID")
	}
	// A zero Created is stored as now.
	before := time.Now().Truncate(time.Millisecond)
	s.AddCredential(ctx, Credential{ID: "b2", Username: "bob", Method: "other"}, false)
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
		if !errors.Is(err, ErrNotFound) {
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

func sameCredential(a, b Credential) bool {
	return a.ID == b.ID && a.Username == b.Username && a.Method == b.Method && a.Name == b.Name &&
		bytes.Equal(a.Data, b.Data) && a.Created.Equal(b.Created) && a.LastUsed.Equal(b.LastUsed)
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

// TestSetPhoneEndsCallsToTheOldNumber: changing a user's number (Security
// info's "Change number") or removing it through SetPhone fails the calls
// still ringing on the old one, as RemoveMethod does, so a press-# answer
// there cannot approve a sign-in; the same number again, the first number
// and other users' calls leave calls alone.
func TestSetPhoneEndsCallsToTheOldNumber(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
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
	want("first", "bob", CallPending, "")
	// The same number stored again (verified again) is no change.
	set("bob", "+14155552671")
	want("first", "bob", CallPending, "")

	call("alice-call", "alice")
	set("bob", "+14155550199")
	want("first", "bob", CallFailed, "phone changed")
	if ok, err := s.SetCallState(ctx, "first", CallPending, CallApproved, "", now); ok || err != nil {
		t.Fatalf("a call ringing on the old number approved a sign-in after the number was changed: %v %v", ok, err)
	}
	want("alice-call", "alice", CallPending, "")

	// A call to the new number is not touched by the change before it.
	call("new", "bob")
	if ok, err := s.SetCallState(ctx, "new", CallPending, CallApproved, "", now); !ok || err != nil {
		t.Fatalf("a call to the new number: %v %v", ok, err)
	}

	call("last", "bob")
	set("bob", "")
	want("last", "bob", CallFailed, "phone removed")
	want("alice-call", "alice", CallPending, "")
}

// TestRemoveMethodKeepsOneConcurrently: of many removals racing (through
// two handles on one file) with keepOne, only as many succeed as leave
// the user one method.
func TestRemoveMethodKeepsOneConcurrently(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	for _, methods := range [][]MethodRef{
		{{Kind: KindTOTP}, {Kind: KindPushDevice, ID: "d1"}},
		{{Kind: KindPushDevice, ID: "d1"}, {Kind: KindPushDevice, ID: "d2"}},
		{{Kind: KindPhone}, {Kind: KindCredential, ID: "k1"}, {Kind: KindTOTP}},
	} {
		t.Run(fmt.Sprint(methods), func(t *testing.T) {
			a, b := openPair(t)
			for _, m := range methods {
				var err error
				switch m.Kind {
				case KindTOTP:
					err = a.SetTOTP(ctx, "alice", []byte("sealed"), 1)
				case KindPhone:
					err = a.SetPhone(ctx, "alice", "+14155552671")
				case KindPushDevice:
					err = enrol(t, a, "alice", m.ID, now)
				case KindCredential:
					err = a.AddCredential(ctx, Credential{ID: m.ID, Username: "alice", Method: "test"}, false)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			var next atomic.Int32
			wins := concurrentWins(t, func() (bool, error) {
				i := int(next.Add(1) - 1)
				err := []*SQLite{a, b}[i%2].RemoveMethod(ctx, "alice", methods[i%len(methods)], true)
				if errors.Is(err, ErrLastMethod) || errors.Is(err, ErrNotFound) {
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

func TestSetDefaultMethod(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
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
	if info, err := s.SecurityInfo(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob: %+v %v", info, err)
	}
}
