package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/internal/softkey"
)

// TestRequirePhishingResistantThroughCaddy: /admin/ has its own stepgate
// with `require phishing_resistant` (inside a route, after the site's);
// a session whose second step was an app code is stepped up there and
// let in everywhere else; once the user has verified with a passkey,
// /admin/ lets the same session in and the app learns how.
func TestRequirePhishingResistantThroughCaddy(t *testing.T) {
	users := writeUsers(t, "alice")
	block, _ := stepgateBlock(t, users, "passkeys")
	backend := echoBackend(t)
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080, http://127.0.0.1:9080 {
	route /admin/* {
		stepgate {
			require phishing_resistant
		}
		reverse_proxy %s
	}
	stepgate
	reverse_proxy %s
}
`, backend, backend))
	c := newClient(t)
	c.register("alice", "/")
	if r := c.get("/reports"); r.status != http.StatusOK || !strings.Contains(r.body, "\nRemote-Auth-Methods: password,totp\n") {
		t.Fatalf("a TOTP session elsewhere: %d %s", r.status, r.body)
	}
	if r := c.get("/admin/users?x=1"); r.status != http.StatusFound || r.location != "/.stepgate/step-up?rd=%2Fadmin%2Fusers%3Fx%3D1" {
		t.Fatalf("a TOTP session on /admin/: %d %q", r.status, r.location)
	}
	if r := c.do("GET", base+"/admin/users", nil, map[string]string{"Accept": "application/json"}); r.status != http.StatusForbidden ||
		!strings.Contains(r.body, "phishing_resistant_required") {
		t.Fatalf("an API client on /admin/: %d %s", r.status, r.body)
	}
	if r := c.get("/.stepgate/step-up?rd=%2Fadmin%2Fusers"); r.status != http.StatusForbidden || !strings.Contains(r.body, "This app needs a passkey") {
		t.Fatalf("step-up without a passkey: %d %s", r.status, r.body)
	}
	key := softkey.New()
	if r := c.AnswerPasskey("/.stepgate/security-info/add/passkey", "/.stepgate/security-info/add/passkey", key, url.Values{"name": {"Key"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("adding a passkey: %d %s", r.Status, r.Body)
	}
	if r := c.get("/.stepgate/step-up?rd=%2Fadmin%2Fusers"); r.status != http.StatusSeeOther || r.location != "/.stepgate/verify" {
		t.Fatalf("step-up: %d %q", r.status, r.location)
	}
	if r := c.AnswerPasskey("/.stepgate/verify", "/.stepgate/verify", key, nil); r.Status != http.StatusSeeOther || r.Location != "/admin/users" {
		t.Fatalf("verifying with the passkey: %d %q", r.Status, r.Location)
	}
	if r := c.get("/admin/users"); r.status != http.StatusOK || !strings.Contains(r.body, "BACKEND /admin/users") ||
		!strings.Contains(r.body, "\nRemote-Auth-Methods: password,passkey\n") {
		t.Fatalf("/admin/ after the passkey: %d %s", r.status, r.body)
	}
}
