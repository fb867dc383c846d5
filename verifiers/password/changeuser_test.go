package password

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestChangeUserKeepsTheFile: setting a password, disabling and enabling
// change only that entry's values; comments, order and the other entries
// stay as they were written.
func TestChangeUserKeepsTheFile(t *testing.T) {
	h1, _ := HashWith(cheap, "one")
	h2, _ := HashWith(cheap, "two")
	p := filepath.Join(t.TempDir(), "users.yaml")
	orig := `# Users of the example gateway.
users:
  # the admin
  zoe:
    display_name: Zoe Example # full name
    groups: [admins, ops]
    password: '` + h1 + `' # set by the help desk
  alice:
    password: '` + h1 + `'
`
	if err := os.WriteFile(p, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	if changed, err := ChangeUser(p, "zoe", Change{Hash: &h2}); err != nil || !changed {
		t.Fatalf("new password: %v %v", changed, err)
	}
	want := strings.Replace(orig, "password: '"+h1+"' # set", "password: '"+h2+"' # set", 1)
	if raw, _ := os.ReadFile(p); string(raw) != want {
		t.Fatalf("after zoe's new password:\n%s\nwant:\n%s", raw, want)
	}
	if changed, err := ChangeUser(p, "alice", Change{Disabled: &yes}); err != nil || !changed {
		t.Fatalf("disable: %v %v", changed, err)
	}
	disabled := want + "    disabled: true\n"
	if raw, _ := os.ReadFile(p); string(raw) != disabled {
		t.Fatalf("after disabling alice:\n%s\nwant:\n%s", raw, disabled)
	}
	if changed, err := ChangeUser(p, "alice", Change{Disabled: &yes}); err != nil || changed {
		t.Fatalf("disabling again: %v %v", changed, err)
	}
	if _, err := ChangeUser(p, "alice", Change{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(p); string(raw) != want {
		t.Fatalf("after enabling alice:\n%s\nwant:\n%s", raw, want)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's 0640", st.Mode().Perm())
	}
}

// TestChangeUserRefuses: an unknown user, a hash that is not one, and files
// that are not plain users mappings are refused with the file untouched.
func TestChangeUserRefuses(t *testing.T) {
	h, _ := HashWith(cheap, "pw")
	yes := true
	bad := "plain text"
	for _, tc := range []struct {
		name, file, user string
		c                Change
		want             string
	}{
		{"unknown user", "users:\n  alice:\n    password: '" + h + "'\n", "bob", Change{Disabled: &yes}, `no such user "bob"`},
		{"not a hash", "users:\n  alice:\n    password: '" + h + "'\n", "alice", Change{Hash: &bad}, "password"},
		{"malformed", "users:\n  alice: [\n", "alice", Change{Disabled: &yes}, "not changed"},
		{"two documents", "users:\n  alice:\n    password: '" + h + "'\n---\nusers: {}\n", "alice", Change{Disabled: &yes}, "more than one YAML document"},
		{"unknown field", "users:\n  alice:\n    password: '" + h + "'\n    pasword: x\n", "alice", Change{Disabled: &yes}, "not changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "users.yaml")
			os.WriteFile(p, []byte(tc.file), 0o600)
			_, err := ChangeUser(p, tc.user, tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if tc.name == "unknown user" && !errors.Is(err, ErrNoSuchUser) {
				t.Errorf("%v is not ErrNoSuchUser", err)
			}
			if raw, _ := os.ReadFile(p); string(raw) != tc.file {
				t.Errorf("file changed:\n%s", raw)
			}
		})
	}
	if _, err := ChangeUser(filepath.Join(t.TempDir(), "none.yaml"), "alice", Change{Disabled: &yes}); err == nil || !strings.Contains(err.Error(), "reading users file") {
		t.Errorf("missing file: %v", err)
	}
}

// TestChangeUserWithAddUser: changes and additions made at the same moment
// (goroutines here; processes hold the same lock, see
// TestUsersFileWritersInSeveralProcesses) all end up in the file.
func TestChangeUserWithAddUser(t *testing.T) {
	h, _ := HashWith(cheap, "pw")
	p := filepath.Join(t.TempDir(), "users.yaml")
	var file strings.Builder
	file.WriteString("users:\n")
	for i := range 10 {
		fmt.Fprintf(&file, "  u%d:\n    password: '%s'\n", i, h)
	}
	os.WriteFile(p, []byte(file.String()), 0o600)
	yes := true
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := ChangeUser(p, fmt.Sprintf("u%d", i), Change{Disabled: &yes}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := AddUser(p, NewUser{Name: fmt.Sprintf("new%d", i), Hash: h}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	uf := readUsers(t, p)
	for i := range 10 {
		if !uf.Users[fmt.Sprintf("u%d", i)].Disabled {
			t.Errorf("u%d not disabled", i)
		}
		if _, ok := uf.Users[fmt.Sprintf("new%d", i)]; !ok {
			t.Errorf("new%d lost", i)
		}
	}
}

// TestReloadSeesAReplacedFileOfTheSameSizeAndTime: a new password hash has
// the old one's length, and on a file system that keeps whole seconds the
// replaced file can carry the same modification time: it is still read.
func TestReloadSeesAReplacedFileOfTheSameSizeAndTime(t *testing.T) {
	h1, _ := HashWith(cheap, "one")
	h2, _ := HashWith(cheap, "two")
	if len(h1) != len(h2) {
		t.Fatal("hashes of different lengths")
	}
	p := filepath.Join(t.TempDir(), "users.yaml")
	os.WriteFile(p, []byte("users:\n  alice:\n    password: '"+h1+"'\n"), 0o600)
	st, _ := os.Stat(p)
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ChangeUser(p, "alice", Change{Hash: &h2}); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if changed, err := d.Reload(); err != nil || !changed {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if _, ok, _ := d.Authenticate(t.Context(), "src", "alice", "two"); !ok {
		t.Error("the new password is not in force")
	}
}
