package portal

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
)

// TestStoreOutage: PostgreSQL goes away (every connection cut, new ones
// refused). A signed-in user keeps working, since requests need no store;
// a sign-in gets 503 "temporarily unavailable" and writes nothing; once
// the database is back, sign-ins work again without a restart.
func TestStoreOutage(t *testing.T) {
	pg, err := url.Parse(gatewaytest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	outage := gatewaytest.NewOutage(t, pg.Host)
	pg.Host = outage.Addr()
	st, err := store.OpenPostgres(context.Background(), pg.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(users, []byte(strings.ReplaceAll(usersYAML, "%s", passwordHash(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, users, st)
	alice := e.browser()
	alice.register("alice")

	outage.Down()
	if !e.signedIn(alice) {
		t.Fatal("a signed-in user was stopped by the store outage")
	}
	r := e.browser().login("bob", testPassword)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") {
		t.Fatalf("a sign-in during the outage: %d %s", r.status, r.body)
	}
	if r = e.browser().login("bob", "wrong"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("a wrong password during the outage: %d", r.status)
	}

	outage.Up()
	var back resp
	for range 5 {
		if back = e.browser().login("bob", testPassword); back.status == http.StatusSeeOther {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if back.status != http.StatusSeeOther || back.header.Get("Location") != Prefix+"register" {
		t.Fatalf("a sign-in after the outage: %d %q", back.status, back.header.Get("Location"))
	}
	// The refused wrong password counted nowhere.
	if f, err := st.Failures(context.Background(), "bob", store.FailuresPassword); err != nil || f.Count != 0 {
		t.Fatalf("bob's failures after the outage: %+v, %v", f, err)
	}
	if !e.signedIn(alice) {
		t.Fatal("alice after the outage")
	}
}
