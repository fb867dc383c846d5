package portal

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/internal/testmethod"
	"github.com/stepgate/stepgate/verifiers"
)

var backupCodeRe = regexp.MustCompile(`id="backup-code">([0-9]{8})<`)

// withBackupCodes registers the test-only backup-code method, which the
// portal's code has never heard of.
func withBackupCodes(c *Config) {
	c.Methods = append(c.Methods, testmethod.New)
}

// setUpBackupCode runs first-sign-in registration with the backup-code
// method and returns the code.
func setUpBackupCode(t *testing.T, b *browser, user string) string {
	t.Helper()
	b.login(user, testPassword)
	first := b.get(Prefix + "register")
	if !strings.Contains(first.body, `href="/.stepgate/register/backup" id="use-backup">Use a backup code instead</a>`) {
		t.Fatalf("registration does not offer the plugged-in method: %s", first.body)
	}
	page := b.get(Prefix + "register/backup")
	m := backupCodeRe.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("backup set-up page: %d %s", page.status, page.body)
	}
	if r := b.post(Prefix+"register/backup", Prefix+"register/backup", url.Values{"code": {"1234567"}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, "Enter the 8-digit code.") {
		t.Fatalf("a short code: %d", r.status)
	}
	r := b.post(Prefix+"register/backup", Prefix+"register/backup", url.Values{"code": {m[1]}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("confirming the backup code: %d %s", r.status, r.body)
	}
	return m[1]
}

// TestPluggedInMethodSignsIn: a method registered only through
// Config.Methods is offered at first-sign-in registration, set up with its
// own page, used as the second step, and counted by "is this user set
// up?", with no change to the portal.
func TestPluggedInMethodSignsIn(t *testing.T) {
	e := newEnv(t, withBackupCodes)
	b := e.browser()
	code := setUpBackupCode(t, b, "alice")
	if len(e.events("method-added", "success")) != 1 {
		t.Error("no method-added event")
	}

	// Signing in again: the backup code is alice's only method, so the
	// verify page asks for it, in its own words.
	c := e.browser()
	if r := c.login("alice", testPassword); r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("login: %d %s", r.status, r.header.Get("Location"))
	}
	page := c.get(Prefix + "verify")
	if !strings.Contains(page.body, "Enter one of your backup codes.") || !strings.Contains(page.body, `data-autosubmit="8"`) {
		t.Fatalf("verify page: %s", page.body)
	}
	wrong := "0" + code[1:]
	if wrong == code {
		wrong = "1" + code[1:]
	}
	if r := c.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {wrong}}); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "That backup code didn&#39;t work.") {
		t.Fatalf("wrong code: %d", r.status)
	}
	if r := c.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {code}}); r.status != http.StatusSeeOther {
		t.Fatalf("right code: %d %s", r.status, r.body)
	}
	if !e.signedIn(c) {
		t.Fatal("not signed in with the plugged-in method")
	}

	// alice now has a method the portal only knows through the registry:
	// someone with her password gets no registration.
	d := e.browser()
	d.login("alice", testPassword)
	if r := d.get(Prefix + "register/app"); !strings.Contains(r.body, "Sign in") || strings.Contains(r.body, `id="secret"`) {
		t.Fatalf("registration offered to a user set up with the plugged-in method: %s", r.body)
	}
}

// TestPluggedInMethodCountsAsSetUp: a user whose only method is a
// plugged-in one is never walked through first-sign-in registration.
func TestPluggedInMethodCountsAsSetUp(t *testing.T) {
	e := newEnv(t, withBackupCodes)
	setUpBackupCode(t, e.browser(), "bob")
	alice, _ := e.cfg.Users.Lookup("bob")
	if any, err := e.p.anySetUp(t.Context(), alice); err != nil || !any {
		t.Fatalf("anySetUp: %v %v", any, err)
	}
	// And a Config without the method still sees bob's credential in the
	// store: turning a method off does not reopen registration.
	e2 := newEnvWith(t, e.usersFile, e.st)
	if any, err := e2.p.anySetUp(t.Context(), alice); err != nil || !any {
		t.Fatalf("anySetUp with the method turned off: %v %v", any, err)
	}
	var _ verifiers.Factory = testmethod.New
}

// TestPluggedInMethodOnSecurityInfo: the plugged-in method is offered,
// added, listed, renamed and deleted on the Security info page, which
// knows it only through the registry.
func TestPluggedInMethodOnSecurityInfo(t *testing.T) {
	e := newEnv(t, withBackupCodes)
	b, _ := freshAlice(t, e)
	page := b.get(sip)
	if !strings.Contains(page.body, `href="/.stepgate/security-info/add/backup" id="add-backup">Add a backup code</a>`) {
		t.Fatalf("Security info does not offer the plugged-in method: %s", page.body)
	}
	set := b.get(sip + "/add/backup")
	m := backupCodeRe.FindStringSubmatch(set.body)
	if m == nil {
		t.Fatalf("set-up page: %d %s", set.status, set.body)
	}
	if r := b.post(sip+"/add/backup", sip+"/add/backup", url.Values{"code": {m[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("adding: %d %s", r.status, r.body)
	}
	creds, _ := e.st.Credentials(t.Context(), "alice", testmethod.Name)
	if len(creds) != 1 {
		t.Fatalf("credentials: %+v", creds)
	}
	page = b.get(sip)
	if !strings.Contains(page.body, "Backup code") || !strings.Contains(page.body, `value="`+creds[0].ID+`"`) {
		t.Fatalf("the plugged-in credential is not listed: %s", page.body)
	}
	if r := b.post(sip, sip+"/rename", url.Values{"method": {testmethod.Name}, "id": {creds[0].ID}, "name": {"Printed sheet"}}); r.status != http.StatusSeeOther {
		t.Fatalf("renaming: %d %s", r.status, r.body)
	}
	if r := b.post(sip, sip+"/remove", url.Values{"method": {testmethod.Name}, "id": {creds[0].ID}}); r.status != http.StatusSeeOther {
		t.Fatalf("deleting: %d %s", r.status, r.body)
	}
	if creds, _ := e.st.Credentials(t.Context(), "alice", testmethod.Name); len(creds) != 0 {
		t.Fatalf("after deleting: %+v", creds)
	}
}
