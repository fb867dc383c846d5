package portal

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/directory"
)

// readOnly is a user directory Stepgate does not write to (as LDAP is):
// only the directory.Directory methods of the one it wraps.
type readOnly struct{ directory.Directory }

func withReadOnlyUsers(c *Config) { c.Users = readOnly{c.Users} }

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
	// The users file itself keeps its link.
	plain := newEnv(t)
	pb, _ := freshAlice(t, plain)
	if page := pb.get(sip); !strings.Contains(page.body, `id="change-password"`) || strings.Contains(page.body, "password-elsewhere") {
		t.Errorf("Security info with the users file:\n%s", page.body)
	}
}
