package caddymodule

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

func runCmd(t *testing.T, c *cobra.Command, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	c.SetArgs(args)
	c.SetIn(strings.NewReader(stdin))
	c.SetOut(&out)
	c.SetErr(&out)
	c.SilenceUsage = true
	err := c.ExecuteContext(context.Background())
	return out.String(), err
}

func TestUserAddCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.yaml")
	out, err := runCmd(t, userAddCommand(), "s3cret pass\n", "carol", "--users-file", file, "--group", "ops", "-g", "eng", "--email", "carol@example.com", "--name", "Carol C", "--password-stdin")
	if err != nil || !strings.Contains(out, "added user carol") {
		t.Fatalf("add: %v %s", err, out)
	}
	d, err := password.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	u, ok, _ := d.Authenticate(context.Background(), "127.0.0.1", "carol", "s3cret pass")
	if !ok || u.Email != "carol@example.com" || u.DisplayName != "Carol C" || strings.Join(u.Groups, ",") != "eng,ops" {
		t.Fatalf("added user: %+v ok=%v", u, ok)
	}
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"duplicate":    {"a decent password\n", []string{"carol", "-f", file, "--password-stdin"}, "already exists"},
		"bad name":     {"a decent password\n", []string{"Carol", "-f", file, "--password-stdin"}, "invalid username"},
		"empty pw":     {"\n", []string{"dave", "-f", file, "--password-stdin"}, "empty password"},
		"no file":      {"a decent password\n", []string{"dave", "--password-stdin"}, "no users file"},
		"no terminal":  {"", []string{"dave", "-f", file}, "--password-stdin"},
		"missing name": {"a decent password\n", []string{"-f", file, "--password-stdin"}, "accepts 1 arg"},
	} {
		t.Setenv("STEPGATE_USERS_FILE", "")
		c := userAddCommand()
		if _, err := runCmd(t, c, tc.stdin, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestHashPasswordCommand(t *testing.T) {
	out, err := runCmd(t, hashPasswordCommand(), "hunter2 hunter2\r\n", "--password-stdin")
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out)
	if !strings.HasPrefix(hash, "$argon2id$") || !password.Verify(hash, "hunter2 hunter2") {
		t.Fatalf("hash-password printed %q", out)
	}
}

func TestUserUnlockCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		st.AddFailure(context.Background(), "alice", "password", time.Now())
	}
	st.Close()
	out, err := runCmd(t, userUnlockCommand(), "", "alice", "--store", path)
	if err != nil || !strings.Contains(out, "unlocked alice") {
		t.Fatalf("unlock: %v %s", err, out)
	}
	out, _ = runCmd(t, userUnlockCommand(), "", "alice", "--store", path)
	if !strings.Contains(out, "no failed attempts") {
		t.Fatalf("second unlock: %s", out)
	}
	if _, err := runCmd(t, userUnlockCommand(), "", "alice", "--store", path+".missing"); err == nil {
		t.Fatal("unlock on a missing store succeeded (and would have created it)")
	}
}

func TestUserDevicesCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st.PutPushEnrolment(ctx, []byte("t"), "c", "alice", time.Now().Add(time.Minute), true)
	st.EnrolPushDevice(ctx, []byte("t"), store.PushDevice{ID: "dev1", Name: "Pixel", PublicKey: []byte{4}}, time.Now())
	st.AddCredential(ctx, store.Credential{ID: "pk1", Username: "alice", Method: "passkey", Name: "YubiKey"}, false)
	st.Close()
	out, err := runCmd(t, userDevicesCommand(), "", "alice", "--store", path)
	if err != nil || !strings.Contains(out, "dev1\tPixel\tset up ") || !strings.Contains(out, "notifications off") ||
		!strings.Contains(out, "pk1\tYubiKey\tpasskey added ") || !strings.Contains(out, "last used never") {
		t.Fatalf("list: %v %q", err, out)
	}
	if _, err := runCmd(t, userDevicesCommand(), "", "bob", "--store", path, "--remove", "pk1"); err == nil || !strings.Contains(err.Error(), `bob has no device "pk1"`) {
		t.Fatalf("removing another user's passkey: %v", err)
	}
	if out, err := runCmd(t, userDevicesCommand(), "", "alice", "--store", path, "--remove", "pk1"); err != nil || !strings.Contains(out, "removed pk1") {
		t.Fatalf("removing a passkey: %v %q", err, out)
	}
	if _, err := runCmd(t, userDevicesCommand(), "", "bob", "--store", path, "--remove", "dev1"); err == nil || !strings.Contains(err.Error(), `bob has no device "dev1"`) {
		t.Fatalf("removing another user's device: %v", err)
	}
	if out, err := runCmd(t, userDevicesCommand(), "", "alice", "--store", path, "--remove", "dev1"); err != nil || !strings.Contains(out, "removed dev1") {
		t.Fatalf("remove: %v %q", err, out)
	}
	if out, _ := runCmd(t, userDevicesCommand(), "", "alice", "--store", path); !strings.Contains(out, "no authenticator devices or passkeys") {
		t.Fatalf("after removal: %q", out)
	}
}
