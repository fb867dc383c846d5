package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
)

// TestLDAPDirectoryThroughCaddy: with `directory ldap { … }` the users are
// the directory's. Alice signs in with her directory password (and sets up
// her authenticator app, as a users file's user would), and the app gets
// her groups, nested ones included; wrong passwords, the expired account
// and the lockout get the pages they should; the help desk unlocks and
// gives a Temporary Access Pass with `stepgate user`; a user an administrator
// locks in the directory loses her session within the refresh; and with
// the directory unreachable a signed-in user goes on while a new sign-in
// gets "temporarily unavailable", until it is back.
func TestLDAPDirectoryThroughCaddy(t *testing.T) {
	admin := gatewaytest.LDAPAdmin(t)
	erinDN := gatewaytest.LDAPUser(t, admin, "erin", "erin-ldap-pass", nil)
	erin := gatewaytest.LDAPUID(erinDN)
	db := filepath.Join(t.TempDir(), "state.db")
	server := gatewaytest.NewOutage(t, strings.TrimPrefix(gatewaytest.LDAPServer(), "ldap://"))
	block := gatewaytest.LDAPDirectory(t, "ldap://"+server.Addr(), `refresh 1s
			timeout 2s
			password_help "at https://passwords.example.com"`) + fmt.Sprintf(`
		secret %s
		store sqlite %s
		registration first_sign_in
		help_contact "the help desk"`, testSecret, db)
	sites := fmt.Sprintf(`
http://localhost:9080, http://127.0.0.1:9080 {
	stepgate
	reverse_proxy %s
}
`, echoBackend(t))
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(startCaddyfile(t, block, sites)), 0o600); err != nil {
		t.Fatal(err)
	}

	alice := newClient(t)
	if _, r := alice.Register("alice", "alice-ldap-pass", "/"); r.Status != http.StatusSeeOther {
		t.Fatalf("alice's first sign-in: %d %s", r.Status, r.Body)
	}
	app := alice.get("/")
	if !strings.Contains(app.body, "Remote-User: alice\n") || !strings.Contains(app.body, "Remote-Groups: admins,staff\n") ||
		!strings.Contains(app.body, "Remote-Name: Alice Example\n") {
		t.Fatalf("the app got:\n%s", app.body)
	}

	// Her password is the directory's: Security info says where to change it.
	if r := alice.get("/.stepgate/security-info"); !strings.Contains(r.body, `id="password-elsewhere">Your password is kept in your organisation&#39;s directory. Change it at <a href="https://passwords.example.com" rel="noopener noreferrer">https://passwords.example.com</a>.<`) ||
		strings.Contains(r.body, `id="change-password"`) {
		t.Errorf("Security info:\n%s", r.body)
	}

	signIn := func(user, pw string) response {
		return newClient(t).post("/.stepgate/", "/.stepgate/", url.Values{"username": {user}, "password": {pw}})
	}
	for _, c := range []struct {
		user, pw string
		status   int
		says     string
	}{
		{"alice", "wrong", http.StatusUnauthorized, "Your account or password is incorrect"},
		{"nobody", "alice-ldap-pass", http.StatusUnauthorized, "Your account or password is incorrect"},
		{"alice)(uid=*", "alice-ldap-pass", http.StatusUnauthorized, "Your account or password is incorrect"},
		{"dave", "dave-ldap-pass", http.StatusForbidden, `Your password has expired: change it at <a href="https://passwords.example.com" rel="noopener noreferrer">https://passwords.example.com</a>`},
	} {
		if r := signIn(c.user, c.pw); r.status != c.status || !strings.Contains(r.body, c.says) {
			t.Errorf("%s / %s: %d, want %d %q", c.user, c.pw, r.status, c.status, c.says)
		}
	}

	// Wrong directory passwords lock the account as the users file's do:
	// then even the right one is refused for a while.
	var frankLocked bool
	for range 10 {
		if r := signIn("frank", "wrong"); r.status == http.StatusTooManyRequests {
			frankLocked = true
			break
		}
	}
	if r := signIn("frank", "frank-ldap-pass"); !frankLocked || r.status != http.StatusTooManyRequests {
		t.Errorf("frank after 10 wrong passwords: locked %v, right password %d", frankLocked, r.status)
	}

	// The help desk works for directory users as for the users file's:
	// `stepgate user unlock` lets frank in again, and a Temporary Access
	// Pass from `stepgate user tap` signs bob in to Security info.
	if out, err := userCommand(t, "", "unlock", "frank", "--config", caddyfile); err != nil {
		t.Fatalf("unlock frank: %v\n%s", err, out)
	}
	if r := signIn("frank", "frank-ldap-pass"); r.status != http.StatusSeeOther {
		t.Errorf("frank after the unlock: %d", r.status)
	}
	out, err := userCommand(t, "", "tap", "bob", "--json", "--config", caddyfile)
	var tap adminResult
	if err != nil || json.Unmarshal([]byte(out), &tap) != nil || tap.Pass == nil {
		t.Fatalf("tap bob: %v\n%s", err, out)
	}
	bob := newClient(t)
	if r := usePass(bob, "bob", tap.Pass.Pass); r.status != http.StatusSeeOther || r.location != si+"?done=pass" {
		t.Errorf("bob's pass: %d %q %s", r.status, r.location, r.body)
	}
	// Bob has no method yet: the app waits until he sets one up.
	if r := bob.get("/"); r.status != http.StatusFound || r.location != si+"?done=set-up-first" {
		t.Errorf("the app for bob's pass session: %d %q", r.status, r.location)
	}
	if r := bob.get(si); r.status != http.StatusOK || !strings.Contains(r.body, "Add an authenticator app") {
		t.Errorf("Security info for bob's pass session: %d\n%s", r.status, r.body)
	}

	// Erin signs in; an administrator locks her in the directory; within
	// the refresh (1 s) plus 5 s her session is refused.
	ec := newClient(t)
	if _, r := ec.Register(erin, "erin-ldap-pass", "/"); r.Status != http.StatusSeeOther {
		t.Fatalf("erin's first sign-in: %d %s", r.Status, r.Body)
	}
	if r := ec.get("/"); r.status != http.StatusOK {
		t.Fatalf("erin signed in: %d", r.status)
	}
	mod := ldap.NewModifyRequest(erinDN, nil)
	mod.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := admin.Modify(mod); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	for ec.get("/").status == http.StatusOK {
		if time.Since(locked) > 6*time.Second {
			t.Fatal("erin, locked in the directory, still gets in after 6 s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The directory unreachable: alice's session goes on, a new sign-in
	// is "temporarily unavailable" (503), never "incorrect".
	failures := func() int {
		st, err := store.OpenSQLite(db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		f, err := st.Failures(context.Background(), "alice", store.FailuresPassword)
		if err != nil {
			t.Fatal(err)
		}
		return f.Count
	}
	before := failures()
	server.Down()
	if r := alice.get("/"); r.status != http.StatusOK {
		t.Errorf("alice's session with the directory down: %d", r.status)
	}
	if r := signIn("alice", "alice-ldap-pass"); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") {
		t.Errorf("sign-in with the directory down: %d\n%s", r.status, r.body)
	}
	if n := failures(); n != before {
		t.Errorf("the unavailable sign-in counted toward the lockout: %d failures, %d before", n, before)
	}
	server.Up()
	if r := signIn("alice", "alice-ldap-pass"); r.status != http.StatusSeeOther || r.location != "/.stepgate/verify" {
		t.Errorf("sign-in once the directory is back: %d %q", r.status, r.location)
	}
}
