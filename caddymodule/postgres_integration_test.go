package caddymodule_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
)

// TestPostgresStoreThroughCaddy: with `store postgres URL`, what a
// sign-in stores (the authenticator app, the failure counter) is in
// PostgreSQL: it is there after the configuration is loaded again (a new
// app and a new connection pool, as on another instance), and the
// `stepgate user` commands read it through the same config file.
func TestPostgresStoreThroughCaddy(t *testing.T) {
	pg := gatewaytest.PostgresURL(t)
	users := writeUsers(t, "alice", "bob")
	block := fmt.Sprintf(`
		users_file %s
		secret %s
		store postgres "%s"
		registration first_sign_in
		help_contact "the help desk"`, users, testSecret, pg)
	sites := fmt.Sprintf(`
http://localhost:9080, http://127.0.0.1:9080 {
	stepgate
	reverse_proxy %s
}
`, echoBackend(t))
	startCaddyfile(t, block, sites)
	c := newClient(t)
	secret, r := c.register("alice", "/")
	if r.status != http.StatusSeeOther {
		t.Fatalf("registration: %d", r.status)
	}
	if r := newClient(t).post("/.stepgate/", "/.stepgate/", url.Values{"username": {"bob"}, "password": {"wrong"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("bob's wrong password: %d", r.status)
	}

	// Loaded again: alice's app and bob's failure are still there.
	startCaddyfile(t, block, sites)
	again := newClient(t)
	if r := again.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.location != "/.stepgate/verify" {
		t.Fatalf("alice after the reload: %d %q (her app was not kept)", r.status, r.location)
	}
	if r := again.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, secret, time.Now().Add(30*time.Second))}}); r.status != http.StatusSeeOther {
		t.Fatalf("alice's code after the reload: %d %s", r.status, r.body)
	}
	st, err := store.OpenPostgres(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if f, err := st.Failures(context.Background(), "bob", store.FailuresPassword); err != nil || f.Count != 1 {
		t.Fatalf("bob's failures in PostgreSQL: %+v, %v", f, err)
	}
}
