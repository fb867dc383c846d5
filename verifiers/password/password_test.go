package password

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestHashAndVerify(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	if !Verify(h, "correct horse") || Verify(h, "correct horsE") || Verify(h, "") {
		t.Fatal("argon2id verify gave a wrong answer")
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("legacy"), bcrypt.MinCost)
	if !Verify(string(bc), "legacy") || Verify(string(bc), "Legacy") {
		t.Fatal("bcrypt verify gave a wrong answer")
	}
	if Verify(h, strings.Repeat("x", MaxPasswordLen+1)) {
		t.Fatal("overlong password accepted")
	}
	if _, err := Hash(""); err == nil {
		t.Fatal("hashed an empty password")
	}
}

func TestCheckHash(t *testing.T) {
	good, _ := Hash("pw")
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, tc := range []struct {
		hash string
		ok   bool
	}{
		{good, true},
		{string(bc), true},
		{"", false},
		{"plaintext", false},
		{"$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$", false},
		{"$argon2id$v=18$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=19$m=99999999,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", false},
		{"$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", true},
		{"$2b$10$short", false},
	} {
		if err := CheckHash(tc.hash); (err == nil) != tc.ok {
			t.Errorf("CheckHash(%q) = %v, want ok=%v", tc.hash, err, tc.ok)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rewriteFile replaces a users file and moves its modification time ahead,
// so a reload sees the change even within one file-system time tick.
func rewriteFile(t *testing.T, path, content string, ahead time.Duration) {
	t.Helper()
	writeFile(t, path, content)
	later := time.Now().Add(ahead)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// aliceOnly opens a users file holding alice (password "pw") and returns
// the directory, the file's path and the hash.
func aliceOnly(t *testing.T) (*Directory, string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users.yaml")
	h, err := Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, oneUser("alice", h))
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	d.SetLimits(Limits{CPUShare: 1, Attempts: 1000}) // no ceiling or budget in the way of the tests' sign-ins
	return d, p, h
}

func oneUser(name, hash string) string {
	return "users:\n  " + name + ":\n    password: '" + hash + "'\n"
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	h, _ := Hash("pw")
	for name, tc := range map[string]struct{ content, want string }{
		"bad yaml":      {"users: [", "parsing YAML"},
		"unknown field": {"users:\n  alice:\n    password: '" + h + "'\n    passwd: x\n", "field passwd not found"},
		"bad name":      {"users:\n  Alice:\n    password: '" + h + "'\n", `user "Alice"`},
		"no hash":       {"users:\n  alice:\n    email: a@example.com\n", "no password hash"},
		"plain text":    {"users:\n  alice:\n    password: hunter2\n", "unknown hash format"},
		"bad group":     {"users:\n  alice:\n    password: '" + h + "'\n    groups: ['a,b']\n", "group"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		writeFile(t, p, tc.content)
		if _, err := Open(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", name, err, tc.want)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "reading users file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(""); err == nil {
		t.Error("empty path accepted")
	}
	empty := filepath.Join(dir, "empty.yaml")
	writeFile(t, empty, "")
	if d, err := Open(empty); err != nil || d.Len() != 0 {
		t.Errorf("empty file: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users.yaml")
	h, _ := Hash("s3cret")
	writeFile(t, p, "users:\n  alice:\n    display_name: Alice\n    groups: [eng, ops]\n    password: '"+h+"'\n  carol:\n    disabled: true\n    password: '"+h+"'\n")
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	d.SetLimits(Limits{CPUShare: 1, Attempts: 1000})
	ctx := context.Background()
	for _, tc := range []struct {
		name, pw string
		ok       bool
		user     string
	}{
		{"alice", "s3cret", true, "alice"},
		{"  ALICE ", "s3cret", true, "alice"},
		{"alice", "wrong", false, "alice"},
		{"nobody", "s3cret", false, ""},
		{"", "s3cret", false, ""},
		{"carol", "s3cret", true, "carol"}, // the caller refuses disabled users
	} {
		u, ok, err := d.Authenticate(ctx, "192.0.2.1", tc.name, tc.pw)
		if err != nil || ok != tc.ok || u.Name != tc.user {
			t.Errorf("Authenticate(%q, %q) = %q, %v, %v", tc.name, tc.pw, u.Name, ok, err)
		}
	}
	if u, _ := d.Lookup("alice"); !u.InGroup("ops") || u.InGroup("admin") || u.DisplayName != "Alice" {
		t.Errorf("lookup: %+v", u)
	}
	if u, _ := d.Lookup("carol"); !u.Disabled {
		t.Error("carol is not disabled")
	}
}

func TestReloadKeepsLastGood(t *testing.T) {
	d, p, h := aliceOnly(t)
	if changed, err := d.Reload(); changed || err != nil {
		t.Fatalf("unchanged file reloaded: %v %v", changed, err)
	}
	rewriteFile(t, p, "users: [broken", time.Second)
	if _, err := d.Reload(); err == nil {
		t.Fatal("broken file reloaded without error")
	}
	if _, ok := d.Lookup("alice"); !ok {
		t.Fatal("broken reload dropped the last good users")
	}
	if err := AddUser(p, NewUser{Name: "bob", Hash: h}); err == nil {
		t.Fatal("AddUser rewrote a broken users file")
	}
	if raw, _ := os.ReadFile(p); string(raw) != "users: [broken" {
		t.Fatalf("broken file changed: %q", raw)
	}
	rewriteFile(t, p, oneUser("bob", h), 2*time.Second)
	if changed, err := d.Reload(); !changed || err != nil {
		t.Fatalf("fixed file not reloaded: %v %v", changed, err)
	}
	if _, ok := d.Lookup("alice"); ok {
		t.Fatal("removed user still there")
	}
	if _, ok := d.Lookup("bob"); !ok {
		t.Fatal("new user missing")
	}
}

func TestWatchPicksUpChanges(t *testing.T) {
	d, p, h := aliceOnly(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan int, 4)
	failed := make(chan error, 4)
	go d.Watch(ctx, 10*time.Millisecond, func(n int) { reloaded <- n }, func(err error) { failed <- err })
	if err := AddUser(p, NewUser{Name: "bob", Email: "bob@example.com", Groups: []string{"b", "a"}, Hash: h}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-reloaded:
		if n != 2 {
			t.Fatalf("reloaded %d users, want 2", n)
		}
	case err := <-failed:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("change not picked up")
	}
	if u, ok := d.Lookup("bob"); !ok || u.Email != "bob@example.com" || strings.Join(u.Groups, ",") != "a,b" {
		t.Fatalf("bob = %+v", u)
	}
	if _, groups, _ := d.LookupWithGroups("bob"); groups != "a,b" {
		t.Fatalf("groups header %q", groups)
	}
	// A broken file is reported (once) and the last good users stay.
	rewriteFile(t, p, "users: [", 5*time.Second)
	select {
	case err := <-failed:
		if !strings.Contains(err.Error(), "parsing YAML") {
			t.Fatalf("reported %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("broken file not reported")
	}
	if _, ok := d.Lookup("bob"); !ok {
		t.Fatal("broken reload dropped users")
	}
	time.Sleep(50 * time.Millisecond)
	if len(failed) != 0 {
		t.Fatal("the same error was reported again on the next tick")
	}
}

func TestUnknownUserCostsTheSameHash(t *testing.T) {
	d, _, h := aliceOnly(t)
	if _, ok, _ := d.Authenticate(context.Background(), "192.0.2.1", "nobody", "pw"); ok {
		t.Fatal("unknown user authenticated")
	}
	// The unknown user's password was checked against a hash with the
	// same argon2id parameters as a real user's, so both take as long.
	dummy, err := parseArgon2id(d.dummy(d.current.Load(), "nobody"))
	if err != nil {
		t.Fatalf("no dummy hash was prepared: %v", err)
	}
	real, _ := parseArgon2id(h)
	if dummy.memory != real.memory || dummy.time != real.time || dummy.threads != real.threads || len(dummy.key) != len(real.key) {
		t.Fatalf("dummy hash parameters %+v differ from a real hash's %+v", dummy, real)
	}
}

// TestUnknownUsersMirrorMixedHashes: with a users file of bcrypt and
// cheaper argon2id hashes, unknown names are checked against dummies of
// those same kinds, in the file's proportions, and a name always maps to
// the same kind; so response times do not reveal which names exist.
func TestUnknownUsersMirrorMixedHashes(t *testing.T) {
	b, _ := bcrypt.GenerateFromPassword([]byte("pw"), 6)
	cheap, _ := HashWith(Params{Memory: 8192, Time: 1, Threads: 1}, "pw")
	path := filepath.Join(t.TempDir(), "users.yaml")
	var yml strings.Builder
	yml.WriteString("users:\n")
	for i := range 10 {
		h := string(b)
		if i%2 == 1 {
			h = cheap
		}
		fmt.Fprintf(&yml, "  u%d:\n    password: '%s'\n", i, h)
	}
	if err := os.WriteFile(path, []byte(yml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i := range 200 {
		name := fmt.Sprintf("nobody%d", i)
		dummy := d.dummy(d.current.Load(), name)
		if again := d.dummy(d.current.Load(), name); again != dummy {
			t.Fatal("one name mapped to two dummies")
		}
		if CheckHash(dummy) != nil || Verify(dummy, "pw") {
			t.Fatalf("dummy %q is not a valid hash that no password matches", dummy)
		}
		kinds[hashKind(dummy)]++
	}
	if len(kinds) != 2 || kinds[hashKind(string(b))] < 60 || kinds[hashKind(cheap)] < 60 {
		t.Fatalf("dummy kinds for 200 unknown names: %v", kinds)
	}
}

func TestAddUser(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "users.yaml")
	h, _ := Hash("pw")
	if err := AddUser(p, NewUser{Name: "alice", Hash: h}); err != nil {
		t.Fatal(err)
	}
	if err := AddUser(p, NewUser{Name: "alice", Hash: h}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	if err := AddUser(p, NewUser{Name: "Bad Name", Hash: h}); err == nil {
		t.Fatal("invalid name accepted")
	}
	if err := AddUser(p, NewUser{Name: "dave", Hash: "plain"}); err == nil {
		t.Fatal("invalid hash accepted")
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("new users file mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	d, err := Open(p)
	if err != nil || d.Len() != 1 {
		t.Fatalf("reopen: %v", err)
	}
}

// TestReloadKeepsUsersWhileTheFileIsEmpty: an editor that writes the file
// in place truncates it first; a reload that reads it then keeps the users
// (every signed-in user would otherwise be refused until the next poll),
// and picks up the file once it is written. `users: {}` removes them all.
func TestReloadKeepsUsersWhileTheFileIsEmpty(t *testing.T) {
	d, p, h := aliceOnly(t)
	for _, blank := range []string{"", "\n", "# being edited\n"} {
		rewriteFile(t, p, blank, time.Duration(len(blank)+1)*time.Second)
		if _, err := d.Reload(); err == nil || !strings.Contains(err.Error(), "keeping the 1 users") {
			t.Fatalf("%q: reload error %v", blank, err)
		}
		if _, ok := d.Lookup("alice"); !ok {
			t.Fatalf("%q: alice was dropped", blank)
		}
	}
	rewriteFile(t, p, oneUser("bob", h), 10*time.Second)
	if changed, err := d.Reload(); err != nil || !changed {
		t.Fatalf("the written file: %v %v", changed, err)
	}
	if _, ok := d.Lookup("bob"); !ok {
		t.Fatal("bob not loaded")
	}
	rewriteFile(t, p, "users: {}\n", 20*time.Second)
	if _, err := d.Reload(); err != nil || d.Len() != 0 {
		t.Fatalf("users: {}: %v, %d users", err, d.Len())
	}
}
