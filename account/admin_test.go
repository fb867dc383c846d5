package account

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/verifiers/password"
)

// revokedBefore returns the latest "not before" the store holds for user.
func revokedBefore(t *testing.T, f *fixture, user string) time.Time {
	t.Helper()
	revs, err := f.st.RevocationsAfter(f.ctx, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	var nb time.Time
	for _, r := range revs {
		if r.Username == user && r.NotBefore.After(nb) {
			nb = r.NotBefore
		}
	}
	return nb
}

func (f *fixture) events(event string) int {
	return len(f.logs.FilterField(zap.String("event", event)).All())
}

func TestDisableEnable(t *testing.T) {
	f := newFixture(t)
	changed, err := f.svc.Disable(f.ctx, "Alice")
	if err != nil || !changed {
		t.Fatalf("disable: %v %v", changed, err)
	}
	if u, _ := f.svc.Lookup("alice"); !u.Disabled {
		t.Error("alice not disabled in the file")
	}
	if nb := revokedBefore(t, f, "alice"); !nb.Equal(now.Add(time.Second)) {
		t.Errorf("alice's sessions not ended: not before %v", nb)
	}
	if changed, err := f.svc.Disable(f.ctx, "alice"); err != nil || changed {
		t.Errorf("disabling again: %v %v", changed, err)
	}
	if changed, err := f.svc.Enable(f.ctx, "alice"); err != nil || !changed {
		t.Errorf("enable: %v %v", changed, err)
	}
	if u, _ := f.svc.Lookup("alice"); u.Disabled {
		t.Error("alice still disabled")
	}
	if changed, _ := f.svc.Enable(f.ctx, "alice"); changed {
		t.Error("enabling an enabled user changed something")
	}
	if f.events("user-disabled") != 1 || f.events("user-enabled") != 1 {
		t.Errorf("audit: %d disabled, %d enabled", f.events("user-disabled"), f.events("user-enabled"))
	}
	ev, _ := f.st.RecentSignInEvents(f.ctx, "alice", 2)
	if len(ev) != 2 || ev[0].Outcome != "user-enabled" || ev[1].Outcome != "user-disabled" {
		t.Errorf("Recent activity: %+v", ev)
	}
	var unknown *UnknownUserError
	if _, err := f.svc.Disable(f.ctx, "zed"); !errors.As(err, &unknown) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestSignOutAndResetMethods(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.SignOut(f.ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if nb := revokedBefore(t, f, "bob"); !nb.Equal(now.Add(time.Second)) {
		t.Errorf("bob: not before %v", nb)
	}
	if !revokedBefore(t, f, "alice").IsZero() {
		t.Error("bob's sign-out revoked alice")
	}
	// Without the gateway's configuration (a command run with --store
	// alone) the revocation still outlives any "Stay signed in" session:
	// pruned a year later, it is still there.
	if err := f.st.Prune(f.ctx, now.Add(365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if nb := revokedBefore(t, f, "bob"); nb.IsZero() {
		t.Error("bob's sign-out was pruned within a year")
	}
	n, err := f.svc.ResetMethods(f.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 { // the app, the phone (texts and calls), 2 devices, a passkey
		t.Errorf("removed %d methods, want 5", n)
	}
	if c, _ := f.st.MethodCount(f.ctx, "alice"); c != 0 {
		t.Errorf("alice still has %d methods", c)
	}
	if ok, _ := f.st.RegistrationGranted(f.ctx, "alice"); !ok {
		t.Error("no registration grant")
	}
	if revokedBefore(t, f, "alice").IsZero() {
		t.Error("alice's sessions not ended")
	}
	if d, _ := f.svc.Show(f.ctx, "alice"); !d.RegistrationGranted {
		t.Error("show does not tell of the grant")
	}
	// A method added on Security info (not a first-sign-in registration)
	// leaves the grant in the store; show no longer mentions it.
	if err := f.st.SetTOTP(f.ctx, "alice", []byte("sealed"), 1); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.svc.Show(f.ctx, "alice"); d.RegistrationGranted {
		t.Error("show tells of a grant for a user with a method")
	}
	if f.events("methods-reset") != 1 || f.events("user-signed-out") != 1 {
		t.Error("audit events missing")
	}
}

func TestSetPassword(t *testing.T) {
	f := newFixture(t)
	for pw, want := range map[string]string{
		"short":                  "at least 8",
		"password123":            "too common",
		"Alice Example":          "username or name",
		"alice":                  "at least 8",
		strings.Repeat("é", 257): "at most 256",
	} {
		var pe *password.PolicyError
		if _, err := f.svc.SetPassword(f.ctx, "alice", pw); !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a policy error saying %q", pw, err, want)
		}
	}
	if !revokedBefore(t, f, "alice").IsZero() {
		t.Error("a refused password ended the sessions")
	}
	rv, err := f.svc.SetPassword(f.ctx, "alice", "a brand new passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if !rv.NotBefore.Equal(now.Add(time.Second)) || rv.Seq == 0 {
		t.Errorf("revocation %+v", rv)
	}
	d, _ := password.Open(f.file)
	if _, ok, _ := d.Authenticate(f.ctx, "src", "alice", "a brand new passphrase"); !ok {
		t.Error("the new password does not work")
	}
	if _, ok := d.Lookup("carol"); !ok {
		t.Error("carol lost")
	}
}

// TestConcurrentWritersLoseNothing: passwords set, users disabled and
// users added at the same moment all end up in the users file.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		_, err := f.svc.SetPassword(f.ctx, "alice", "alice's brand new one")
		errs <- err
	}()
	go func() { defer wg.Done(); _, err := f.svc.Disable(f.ctx, "bob"); errs <- err }()
	go func() {
		defer wg.Done()
		errs <- f.svc.Add(f.ctx, NewUser{Name: "dave", Password: "dave has a long password"})
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d, _ := password.Open(f.file)
	if _, ok, _ := d.Authenticate(f.ctx, "src", "alice", "alice's brand new one"); !ok {
		t.Error("alice's password lost")
	}
	if u, _ := d.Lookup("bob"); !u.Disabled {
		t.Error("bob's disable lost")
	}
	if _, ok := d.Lookup("dave"); !ok {
		t.Error("dave lost")
	}
}

func TestAccessPass(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.IssueAccessPass(f.ctx, "alice", PassOptions{}); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("without keys: %v", err)
	}
	f.svc.cfg.PassKeys = [][]byte{[]byte("new key"), []byte("old key")}
	for o, want := range map[PassOptions]string{
		{Length: 7}:                     "8 to 48 characters",
		{Length: 49}:                    "8 to 48 characters",
		{Lifetime: 9 * time.Minute}:     "10m0s to 30 days",
		{Lifetime: 31 * 24 * time.Hour}: "10m0s to 30 days",
	} {
		if _, err := f.svc.IssueAccessPass(f.ctx, "alice", o); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", o, err, want)
		}
	}
	var unknown *UnknownUserError
	if _, err := f.svc.IssueAccessPass(f.ctx, "zed", PassOptions{}); !errors.As(err, &unknown) {
		t.Errorf("unknown user: %v", err)
	}
	p, err := f.svc.IssueAccessPass(f.ctx, "alice", PassOptions{Length: 48})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pass) != 48 || strings.Trim(p.Pass, passAlphabet) != "" || !p.Expires.Equal(now.Add(time.Hour)) || p.Reusable {
		t.Errorf("pass %+v", p)
	}
	stored, _ := f.st.AccessPassOf(f.ctx, "alice")
	if strings.Contains(string(stored.Hash), p.Pass) {
		t.Error("the pass is stored in the clear")
	}
	if _, err := f.svc.UseAccessPass(f.ctx, "bob", p.Pass); !errors.Is(err, ErrBadPass) {
		t.Errorf("alice's pass for bob: %v", err)
	}
	if _, err := f.svc.UseAccessPass(f.ctx, "alice", strings.ToLower(p.Pass[:10])+"-"+p.Pass[10:]); err != nil {
		t.Errorf("typed in lower case with a dash: %v", err)
	}
	if _, err := f.svc.UseAccessPass(f.ctx, "alice", p.Pass); !errors.Is(err, ErrBadPass) {
		t.Errorf("used twice: %v", err)
	}
	// A pass issued under the old secret still works after a rotation.
	f.svc.cfg.PassKeys = [][]byte{[]byte("old key")}
	q, _ := f.svc.IssueAccessPass(f.ctx, "bob", PassOptions{Reusable: true})
	f.svc.cfg.PassKeys = [][]byte{[]byte("new key"), []byte("old key")}
	for range 2 {
		if _, err := f.svc.UseAccessPass(f.ctx, "bob", q.Pass); err != nil {
			t.Errorf("reusable pass under the old key: %v", err)
		}
	}
	if f.events("access-pass-issued") != 2 || f.events("access-pass-used") != 3 {
		t.Errorf("audit: %d issued, %d used", f.events("access-pass-issued"), f.events("access-pass-used"))
	}
}
