package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/store/storetest"
)

func openPG(t *testing.T, dbURL string) store.Store {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresContract runs the store contract against PostgreSQL.
func TestPostgresContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store { return openPG(t, gatewaytest.PostgresURL(t)) },
		OpenTwo: func(t *testing.T) (store.Store, store.Store) {
			u := gatewaytest.PostgresURL(t)
			return openPG(t, u), openPG(t, u)
		},
	})
}

// Instances starting together on an empty database migrate it once (the
// migration lock), and all of them work.
func TestPostgresInstancesStartTogether(t *testing.T) {
	u := gatewaytest.PostgresURL(t)
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			s, err := store.OpenPostgres(context.Background(), u)
			if err == nil {
				err = s.SetDefaultMethod(context.Background(), "alice", "totp")
				s.Close()
			}
			errs <- err
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, versions, latest int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version), max(version) FROM stepgate_schema`).Scan(&rows, &versions, &latest); err != nil ||
		rows != versions || versions != latest {
		t.Fatalf("schema versions recorded: %d rows, %d versions, latest %d, %v", rows, versions, latest, err)
	}
}

// A database migrated by a newer Stepgate is refused with a message
// saying so, and left as it is.
func TestPostgresNewerSchemaRefused(t *testing.T) {
	u := gatewaytest.PostgresURL(t)
	openPG(t, u)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO stepgate_schema (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenPostgres(context.Background(), u); err == nil || !strings.Contains(err.Error(), "schema version 99 is newer than this Stepgate knows") {
		t.Fatalf("a newer schema: %v", err)
	}
}

// Bad URLs and an unreachable server get clear errors, not a hang, and
// never show the password.
func TestPostgresBadURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for u, want := range map[string]string{
		"postgres://stepgate:s3cret@%zz/x":                           "the URL cannot be read",
		"postgres://stepgate:s3cret@127.0.0.1:1/x?connect_timeout=2": "connecting to stepgate@127.0.0.1/x",
	} {
		_, err := store.OpenPostgres(ctx, u)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("%s: %v", u, err)
		}
	}
}
