package store_test

import (
	"path/filepath"
	"testing"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/store/storetest"
)

// TestSQLiteContract runs the store contract against SQLite.
func TestSQLiteContract(t *testing.T) {
	open := func(t *testing.T, path string) store.Store {
		s, err := store.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "state.db")) },
		OpenTwo: func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "state.db")
			return open(t, path), open(t, path)
		},
	})
}
