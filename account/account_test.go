package account

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
	"github.com/stepgate/stepgate/verifiers/voice"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// backoff is a small lockout policy: back-off from 3 failures (1 minute),
// locked for good at 10.
func backoff(f store.Failures, at time.Time) (time.Duration, bool) {
	switch {
	case f.Count >= 10:
		return 0, true
	case f.Count >= 3:
		return max(0, f.Last.Add(time.Minute).Sub(at)), false
	}
	return 0, false
}

type fixture struct {
	svc   *Service
	st    *store.SQLite
	file  string
	logs  *observer.ObservedLogs
	ctx   context.Context
	alice string
}

// newFixture makes a users file with alice (every kind of method, locked
// out, a blocked call method), bob (nothing) and carol (disabled), in a
// real SQLite store.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	core, logs := observer.New(zapcore.InfoLevel)
	f := &fixture{st: st, file: filepath.Join(dir, "users.yaml"), logs: logs, ctx: context.Background()}
	f.svc = New(Config{UsersFile: f.file, Store: st, Logger: zap.New(core), Now: func() time.Time { return now }, Backoff: backoff, PhoneMethods: []string{"sms", "voice"}})
	for _, u := range []NewUser{
		{Name: "alice", DisplayName: "Alice Example", Email: "alice@example.com", Groups: []string{"ops", "eng"}, Password: "alice has a long password"},
		{Name: "bob", Password: "bob has a long password"},
	} {
		if err := f.svc.Add(f.ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// The users file's own `disabled: true`, written by hand.
	if err := f.svc.Add(f.ctx, NewUser{Name: "carol", Password: "carol has a long password"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(f.file)
	i := strings.Index(string(raw), "carol:\n")
	if i < 0 {
		t.Fatalf("no carol in %s", raw)
	}
	rest := string(raw[i:])
	pw := strings.Index(rest, "password:")
	indent := rest[strings.LastIndex(rest[:pw], "\n")+1 : pw]
	raw = []byte(string(raw[:i]) + rest[:pw] + "disabled: true\n" + indent + rest[pw:])
	if err := os.WriteFile(f.file, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx := f.ctx
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.SetTOTP(ctx, "alice", []byte("sealed"), 1))
	must(st.SetPhone(ctx, "alice", "+14155552671"))
	for i, name := range []string{"Pixel", "iPad"} {
		tok := []byte{byte(i)}
		must(st.PutPushEnrolment(ctx, tok, "c", "alice", now.Add(time.Hour), false))
		_, _, err := st.EnrolPushDevice(ctx, tok, store.PushDevice{ID: "dev-" + name, Name: name, PublicKey: []byte{4}}, now)
		must(err)
	}
	must(st.AddCredential(ctx, store.Credential{ID: "pk1", Username: "alice", Method: "passkey", Name: "YubiKey"}, false))
	_, err = st.RememberDevice(ctx, store.RememberedDevice{ID: "rb1", Username: "alice", Name: "Firefox on Linux", Created: now, Expires: now.Add(time.Hour)}, 10)
	must(err)
	_, err = st.RememberDevice(ctx, store.RememberedDevice{ID: "rb0", Username: "alice", Name: "Expired", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}, 10)
	must(err)
	for range 4 {
		_, err := st.AddFailure(ctx, "alice", store.FailuresPassword, now.Add(-10*time.Second))
		must(err)
	}
	_, err = st.AddFailure(ctx, "alice", voice.BlockedKey, now)
	must(err)
	must(st.RecordSignInEvent(ctx, store.SignInEvent{Username: "alice", At: now.Add(-2 * time.Hour), Method: "passkey", ClientIP: "192.0.2.1", Site: "app.example.com", Outcome: "success", Detail: "Laptop"}))
	must(st.RecordSignInEvent(ctx, store.SignInEvent{Username: "alice", At: now.Add(-time.Hour), Method: "password", ClientIP: "198.51.100.7", Site: "app.example.com", Outcome: "failure"}))
	return f
}

func TestList(t *testing.T) {
	f := newFixture(t)
	list, err := f.svc.List(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"alice", "bob", "carol"}) {
		t.Fatalf("names %v", names)
	}
	a, b, c := list[0], list[1], list[2]
	if want := []string{"totp", "sms", "voice", "push:2", "passkey:1"}; !slices.Equal(a.Methods, want) {
		t.Errorf("alice's methods %v, want %v", a.Methods, want)
	}
	if a.DisplayName != "Alice Example" || a.Email != "alice@example.com" || !slices.Equal(a.Groups, []string{"eng", "ops"}) {
		t.Errorf("alice %+v", a)
	}
	if !a.Locked || a.Disabled {
		t.Errorf("alice locked=%v disabled=%v, want locked and not disabled", a.Locked, a.Disabled)
	}
	if a.LastSignIn == nil || !a.LastSignIn.Equal(now.Add(-2*time.Hour)) {
		t.Errorf("alice's last sign-in %v, want the success 2h ago (not the later failure)", a.LastSignIn)
	}
	if len(b.Methods) != 0 || b.Methods == nil || b.Groups == nil || b.Locked || b.LastSignIn != nil {
		t.Errorf("bob %+v", b)
	}
	if !c.Disabled {
		t.Errorf("carol not disabled: %+v", c)
	}
}

func TestShow(t *testing.T) {
	f := newFixture(t)
	d, err := f.svc.Show(f.ctx, "Alice") // typed in any case
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "alice" || d.TOTP == nil || d.Phone == nil {
		t.Fatalf("details %+v", d)
	}
	if d.Phone.Masked != "+1 ••• ••• ••71" || strings.Contains(d.Phone.Masked, "555") {
		t.Errorf("phone shown as %q", d.Phone.Masked)
	}
	if len(d.Devices) != 2 || d.Devices[0].Name != "Pixel" || d.Devices[1].Name != "iPad" || d.Devices[0].Notifications != "off" {
		t.Errorf("devices %+v", d.Devices)
	}
	if len(d.Credentials) != 1 || d.Credentials[0].Name != "YubiKey" || d.Credentials[0].Method != "passkey" {
		t.Errorf("credentials %+v", d.Credentials)
	}
	if len(d.RememberedBrowsers) != 1 || d.RememberedBrowsers[0].Name != "Firefox on Linux" || d.RememberedBrowsers[0].LastUsed != nil {
		t.Errorf("remembered browsers %+v", d.RememberedBrowsers)
	}
	pw := d.Lockout[0]
	if pw.Counter != "password" || pw.Failures != 4 || !pw.Locked || pw.HardLocked || pw.LockedUntil == nil || !pw.LockedUntil.Equal(now.Add(50*time.Second)) {
		t.Errorf("password counter %+v", pw)
	}
	if code := d.Lockout[1]; code.Counter != "code" || code.Failures != 0 || code.Locked || code.LastFailure != nil {
		t.Errorf("code counter %+v", code)
	}
	if !slices.Equal(d.BlockedMethods, []string{"voice"}) {
		t.Errorf("blocked methods %v", d.BlockedMethods)
	}
	if len(d.RecentActivity) != 2 || d.RecentActivity[0].Outcome != "failure" || d.RecentActivity[1].Site != "app.example.com" || d.RecentActivity[1].Detail != "Laptop" {
		t.Errorf("recent activity %+v", d.RecentActivity)
	}

	// A hard lock has no end time.
	for range 6 {
		f.st.AddFailure(f.ctx, "alice", store.FailuresPassword, now)
	}
	d, _ = f.svc.Show(f.ctx, "alice")
	if pw := d.Lockout[0]; !pw.HardLocked || !pw.Locked || pw.LockedUntil != nil {
		t.Errorf("hard-locked counter %+v", pw)
	}

	bob, err := f.svc.Show(f.ctx, "bob")
	if err != nil || bob.TOTP != nil || bob.Phone != nil || bob.Devices == nil || len(bob.Devices) != 0 || bob.BlockedMethods == nil {
		t.Errorf("bob %+v %v", bob, err)
	}
}

func TestUnknownUser(t *testing.T) {
	f := newFixture(t)
	for name, op := range map[string]func() error{
		"show":          func() error { _, err := f.svc.Show(f.ctx, "zed"); return err },
		"unlock":        func() error { _, err := f.svc.Unlock(f.ctx, "zed"); return err },
		"devices":       func() error { _, err := f.svc.Devices(f.ctx, "zed"); return err },
		"remove device": func() error { return f.svc.RemoveDevice(f.ctx, "zed", "dev-Pixel") },
		"invalid name":  func() error { _, err := f.svc.Show(f.ctx, "../etc"); return err },
	} {
		err := op()
		var unknown *UnknownUserError
		if !errors.As(err, &unknown) || !strings.Contains(err.Error(), f.file) {
			t.Errorf("%s: %v, want an UnknownUserError naming %s", name, err, f.file)
		}
	}
	if devs, _ := f.svc.Devices(f.ctx, "alice"); len(devs) != 2 {
		t.Errorf("alice's devices touched: %+v", devs)
	}
}

func TestUsersFileProblems(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "users.yaml")
	if _, err := New(Config{UsersFile: missing, Store: st}).List(ctx); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing users file: %v", err)
	}
	broken := filepath.Join(t.TempDir(), "users.yaml")
	os.WriteFile(broken, []byte("users: [\n"), 0o600)
	if _, err := New(Config{UsersFile: broken, Store: st}).Show(ctx, "alice"); err == nil || !strings.Contains(err.Error(), broken) {
		t.Errorf("broken users file: %v", err)
	}
	err = New(Config{UsersFile: broken, Store: st}).Add(ctx, NewUser{Name: "dave", Password: "a long enough password"})
	if err == nil || !strings.Contains(err.Error(), "not changed") {
		t.Errorf("adding to a broken users file: %v", err)
	}
	if raw, _ := os.ReadFile(broken); string(raw) != "users: [\n" {
		t.Errorf("broken users file changed to %q", raw)
	}
	if _, err := New(Config{Store: st}).List(ctx); !errors.Is(err, ErrNoUsersFile) {
		t.Errorf("no users file: %v", err)
	}
	// Without a users file, the store-only operations work as before.
	if n, err := New(Config{Store: st}).Unlock(ctx, "anyone"); err != nil || n != 0 {
		t.Errorf("unlock without a users file: %d %v", n, err)
	}
}

func TestAdd(t *testing.T) {
	f := newFixture(t)
	err := f.svc.Add(f.ctx, NewUser{Name: "dave", DisplayName: "Dave D", Groups: []string{"ops"}, Password: "dave has a long password"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := password.Open(f.file)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok, _ := d.Authenticate(f.ctx, "127.0.0.1", "dave", "dave has a long password"); !ok || u.DisplayName != "Dave D" {
		t.Errorf("dave: %+v %v", u, ok)
	}
	if _, ok := d.Lookup("carol"); !ok {
		t.Error("adding dave lost carol")
	}
	if e := f.logs.FilterField(zap.String("event", "user-added")).FilterField(zap.String("user", "dave")).All(); len(e) != 1 {
		t.Errorf("user-added events for dave: %+v", e)
	}
	for name, tc := range map[string]struct {
		u    NewUser
		want string
	}{
		"duplicate":      {NewUser{Name: "dave", Password: "a long enough password"}, "already exists"},
		"upper case":     {NewUser{Name: "Dave", Password: "a long enough password"}, "invalid username"},
		"empty password": {NewUser{Name: "erin"}, "at least 8 characters"},
		"common":         {NewUser{Name: "erin", Password: "password123"}, "too common"},
		"newline group":  {NewUser{Name: "erin", Password: "a long enough password", Groups: []string{"a\nb"}}, "group"},
	} {
		if err := f.svc.Add(f.ctx, tc.u); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestUnlock(t *testing.T) {
	f := newFixture(t)
	n, err := f.svc.Unlock(f.ctx, "alice")
	if err != nil || n != 2 { // the password counter and the call block
		t.Fatalf("unlock: %d %v", n, err)
	}
	d, _ := f.svc.Show(f.ctx, "alice")
	if d.Locked || d.Lockout[0].Failures != 0 || len(d.BlockedMethods) != 0 {
		t.Errorf("after unlock: %+v %+v", d.Lockout, d.BlockedMethods)
	}
	if e := f.logs.FilterField(zap.String("event", "user-unlocked")).All(); len(e) != 1 || e[0].ContextMap()["user"] != "alice" {
		t.Errorf("user-unlocked events: %+v", e)
	}
	if n, err := f.svc.Unlock(f.ctx, "alice"); err != nil || n != 0 {
		t.Errorf("second unlock: %d %v", n, err)
	}
	if e := f.logs.FilterField(zap.String("event", "user-unlocked")).All(); len(e) != 1 {
		t.Errorf("an unlock that cleared nothing was logged: %+v", e)
	}
}

func TestRemoveDevice(t *testing.T) {
	f := newFixture(t)
	var nodev *NoDeviceError
	if err := f.svc.RemoveDevice(f.ctx, "bob", "dev-Pixel"); !errors.As(err, &nodev) {
		t.Fatalf("removing alice's device as bob's: %v", err)
	}
	if err := f.svc.RemoveDevice(f.ctx, "alice", "dev-Pixel"); err != nil {
		t.Fatal(err)
	}
	devs, _ := f.svc.Devices(f.ctx, "alice")
	if len(devs) != 1 || devs[0].ID != "dev-iPad" {
		t.Errorf("after removal: %+v", devs)
	}
	if err := f.svc.RemoveDevice(f.ctx, "alice", "dev-Pixel"); !errors.As(err, &nodev) || !strings.Contains(err.Error(), `alice has no device "dev-Pixel"`) {
		t.Errorf("removing it again: %v", err)
	}
	if e := f.logs.FilterField(zap.String("event", "device-removed")).All(); len(e) != 1 || e[0].ContextMap()["device"] != "dev-Pixel" {
		t.Errorf("device-removed events: %+v", e)
	}
}

// TestConcurrentAdds: adds at the same moment through two services on one
// users file (two commands) lose nothing.
func TestConcurrentAdds(t *testing.T) {
	f := newFixture(t)
	other := New(Config{UsersFile: f.file, Store: f.st})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 8 {
		svc := f.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := svc.Add(f.ctx, NewUser{Name: "new" + strconv.Itoa(i), Password: "a long enough password"}); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	list, err := f.svc.List(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3+8 {
		t.Errorf("%d users after 8 concurrent adds to 3, want 11", len(list))
	}
}
