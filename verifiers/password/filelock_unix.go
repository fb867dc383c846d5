//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package password

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockUsersFile takes an exclusive lock on the directory of the users file
// at path and returns the function that releases it. Every writer of the
// users file holds it from reading the file to renaming the new one into
// place: `stepgate user add` in another process, and the hash upgrades of
// the running gateway, so no writer overwrites another's change with what
// it read before it. The directory, not the file, is locked: the rename
// replaces the file, so a lock on it would not be seen by a writer that
// opens the new one, and the directory needs no lock file left beside
// users.yaml.
func lockUsersFile(path string) (func(), error) {
	f, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("locking users file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking users file: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
