package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/account"
)

// userCommand runs `stepgate user ARGS…` as the binary does: through the
// command Stepgate registers with Caddy.
func userCommand(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	reg, ok := caddycmd.Commands()["user"]
	if !ok {
		t.Fatal("no user command registered")
	}
	root := &cobra.Command{Use: "user"}
	reg.CobraFunc(root)
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SilenceUsage = true
	root.SilenceErrors = true
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestUserCommandsWhileCaddyServes: the commands read the same Caddyfile
// Caddy serves, open its store while Caddy holds it, see what the gateway
// recorded (a set-up, a sign-in, wrong passwords and the lockout), and
// their changes reach the running gateway: an unlock at once, a new user
// within a few seconds.
func TestUserCommandsWhileCaddyServes(t *testing.T) {
	users := writeUsers(t, "alice", "bob")
	block, _ := stepgateBlock(t, users, `
		lockout {
			threshold 3
		}`)
	caddyfile := startCaddyfile(t, block, `
http://localhost:9080 {
	stepgate
	respond "hello"
}
`)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}

	alice := newClient(t)
	if _, r := alice.register("alice", "/"); r.status != http.StatusSeeOther {
		t.Fatalf("alice's first sign-in: %d", r.status)
	}
	bob := newClient(t)
	for i := range 3 {
		r := bob.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"bob"}, "password": {"wrong"}})
		if !strings.Contains(r.body, "incorrect") {
			t.Fatalf("wrong password %d: %d", i+1, r.status)
		}
	}

	out, err := userCommand(t, "", "list", "--config", path, "--json")
	if err != nil {
		t.Fatalf("list: %v %s", err, out)
	}
	var list []account.Summary
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("list --json: %v %s", err, out)
	}
	if a := list[0]; a.Name != "alice" || strings.Join(a.Methods, ",") != "totp" || a.LastSignIn == nil || a.Locked {
		t.Errorf("alice: %+v", a)
	}
	if b := list[1]; b.Name != "bob" || len(b.Methods) != 0 || b.LastSignIn != nil || !b.Locked {
		t.Errorf("bob after 3 wrong passwords with threshold 3: %+v", b)
	}

	out, err = userCommand(t, "", "show", "bob", "--config", path)
	if err != nil || !strings.Contains(out, "locked:          yes: password in back-off after 3 failures in a row") || !regexp.MustCompile(`(?m)^    \S+ \S+ UTC +failure +password +127\.0\.0\.1 +localhost`).MatchString(out) {
		t.Errorf("show bob: %v\n%s", err, out)
	}
	r := bob.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"bob"}, "password": {testPassword}})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("bob's right password while locked: %d", r.status)
	}

	if out, err := userCommand(t, "", "unlock", "bob", "--config", path); err != nil || !strings.Contains(out, "unlocked bob") {
		t.Fatalf("unlock: %v %s", err, out)
	}
	r = bob.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"bob"}, "password": {testPassword}})
	if r.status != http.StatusSeeOther {
		t.Errorf("bob's password right after unlock: %d", r.status)
	}

	if out, err := userCommand(t, "carol pw\n", "add", "carol", "--config", path, "--password-stdin"); err != nil || !strings.Contains(out, "added user carol") {
		t.Fatalf("add: %v %s", err, out)
	}
	// The gateway reads the users file every 2 s. Two tries, not more:
	// carol's failures count toward her lockout (threshold 3) too.
	carol := newClient(t)
	for try := 1; ; try++ {
		time.Sleep(2500 * time.Millisecond)
		r := carol.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"carol"}, "password": {"carol pw"}})
		if r.status == http.StatusSeeOther {
			break
		}
		if try == 2 {
			t.Fatalf("carol still can't sign in 5 s after `user add`: %d", r.status)
		}
	}
	if out, err := userCommand(t, "", "show", "zed", "--config", path); err == nil || !strings.Contains(err.Error(), `no user "zed"`) {
		t.Errorf("show zed: %v %s", err, out)
	}
}
