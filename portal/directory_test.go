package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/password"
)

// readOnly is a user directory Stepgate does not write to (as LDAP is):
// only the directory.Directory methods of the one it wraps.
type readOnly struct{ directory.Directory }

func withReadOnlyUsers(c *Config) { c.Users = readOnly{c.Users} }

// withHelp is a read-only directory with a password_help.
type withHelp struct{ readOnly }

func (withHelp) PasswordHelp() string { return "at https://passwords.example.com" }

// With a directory that keeps the passwords, Security info has no Change
// password link and says where to change it, the page itself says the
// same, and password_reset is refused at start.
func TestPasswordKeptElsewhere(t *testing.T) {
	e := newEnv(t, withReadOnlyUsers)
	b, _ := freshAlice(t, e)
	page := b.get(sip)
	if strings.Contains(page.body, `id="change-password"`) || !strings.Contains(page.body, `id="password-elsewhere"`) ||
		!strings.Contains(page.body, "usual password tool") {
		t.Errorf("Security info:\n%s", page.body)
	}
	if r := b.get(sip + "/password"); r.status != http.StatusNotFound || !strings.Contains(r.body, "Change your password elsewhere") {
		t.Errorf("Change password page: %d\n%s", r.status, r.body)
	}
	cfg := e.cfg
	cfg.PasswordReset = true
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "password_reset: the passwords are kept in the users file") {
		t.Errorf("password_reset with a read-only directory: %v", err)
	}
	// A directory that says where passwords are changed is quoted.
	helped := newEnv(t, func(c *Config) { c.Users = withHelp{readOnly{c.Users}} })
	hb, _ := freshAlice(t, helped)
	const linked = `Change it at <a href="https://passwords.example.com" rel="noopener noreferrer">https://passwords.example.com</a>.`
	if page := hb.get(sip); !strings.Contains(page.body, linked) {
		t.Errorf("Security info with password help:\n%s", page.body)
	}
	if r := hb.get(sip + "/password"); !strings.Contains(r.body, linked) {
		t.Errorf("Change password page with password help:\n%s", r.body)
	}
	// The users file itself keeps its link.
	plain := newEnv(t)
	pb, _ := freshAlice(t, plain)
	if page := pb.get(sip); !strings.Contains(page.body, `id="change-password"`) || strings.Contains(page.body, "password-elsewhere") {
		t.Errorf("Security info with the users file:\n%s", page.body)
	}
}

// aliased is a directory where people also sign in as name@example.com
// (as Active Directory's userPrincipalName): the password is checked for
// the account the other name belongs to.
type aliased struct{ directory.Directory }

func (a aliased) Canonical(name string) string {
	if u, ok := strings.CutSuffix(name, "@example.com"); ok {
		if _, known := a.Lookup(u); known {
			return u
		}
	}
	return name
}

func (a aliased) Authenticate(ctx context.Context, source, name, pw string) (verifiers.User, bool, error) {
	return a.Directory.Authenticate(ctx, source, a.Canonical(password.NormalizeName(name)), pw)
}

// Every name of one account shares its lockout: wrong passwords typed
// under her other name lock alice, and her right password under either
// name clears it.
func TestOtherNamesShareTheLockout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Users = aliased{c.Users} })
	b := e.browser()
	if r := b.login("Alice@example.com", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("alice under her other name: %d %s", r.status, r.body)
	}
	for i := 0; i < 3; i++ {
		b.login("alice", "wrong")
		b.login("alice@example.com", "wrong")
	}
	if r := e.browser().login("alice", testPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("alice after 6 wrong passwords under two names: %d", r.status)
	}
	if r := e.browser().login("alice@example.com", testPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("her other name after 6 wrong passwords: %d", r.status)
	}
}
