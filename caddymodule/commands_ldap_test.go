package caddymodule

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
)

// With `directory ldap` in the config, the `stepgate user` commands list
// and show the directory's users (its locked account as disabled), and
// the ones that would change a user say to do that in the directory.
func TestUserCommandsWithLDAP(t *testing.T) {
	gatewaytest.LDAPAdmin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	caddyfile := filepath.Join(dir, "Caddyfile")
	writeFile(t, caddyfile, fmt.Sprintf(`{
	stepgate {
		%s
		secret 0123456789abcdef0123456789abcdef
		store sqlite %s
	}
}
`, gatewaytest.LDAPDirectory(t, gatewaytest.LDAPServer(), ""), db))

	out, err := runCmd(t, userListCommand(), "", "--config", caddyfile)
	if err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^alice +Alice Example +admins,staff +- +no +no +never$`,
		`(?m)^bob +Bob Example +staff +`,
		`(?m)^carol +Carol Example +- +- +no +yes +never$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("list: no line like %s in\n%s", want, out)
		}
	}
	if out, err := runCmd(t, userShowCommand(), "", "Alice", "--config", caddyfile); err != nil || !strings.Contains(out, "alice (Alice Example)") {
		t.Errorf("show: %v\n%s", err, out)
	}
	if _, err := runCmd(t, userShowCommand(), "", "zed", "--config", caddyfile); err == nil || !strings.Contains(err.Error(), "the LDAP directory "+gatewaytest.LDAPServer()) {
		t.Errorf("show zed: %v", err)
	}
	for name, run := range map[string]func() (string, error){
		"add": func() (string, error) {
			return runCmd(t, userAddCommand(), "a long new password\n", "zed", "--config", caddyfile, "--password-stdin")
		},
		"disable": func() (string, error) { return runCmd(t, userDisableCommand(), "", "bob", "--config", caddyfile) },
		"passwd": func() (string, error) {
			return runCmd(t, userPasswdCommand(), "a long new password\n", "bob", "--config", caddyfile, "--password-stdin")
		},
	} {
		out, err := run()
		var ro *account.ReadOnlyError
		if !errors.As(err, &ro) || !strings.Contains(err.Error(), "the users come from the LDAP directory") {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}
