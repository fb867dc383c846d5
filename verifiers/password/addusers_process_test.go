package password

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// addUsersHelperEnv makes the test binary a writer for
// TestUsersFileWritersInSeveralProcesses: "PATH PREFIX N GO-FILE".
const addUsersHelperEnv = "STEPGATE_TEST_ADDUSERS"

// TestUsersFileWritersInSeveralProcesses: four processes (this test
// binary run again) each add 15 users to one users file at the same
// moment, as four `stepgate user add` commands would: none of the 60 is
// lost, because each holds the users file's lock from reading the file to
// renaming the new one into place.
func TestUsersFileWritersInSeveralProcesses(t *testing.T) {
	if args := os.Getenv(addUsersHelperEnv); args != "" {
		addUsersHelper(t, args)
		return
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no users file lock on this system")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	hash, err := HashWith(cheap, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("users:\n  alice:\n    password: '"+hash+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	goFile := filepath.Join(dir, "go")
	const procs, each = 4, 15
	var cmds []*exec.Cmd
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUsersFileWritersInSeveralProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s p%d- %d %s", addUsersHelperEnv, path, p, each, goFile))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	// Every process is waiting for the go file; create it to start them
	// together.
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process: %v", err)
		}
	}
	uf := readUsers(t, path)
	if _, ok := uf.Users["alice"]; !ok {
		t.Error("alice lost")
	}
	lost := 0
	for p := range procs {
		for i := range each {
			if _, ok := uf.Users[fmt.Sprintf("p%d-%d", p, i)]; !ok {
				lost++
			}
		}
	}
	if lost > 0 || len(uf.Users) != procs*each+1 {
		t.Errorf("%d of %d users lost; the file has %d users", lost, procs*each, len(uf.Users))
	}
}

// addUsersHelper is one writer process: it waits for the go file, then
// adds N users named PREFIX0, PREFIX1, ….
func addUsersHelper(t *testing.T, args string) {
	var path, prefix, goFile string
	var n int
	if _, err := fmt.Sscan(args, &path, &prefix, &n, &goFile); err != nil {
		t.Fatalf("%s=%q: %v", addUsersHelperEnv, args, err)
	}
	hash, err := HashWith(cheap, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(goFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never told to go")
		}
	}
	for i := range n {
		if err := AddUser(path, NewUser{Name: prefix + strconv.Itoa(i), Hash: hash}); err != nil {
			t.Fatal(err)
		}
	}
}
