package attack

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/internal/gatewaytest"
)

// readmeRouteExample returns the body of README.md's per-path rule
// example (the Caddyfile site block that has `allow group admins`), with
// its upstream addresses as %s.
func readmeRouteExample(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(doc), "```caddyfile\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.HasPrefix(block, "app.example.com {") || !strings.Contains(block, "allow group admins") {
			continue
		}
		body := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(block, "app.example.com {")), "}")
		for _, up := range []string{"127.0.0.1:8080", "127.0.0.1:9000"} {
			body = strings.ReplaceAll(body, up, "%s")
		}
		return body
	}
	t.Fatal("README.md has no per-path rule example")
	return ""
}

// TestRouteRuleBypass runs README.md's per-path rule example in front of
// the echo app and asks for the admins-only part in the spellings an app
// may read as that part (no trailing slash, path parameters, trailing dot,
// backslash, encoded and dot segments through an exception): a user who is
// not an admin never reaches it, while the exceptions stay open to them
// and an admin passes everywhere. Without a sign-in, only the open
// /public/ is reached, in no spelling of anything else.
func TestRouteRuleBypass(t *testing.T) {
	g := startSite(t, []string{"alice", "root"}, "", readmeRouteExample(t))
	users := "users:\n" +
		"  alice:\n    groups: [staff]\n    password: '" + testHash + "'\n" +
		"  root:\n    groups: [staff, admins]\n    password: '" + testHash + "'\n"
	if err := os.WriteFile(g.users, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	// Caddy skips loading a configuration equal to the running one; this
	// one differs, so the new users file is read.
	g.cfg = strings.Replace(g.cfg, `help_contact "the help desk"`, `help_contact "the help desk."`, 1)
	g.restart()
	alice, root := newClient(t), newClient(t)
	alice.register("alice")
	root.register("root")

	reach := func(c *client, path string) (int, bool) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = path // sent exactly as written
		req.Header.Set("Accept", "text/html")
		status, body := c.send(req, 64)
		return status, strings.HasPrefix(body, "BACKEND")
	}
	strict := gatewaytest.AdminSpellings
	for _, p := range strict {
		if status, reached := reach(alice, p); reached {
			t.Errorf("alice (not an admin) on %s: %d, reached the app: %v", p, status, reached)
		}
		if status, reached := reach(root, p); p == "/admin/users" && (!reached || status != http.StatusOK) {
			t.Errorf("root (an admin) on %s: %d", p, status)
		}
	}
	for _, p := range []string{"/reports", "/reports/q?x=1", "/static/app.css"} {
		if status, reached := reach(alice, p); !reached || status != http.StatusOK {
			t.Errorf("alice on the exception %s: %d", p, status)
		}
	}
	// /public/ is open to everyone: nothing else is, in any spelling.
	anon := newClient(t)
	for _, p := range gatewaytest.PublicSpellings {
		if status, reached := reach(anon, p); reached {
			t.Errorf("not signed in, %s: %d, reached the app", p, status)
		}
	}
	for _, p := range gatewaytest.PublicPaths {
		if status, reached := reach(anon, p); !reached || status != http.StatusOK {
			t.Errorf("not signed in, the open %s: %d", p, status)
		}
	}
	t.Logf("%d spellings of the admins-only part and %d outside /public/ tried", len(strict), len(gatewaytest.PublicSpellings))
}
