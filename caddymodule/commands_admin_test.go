package caddymodule

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/portal"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

// TestUserAdminCommands runs disable, enable, sign-out, passwd,
// reset-methods and tap against a Caddyfile, as a help desk would, and
// checks what each did to the users file and the store, in words and in
// --json.
func TestUserAdminCommands(t *testing.T) {
	s := newAccountsSetup(t)
	ctx := context.Background()
	run := func(cmd string, stdin string, args ...string) string {
		t.Helper()
		c := map[string]func() *cobra.Command{
			"disable": userDisableCommand, "enable": userEnableCommand, "sign-out": userSignOutCommand,
			"passwd": userPasswdCommand, "reset-methods": userResetMethodsCommand, "tap": userTapCommand,
		}[cmd]
		out, err := runCmd(t, c(), stdin, append(args, "--config", s.caddyfile)...)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", cmd, args, err, out)
		}
		return out
	}
	users := func() *password.Directory {
		d, err := password.Open(s.users)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	openStore := func() *store.SQLite {
		st, err := store.OpenSQLite(s.state)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}

	if out := run("disable", "", "bob"); out != "disabled bob; their sessions are ended\n" {
		t.Errorf("disable printed %q", out)
	}
	if u, _ := users().Lookup("bob"); !u.Disabled {
		t.Error("bob not disabled")
	}
	if out := run("disable", "", "bob", "--json"); !strings.Contains(out, `"changed": false`) || !strings.Contains(out, `"action": "disable"`) {
		t.Errorf("disable again --json printed %s", out)
	}
	if out := run("enable", "", "bob"); out != "enabled bob\n" {
		t.Errorf("enable printed %q", out)
	}
	if u, _ := users().Lookup("bob"); u.Disabled {
		t.Error("bob still disabled")
	}
	if out := run("sign-out", "", "alice"); out != "signed out every session of alice\n" {
		t.Errorf("sign-out printed %q", out)
	}
	st := openStore()
	revs, _ := st.RevocationsAfter(ctx, 0, time.Now())
	found := map[string]bool{}
	for _, r := range revs {
		found[r.Username] = true
	}
	if !found["alice"] || !found["bob"] {
		t.Errorf("revocations %+v", revs)
	}

	if out := run("passwd", "a fresh passphrase\n", "alice", "--password-stdin"); !strings.Contains(out, "set the password of alice") {
		t.Errorf("passwd printed %q", out)
	}
	if _, ok, _ := users().Authenticate(ctx, "src", "alice", "a fresh passphrase"); !ok {
		t.Error("alice's new password does not work")
	}

	var res struct {
		User    string `json:"user"`
		Changed bool   `json:"changed"`
		Removed *int   `json:"removed"`
		Pass    *struct {
			Pass     string    `json:"pass"`
			Expires  time.Time `json:"expires"`
			Reusable bool      `json:"reusable"`
		} `json:"pass"`
	}
	if err := json.Unmarshal([]byte(run("reset-methods", "", "alice", "--json")), &res); err != nil || res.Removed == nil || *res.Removed != 3 || !res.Changed {
		t.Errorf("reset-methods --json: %+v %v", res, err)
	}
	if n, _ := st.MethodCount(ctx, "alice"); n != 0 {
		t.Errorf("alice has %d methods after the reset", n)
	}

	out := run("tap", "", "alice", "--lifetime", "2h", "--reusable")
	if !strings.Contains(out, "Temporary Access Pass for alice: ") || !strings.Contains(out, "works until then") {
		t.Errorf("tap printed %q", out)
	}
	if err := json.Unmarshal([]byte(run("tap", "", "alice", "--json", "--length", "20")), &res); err != nil || res.Pass == nil || len(res.Pass.Pass) != 20 || res.Pass.Reusable {
		t.Fatalf("tap --json: %+v %v", res, err)
	}
	if d := time.Until(res.Pass.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("the pass expires in %s, want 1h", d)
	}
	show, err := runCmd(t, userShowCommand(), "", "alice", "--config", s.caddyfile)
	if err != nil || !strings.Contains(show, "Temporary Access Pass: until ") || !strings.Contains(show, "single use, unused") || !strings.Contains(show, "may set up a method at the next sign-in") {
		t.Errorf("show after tap: %v\n%s", err, show)
	}
	if strings.Contains(show, res.Pass.Pass) {
		t.Error("show prints the pass")
	}
	// The pass is hashed with the key the gateway derives from the
	// Caddyfile's secret: the gateway accepts it.
	keys, err := portal.AccessPassKeys([]string{"0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	svc := account.New(account.Config{UsersFile: s.users, Store: st, PassKeys: keys})
	if _, err := svc.UseAccessPass(ctx, "alice", res.Pass.Pass); err != nil {
		t.Errorf("the gateway refuses the printed pass: %v", err)
	}
}

// TestUserAdminCommandsRefuse: bad input is an error that says what is
// wrong, and leaves the users file as it was.
func TestUserAdminCommandsRefuse(t *testing.T) {
	s := newAccountsSetup(t)
	before, _ := os.ReadFile(s.users)
	noSecret := filepath.Join(s.dir, "Caddyfile.nosecret")
	writeFile(t, noSecret, "{\n\tstepgate {\n\t\tusers_file "+s.users+"\n\t\tsecret_file "+filepath.Join(s.dir, "missing-secret")+"\n\t\tstore sqlite "+s.state+"\n\t}\n}\n")
	broken := filepath.Join(s.dir, "broken.yaml")
	writeFile(t, broken, "users:\n  alice: [\n")
	for name, tc := range map[string]struct {
		cmd   *cobra.Command
		stdin string
		args  []string
		want  string
	}{
		"unknown user":      {userDisableCommand(), "", []string{"zed", "-c", s.caddyfile}, `no user "zed"`},
		"passwd too short":  {userPasswdCommand(), "short\n", []string{"alice", "-c", s.caddyfile, "--password-stdin"}, "at least 8 characters"},
		"passwd common":     {userPasswdCommand(), "password123\n", []string{"alice", "-c", s.caddyfile, "--password-stdin"}, "too common"},
		"passwd unknown":    {userPasswdCommand(), "a fresh passphrase\n", []string{"zed", "-c", s.caddyfile, "--password-stdin"}, `no user "zed"`},
		"passwd too long":   {userPasswdCommand(), strings.Repeat("x", 300) + "\n", []string{"alice", "-c", s.caddyfile, "--password-stdin"}, "at most 256"},
		"tap too short":     {userTapCommand(), "", []string{"alice", "-c", s.caddyfile, "--length", "7"}, "8 to 48 characters"},
		"tap too long":      {userTapCommand(), "", []string{"alice", "-c", s.caddyfile, "--lifetime", "721h"}, "10m0s to 30 days"},
		"tap no secret":     {userTapCommand(), "", []string{"alice", "-c", noSecret}, "the server creates it when it first starts"},
		"tap unknown":       {userTapCommand(), "", []string{"zed", "-c", s.caddyfile}, `no user "zed"`},
		"broken users file": {userDisableCommand(), "", []string{"alice", "-f", broken, "--store", s.state}, "parsing YAML"},
		"reset, no store":   {userResetMethodsCommand(), "", []string{"alice", "-f", s.users, "--store", filepath.Join(s.dir, "none.db")}, "does not exist"},
	} {
		out, err := runCmd(t, tc.cmd, tc.stdin, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (%q), want an error saying %q", name, err, out, tc.want)
		}
	}
	if after, _ := os.ReadFile(s.users); string(after) != string(before) {
		t.Errorf("the users file changed:\n%s", after)
	}
	if raw, _ := os.ReadFile(broken); string(raw) != "users:\n  alice: [\n" {
		t.Errorf("the broken users file changed: %q", raw)
	}
}
