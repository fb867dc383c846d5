// Package msgtest helps tests speak as a portal whose administrator
// overrode some of Stepgate's words.
package msgtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stepgate/stepgate/messages"
)

// Overridden is the Set of every language with the administrator's
// overrides of lang written as toml (a <lang>.toml file's content).
func Overridden(t testing.TB, lang, toml string) *messages.Set {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, lang+".toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := messages.New(messages.Config{Overrides: dir})
	if err != nil {
		t.Fatal(err)
	}
	return set
}
