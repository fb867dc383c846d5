package gatewaytest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	// database/sql's "pgx" driver, for creating the test schemas.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// PostgresServer is the PostgreSQL database the tests use:
// STEPGATE_TEST_PG, or the one scripts/install-test-deps.sh starts.
func PostgresServer() string {
	if u := os.Getenv("STEPGATE_TEST_PG"); u != "" {
		return u
	}
	return "postgres://stepgate:stepgate@127.0.0.1:5432/stepgate_test?sslmode=disable"
}

// PostgresURL creates an empty schema for one test and returns the URL
// of a store that uses it; the schema is dropped when the test ends (a
// schema is much faster to make than a database). Without a server the
// test is skipped, or fails under CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresServer())
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s: %v (scripts/install-test-deps.sh starts it)", PostgresServer(), err)
		}
		t.Skipf("no PostgreSQL at %s (%v): run scripts/install-test-deps.sh, or set STEPGATE_TEST_PG", PostgresServer(), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "stepgate_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA IF EXISTS ` + name + ` CASCADE`)
		admin.Close()
	})
	u, _ := url.Parse(PostgresServer())
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
