package password

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"
)

// cheap are the parameters the upgrade tests configure: fast to hash.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func upgradeEnv(t *testing.T) (*Directory, string, map[string]string, *observer.ObservedLogs) {
	t.Helper()
	old, err := HashWith(Params{Memory: 128, Time: 2, Threads: 1}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	current, _ := HashWith(cheap, "pw")
	hashes := map[string]string{"alice": old, "bob": string(bc), "carol": current}
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, `# Stepgate users. Edited by hand; keep this comment.
users:
  alice:
    display_name: Alice A.
    groups: [eng, ops]
    password: '`+old+`'
  # bob uses an old bcrypt hash
  bob:
    password: '`+string(bc)+`'
  carol:
    email: carol@example.com
    password: '`+current+`'
`)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetParams(cheap); err != nil {
		t.Fatal(err)
	}
	d.SetLimits(Limits{CPUShare: 1})
	core, logs := observer.New(zap.DebugLevel)
	d.SetLogger(zap.New(core))
	return d, path, hashes, logs
}

// readUsers reads and parses the users file at path.
func readUsers(t *testing.T, path string) usersFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	uf, err := parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return uf
}

func fileHash(t *testing.T, path, name string) string {
	t.Helper()
	return readUsers(t, path).Users[name].Password
}

// TestUpgradeAtSignIn: a correct password whose hash is not of the
// configured parameters (other argon2id parameters, or bcrypt) is stored
// again with them; the rest of the file (entries, comments) stays as it
// was, and a wrong password or a current hash changes nothing.
func TestUpgradeAtSignIn(t *testing.T) {
	d, path, hashes, logs := upgradeEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, pw string
		upgrade  bool
	}{
		{"alice", "wrong", false},
		{"alice", "pw", true},
		{"bob", "pw", true},
		{"carol", "pw", false},
	} {
		if _, ok, err := d.Authenticate(ctx, "192.0.2.1", tc.name, tc.pw); err != nil || ok != (tc.pw == "pw") {
			t.Fatalf("%s/%s: ok %v, err %v", tc.name, tc.pw, ok, err)
		}
		got := fileHash(t, path, tc.name)
		switch {
		case !tc.upgrade && got != hashes[tc.name]:
			t.Fatalf("%s/%s: hash changed to %q", tc.name, tc.pw, got)
		case tc.upgrade && (hashKind(got) != paramsKind(cheap) || !Verify(got, "pw")):
			t.Fatalf("%s: hash %q after sign-in, want a %s hash of the password", tc.name, got, paramsKind(cheap))
		}
		hashes[tc.name] = got
		// The directory serves the new hash at once.
		if e := d.current.Load().users[tc.name]; e.hash != got {
			t.Fatalf("%s: directory still holds %q", tc.name, e.hash)
		}
	}
	raw, _ := os.ReadFile(path)
	for _, keep := range []string{"# Stepgate users. Edited by hand; keep this comment.", "# bob uses an old bcrypt hash", "display_name: Alice A.", "groups: [eng, ops]", "email: carol@example.com"} {
		if !strings.Contains(string(raw), keep) {
			t.Errorf("upgraded file lost %q:\n%s", keep, raw)
		}
	}
	if d.Len() != 3 {
		t.Fatalf("%d users after upgrades", d.Len())
	}
	if n := logs.FilterMessage("upgraded password hash").Len(); n != 2 {
		t.Fatalf("%d upgrades logged, want 2", n)
	}
	// Signing in again with the upgraded hashes works and upgrades nothing.
	for _, name := range []string{"alice", "bob"} {
		if _, ok, err := d.Authenticate(ctx, "192.0.2.1", name, "pw"); !ok || err != nil {
			t.Fatalf("%s after the upgrade: %v %v", name, ok, err)
		}
	}
	if n := logs.FilterMessage("upgraded password hash").Len(); n != 2 {
		t.Fatalf("%d upgrades logged after signing in again, want still 2", n)
	}
}

// TestUpgradeLosesNoConcurrentChange: when the entry changed in the file
// since it was loaded (an administrator set a new password, or removed the
// user), the upgrade writes nothing.
func TestUpgradeLosesNoConcurrentChange(t *testing.T) {
	d, path, hashes, _ := upgradeEnv(t)
	newer, _ := HashWith(cheap, "new password")
	raw, _ := os.ReadFile(path)
	changed := strings.Replace(string(raw), hashes["alice"], newer, 1)
	writeFile(t, path, changed)
	up, _ := HashWith(cheap, "pw")
	if err := d.upgrade("alice", hashes["alice"], up); !errors.Is(err, errUpgradeStale) {
		t.Fatalf("upgrade over a changed entry: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != changed {
		t.Fatalf("file changed:\n%s", got)
	}
	if err := d.upgrade("dave", hashes["alice"], up); !errors.Is(err, errUpgradeStale) {
		t.Fatalf("upgrade of a user not in the file: %v", err)
	}
}

// TestUpgradeFailureIsLoggedNotShown: when the users file cannot be
// written, the sign-in still succeeds and the failure is logged.
func TestUpgradeFailureIsLoggedNotShown(t *testing.T) {
	d, path, hashes, logs := upgradeEnv(t)
	writes := 0
	d.write = func(string, []byte, os.FileMode, func() error) error {
		writes++
		return errors.New("writing users file: read-only file system")
	}
	for range 3 {
		if _, ok, err := d.Authenticate(context.Background(), "192.0.2.1", "alice", "pw"); !ok || err != nil {
			t.Fatalf("sign-in with an unwritable users file: %v %v", ok, err)
		}
	}
	if fileHash(t, path, "alice") != hashes["alice"] {
		t.Fatal("file changed")
	}
	const msg = "upgrading password hash; no more upgrades until the users file changes"
	if logs.FilterMessage(msg).Len() != 1 {
		t.Fatalf("failure not logged once: %v", logs.All())
	}
	// After a failure, sign-ins stop hashing twice and writing, until the
	// file is loaded again.
	if writes != 1 {
		t.Fatalf("%d writes for 3 sign-ins after a failed one, want 1", writes)
	}
	os.Chtimes(path, time.Now(), time.Now().Add(time.Minute))
	if changed, err := d.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	d.Authenticate(context.Background(), "192.0.2.1", "alice", "pw")
	if writes != 2 {
		t.Fatalf("%d writes after the file changed, want 2", writes)
	}
}

// TestLoneUserTenTimesInARow: one person signing in ten times in a row,
// wrong then right, through the directory with its default limits, is
// never refused.
func TestLoneUserTenTimesInARow(t *testing.T) {
	d, _, _, _ := upgradeEnv(t)
	d.SetLimits(Limits{}) // the defaults, CPU ceiling included
	for i := range 10 {
		for _, pw := range []string{"typo", "pw"} {
			if _, ok, err := d.Authenticate(context.Background(), "192.0.2.1", "carol", pw); err != nil || ok != (pw == "pw") {
				t.Fatalf("attempt %d (%s): ok %v, err %v", i+1, pw, ok, err)
			}
		}
	}
}

// TestUsersFileWritersLoseNothing: `stepgate user add` run 20 times at
// once while the gateway upgrades a hash at a sign-in: every new user and
// the upgraded hash are in the file afterwards (each writer holds the
// users file's lock from reading it to renaming the new one into place).
func TestUsersFileWritersLoseNothing(t *testing.T) {
	d, path, hashes, _ := upgradeEnv(t)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := AddUser(path, NewUser{Name: fmt.Sprintf("new%d", i), Hash: hashes["carol"]}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		if _, ok, err := d.Authenticate(context.Background(), "192.0.2.1", "alice", "pw"); !ok || err != nil {
			t.Errorf("alice: %v %v", ok, err)
		}
	}()
	close(start)
	wg.Wait()
	uf := readUsers(t, path)
	for i := range 20 {
		if _, ok := uf.Users[fmt.Sprintf("new%d", i)]; !ok {
			t.Errorf("new%d lost", i)
		}
	}
	if h := uf.Users["alice"].Password; hashKind(h) != paramsKind(cheap) {
		t.Errorf("alice's hash not upgraded: %s", h)
	}
	if uf.Users["bob"].Password != hashes["bob"] || uf.Users["carol"].Password != hashes["carol"] {
		t.Error("bob or carol changed")
	}
}
