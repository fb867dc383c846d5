package password

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAddUserKeepsTheFile: adding a user appends its entry and leaves the
// rest of a hand-written users file as it was: comments, order, the other
// entries' values.
func TestAddUserKeepsTheFile(t *testing.T) {
	h, err := HashWith(cheap, "pw")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "users.yaml")
	orig := `# Users of the example gateway.
# Add users with: stepgate user add NAME
users:
  # the admin
  zoe:
    display_name: Zoe Example # full name
    groups: [admins, ops]
    password: '` + h + `'
  alice:
    password: '` + h + `'
    disabled: true
`
	if err := os.WriteFile(p, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := AddUser(p, NewUser{Name: "bob", Email: "bob@example.com", Groups: []string{"ops", "eng"}, Hash: h}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	want := orig + "  bob:\n    email: bob@example.com\n    groups: [eng, ops]\n    password: '" + h + "'\n"
	if string(raw) != want {
		t.Errorf("users file after adding bob:\n%s\nwant:\n%s", raw, want)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's 0640", st.Mode().Perm())
	}
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := d.Lookup("alice"); !ok || !u.Disabled {
		t.Errorf("alice: %+v %v", u, ok)
	}
}

// TestAddUserShapes: files with no users yet, in each way they can be
// written, get the first user; files that are not a users mapping are left
// alone.
func TestAddUserShapes(t *testing.T) {
	h, err := HashWith(cheap, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ before, after string }{
		"no file":       {"", "users:\n  bob:\n    password: '" + h + "'\n"},
		"empty":         {"\n", "users:\n  bob:\n    password: '" + h + "'\n"},
		"only comments": {"# nobody yet\n", "# nobody yet\nusers:\n  bob:\n    password: '" + h + "'\n"},
		"users: null":   {"users:\n", "users:\n  bob:\n    password: '" + h + "'\n"},
		"users: {}":     {"users: {}\n", "users:\n  bob:\n    password: '" + h + "'\n"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "users.yaml")
			if name != "no file" {
				os.WriteFile(p, []byte(tc.before), 0o600)
			}
			if err := AddUser(p, NewUser{Name: "bob", Hash: h}); err != nil {
				t.Fatal(err)
			}
			if raw, _ := os.ReadFile(p); string(raw) != tc.after {
				t.Errorf("got:\n%s\nwant:\n%s", raw, tc.after)
			}
		})
	}
	for name, before := range map[string]string{
		"a list":           "- bob\n",
		"users is a list":  "users: [bob]\n",
		"unknown field":    "groups: []\n",
		"two documents":    "users: {}\n---\nusers: {}\n",
		"a duplicate user": "users:\n  bob:\n    password: '" + h + "'\n  bob:\n    password: '" + h + "'\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "users.yaml")
			os.WriteFile(p, []byte(before), 0o600)
			err := AddUser(p, NewUser{Name: "carol", Hash: h})
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Errorf("no error naming the file: %v", err)
			}
			if raw, _ := os.ReadFile(p); string(raw) != before {
				t.Errorf("file changed to %q", raw)
			}
		})
	}
}
