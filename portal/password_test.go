package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/account"
)

const newPassword = "violet staple orbit canoe"

// TestChangePassword: the current password, then the new one twice; each
// refusal says why and changes nothing; the change ends the user's other
// sessions, keeps this one, and the new password works at once.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	b, secret := freshAlice(t, e)
	c := e.browser()
	if r := c.signIn("alice", secret); r.status != http.StatusSeeOther {
		t.Fatalf("second browser: %d", r.status)
	}
	if r := b.get(sip); !strings.Contains(r.body, `href="/.stepgate/security-info/password"`) {
		t.Fatalf("no Change password link:\n%s", r.body)
	}
	if r := b.get(sip + "/password"); r.status != http.StatusOK || !strings.Contains(r.body, `name="current"`) {
		t.Fatalf("the form: %d %s", r.status, r.body)
	}
	change := func(current, next, confirm string) resp {
		return b.post(sip+"/password", sip+"/password", url.Values{"current": {current}, "new": {next}, "confirm": {confirm}})
	}
	for _, tc := range []struct {
		current, next, confirm string
		status                 int
		says                   string
	}{
		{"wrong password", newPassword, newPassword, http.StatusUnauthorized, "current password is incorrect"},
		{testPassword, newPassword, newPassword + "x", http.StatusBadRequest, "don&#39;t match"},
		{testPassword, "short", "short", http.StatusBadRequest, "at least 8 characters"},
		{testPassword, "password123", "password123", http.StatusBadRequest, "too common"},
		{testPassword, "Alice Example", "Alice Example", http.StatusBadRequest, "your username or name"},
		{testPassword, strings.Repeat("x", 257), strings.Repeat("x", 257), http.StatusBadRequest, "at most 256"},
	} {
		r := change(tc.current, tc.next, tc.confirm)
		if r.status != tc.status || !strings.Contains(r.body, tc.says) {
			t.Errorf("%q → %q: %d, want %d saying %q:\n%s", tc.current, tc.next, r.status, tc.status, tc.says, r.body)
		}
	}
	if !e.signedIn(c) {
		t.Fatal("a refused change signed the other browser out")
	}
	e.clock.Add(1500 * time.Millisecond)
	r := change(testPassword, newPassword, newPassword)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != sip+"?done=password-changed" {
		t.Fatalf("change: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	if e.signedIn(c) {
		t.Error("the other browser is still signed in")
	}
	if !e.signedIn(b) {
		t.Error("this browser was signed out")
	}
	if r := b.get(sip + "?done=password-changed"); !strings.Contains(r.body, "Your password was changed") || !strings.Contains(r.body, "Password changed; signed out everywhere else") {
		t.Errorf("confirmation or Recent activity missing:\n%s", r.body)
	}
	// The new password works at once, the old one no more; bob's entry
	// is untouched.
	d := e.browser()
	if r := d.login("alice", testPassword); r.status != http.StatusUnauthorized {
		t.Errorf("old password: %d", r.status)
	}
	if r := d.login("alice", newPassword); r.status != http.StatusSeeOther {
		t.Errorf("new password: %d %s", r.status, r.body)
	}
	if r := e.browser().login("bob", testPassword); r.status != http.StatusSeeOther {
		t.Errorf("bob after alice's change: %d", r.status)
	}
}

// TestChangePasswordGuessesCount: wrong current passwords count toward the
// lockout, so an unattended session is no way to guess the password.
func TestChangePasswordGuessesCount(t *testing.T) {
	e := newEnv(t)
	b, _ := freshAlice(t, e)
	for i := range 5 {
		r := b.post(sip+"/password", sip+"/password", url.Values{"current": {"guess " + string(rune('a'+i))}, "new": {newPassword}, "confirm": {newPassword}})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, r.status)
		}
	}
	r := b.post(sip+"/password", sip+"/password", url.Values{"current": {testPassword}, "new": {newPassword}, "confirm": {newPassword}})
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "temporarily locked") {
		t.Fatalf("after 5 guesses: %d %s", r.status, r.body)
	}
}

// TestPassSessionSetsPasswordWithoutTheOldOne: a user the help desk gave a
// pass (who may have forgotten their password) sets a new one without
// typing the old.
func TestPassSessionSetsPasswordWithoutTheOldOne(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	pass := issuePass(t, e, "alice", account.PassOptions{})
	if r := b.usePass("alice", pass); r.status != http.StatusSeeOther {
		t.Fatalf("pass: %d", r.status)
	}
	if r := b.get(sip + "/password"); strings.Contains(r.body, `name="current"`) {
		t.Fatal("a pass session is asked for the current password")
	}
	r := b.post(sip+"/password", sip+"/password", url.Values{"new": {newPassword}, "confirm": {newPassword}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("setting a password: %d %s", r.status, r.body)
	}
	if r := e.browser().login("alice", newPassword); r.status != http.StatusSeeOther {
		t.Fatalf("the new password: %d", r.status)
	}
}

// TestResetMethodsGrantsOneRegistration: with registration off, a user
// whose methods an administrator reset sets up one method at their next
// sign-in, and only one.
func TestResetMethodsGrantsOneRegistration(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FirstSignInRegistration = false })
	ctx := context.Background()
	b := e.browser()
	if r := b.login("alice", testPassword); r.status != http.StatusForbidden {
		t.Fatalf("before the reset: %d", r.status)
	}
	if _, err := e.p.accounts.ResetMethods(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	secret := b.register("alice")
	if ok, _ := e.st.RegistrationGranted(ctx, "alice"); ok {
		t.Fatal("the grant outlived the registration")
	}
	if r := e.browser().signIn("alice", secret); r.status != http.StatusSeeOther {
		t.Fatalf("signing in with the new app: %d", r.status)
	}
	// Bob got no grant.
	if r := e.browser().login("bob", testPassword); r.status != http.StatusForbidden {
		t.Fatalf("bob: %d", r.status)
	}
}
