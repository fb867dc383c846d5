package caddymodule_test

import (
	"fmt"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/stepgate/stepgate/caddymodule"
	"github.com/stepgate/stepgate/internal/gatewaytest"
)

const (
	testPassword = "correct horse battery"
	testSecret   = "integration-test-secret-0123456789abcdef"
	base         = "http://localhost:9080"
)

var testHash string

func TestMain(m *testing.M) {
	// The test binary is also a Caddy with Stepgate, for the tests that
	// need Caddy processes of their own (twoprocess_integration_test.go).
	if config := os.Getenv(caddyProcessEnv); config != "" {
		os.Args = []string{"stepgate", "run", "--config", config, "--adapter", "caddyfile"}
		caddycmd.Main()
		return
	}
	gatewaytest.Main(m, "stepgate-caddytest-", testPassword, &testHash)
}

// writeUsers writes a users file with the given users, all with testPassword.
func writeUsers(t *testing.T, users ...string) string {
	return gatewaytest.WriteUsers(t, testHash, users...)
}

// echoBackend is the protected app: it answers with the request headers it
// received, one per line, sorted.
func echoBackend(t *testing.T) string { return gatewaytest.Echo(t) }

// startCaddyfile loads a Caddyfile into the in-process Caddy: the test
// server's global options, then the stepgate global block and the sites.
// It returns the Caddyfile.
func startCaddyfile(t *testing.T, stepgateBlock, sites string) string {
	t.Helper()
	return startCaddyfileWith(t, "", stepgateBlock, sites)
}

// startCaddyfileWith is startCaddyfile with more global options.
func startCaddyfileWith(t *testing.T, global, stepgateBlock, sites string) string {
	t.Helper()
	caddyfile := `
{
	` + global + `
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	default_bind 127.0.0.1
	stepgate {
		# No CPU ceiling on hashing: the tests sign in back to back.
		password_cpu 100%
` + stepgateBlock + `
	}
}
` + sites
	caddytest.NewTester(t).InitServer(caddyfile, "caddyfile")
	gatewaytest.Settled(t, 9080, 9443)
	return caddyfile
}

// stepgateBlock is the stepgate options the test sites share: users, the
// test secret, a fresh store (its path is returned), first-sign-in
// registration and the help contact, then extra.
func stepgateBlock(t *testing.T, users, extra string) (block, db string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "state.db")
	return fmt.Sprintf(`
		users_file %s
		secret %s
		store sqlite %s
		registration first_sign_in
		help_contact "the help desk"
		%s`, users, testSecret, db, extra), db
}

func startCaddy(t *testing.T, users, session, backend string) {
	t.Helper()
	block, _ := stepgateBlock(t, users, session+`
		lockout {
			threshold 3
		}`)
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080, http://127.0.0.1:9080 {
	route /admin/* {
		stepgate {
			allow group admins
		}
		reverse_proxy %s
	}
	stepgate
	reverse_proxy %s
}
`, backend, backend))
}

// client is gatewaytest's browser with this package's short names.
type client struct {
	*gatewaytest.Client
	t *testing.T
}

func newClient(t *testing.T) *client { return newClientAt(t, base) }

// newClientAt is a browser for a site at another origin.
func newClientAt(t *testing.T, origin string) *client {
	return &client{Client: gatewaytest.NewClient(t, origin), t: t}
}

type response struct {
	status   int
	body     string
	location string
}

func wrap(r gatewaytest.Response) response { return response{r.Status, r.Body, r.Location} }

// do sends a request to a full URL; a form makes it a same-origin post.
func (c *client) do(method, u string, form url.Values, hdr map[string]string) response {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	return wrap(c.Do(method, u, body, hdr))
}

func (c *client) get(path string) response { return wrap(c.Get(path)) }

// post submits a form with the CSRF token from the page at from.
func (c *client) post(from, to string, form url.Values) response {
	c.t.Helper()
	return wrap(c.Post(from, to, form))
}

func (c *client) cookie(name string) string { return c.Cookie(name) }

func code(t *testing.T, secret string, at time.Time) string { return gatewaytest.Code(t, secret, at) }

// register signs a new user in for the first time, setting up TOTP.
func (c *client) register(user, rd string) (secret string, final response) {
	c.t.Helper()
	secret, r := c.Register(user, testPassword, rd)
	return secret, wrap(r)
}

func TestSignInThroughCaddy(t *testing.T) {
	users := writeUsers(t, "alice", "bob", "dave")
	startCaddy(t, users, "", echoBackend(t))
	c := newClient(t)

	// 1. A browser without a session is sent to the portal with rd.
	r := c.get("/reports?x=1")
	if r.status != http.StatusFound || r.location != "/.stepgate/?rd=%2Freports%3Fx%3D1" {
		t.Fatalf("unauthenticated browser: %d %q", r.status, r.location)
	}
	// A non-browser client gets 401 JSON.
	api := c.do("GET", base+"/api", nil, map[string]string{"Accept": "application/json"})
	if api.status != http.StatusUnauthorized || !strings.Contains(api.body, `"unauthenticated"`) {
		t.Fatalf("API client: %d %s", api.status, api.body)
	}
	login := c.get(r.location)
	for _, want := range []string{">Username</label>", ">Password</label>", ">Sign in</button>"} {
		if !strings.Contains(login.body, want) {
			t.Fatalf("sign-in page lacks %q", want)
		}
	}
	// 2. CSRF: a form without the token is refused.
	if r := c.do("POST", base+"/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}, nil); r.status != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: %d", r.status)
	}
	// 3. Password, then first-sign-in TOTP registration, back to rd.
	secret, final := c.register("alice", "/reports?x=1")
	if final.status != http.StatusSeeOther || final.location != "/reports?x=1" {
		t.Fatalf("registration: %d %q", final.status, final.location)
	}
	// 4. The app sees the identity, never the client's spoofed copies.
	app := c.do("GET", base+"/reports?x=1", nil, map[string]string{
		"Remote-User": "root", "remote_user": "root", "Remote.Groups": "admins", "X-Forwarded-User": "root", "REMOTE-EMAIL": "root@evil",
	})
	if app.status != 200 || !strings.HasPrefix(app.body, "BACKEND /reports?x=1") {
		t.Fatalf("app: %d %s", app.status, app.body)
	}
	for _, want := range []string{"\nRemote-User: alice\n", "\nRemote-Groups: staff\n", "\nRemote-Email: alice@example.com\n", "\nRemote-Name: Alice Example\n"} {
		if !strings.Contains(app.body+"\n", want) {
			t.Errorf("app did not get %q:\n%s", strings.TrimSpace(want), app.body)
		}
	}
	if strings.Contains(app.body, "root") || strings.Contains(strings.ToLower(app.body), "remote_user") {
		t.Errorf("a spoofed header reached the app:\n%s", app.body)
	}
	// The policy on /admin/ refuses alice (not in admins).
	if r := c.get("/admin/panel"); r.status != http.StatusForbidden {
		t.Errorf("alice on /admin/: %d", r.status)
	}

	// 5. TOTP replay: the next step's code signs in once, then never again.
	c2 := newClient(t)
	next := code(t, secret, time.Now().Add(30*time.Second))
	c2.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	if r := c2.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {next}}); r.status != http.StatusSeeOther {
		t.Fatalf("fresh code: %d %s", r.status, r.body)
	}
	c3 := newClient(t)
	c3.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	if r := c3.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {next}}); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "already been used") {
		t.Fatalf("replayed code: %d", r.status)
	}

	// 6. Cookie attacks: tampered, other host.
	session := c.cookie("stepgate")
	if session == "" {
		t.Fatal("no session cookie")
	}
	flipped := []byte(session)
	flipped[len(flipped)/2] ^= 1
	for name, hdr := range map[string]map[string]string{
		"tampered":   {"Cookie": "stepgate=" + string(flipped)},
		"truncated":  {"Cookie": "stepgate=" + session[:len(session)-4]},
		"other host": {"Cookie": "stepgate=" + session, "Host": "127.0.0.1:9080"},
	} {
		if r := newClient(t).do("GET", base+"/", nil, hdr); r.status != http.StatusFound {
			t.Errorf("%s cookie: %d", name, r.status)
		}
	}
	if r := newClient(t).do("GET", base+"/", nil, map[string]string{"Cookie": "stepgate=" + session}); r.status != 200 {
		t.Fatalf("copied valid cookie: %d", r.status)
	}

	// 7. Logout ends the session; the old cookie value is dead everywhere.
	if r := c.post("/.stepgate/logout", "/.stepgate/logout", url.Values{}); r.status != 200 {
		t.Fatalf("logout: %d", r.status)
	}
	if r := c.get("/"); r.status != http.StatusFound {
		t.Fatalf("after logout: %d", r.status)
	}
	if r := newClient(t).do("GET", base+"/", nil, map[string]string{"Cookie": "stepgate=" + session}); r.status != http.StatusFound {
		t.Fatalf("replayed cookie after logout: %d", r.status)
	}

	// 8. Lockout after repeated wrong passwords (threshold 3), surviving a
	// new flow.
	for i := 0; i < 3; i++ {
		if r := newClient(t).post("/.stepgate/", "/.stepgate/", url.Values{"username": {"bob"}, "password": {"wrong"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, r.status)
		}
	}
	if r := newClient(t).post("/.stepgate/", "/.stepgate/", url.Values{"username": {"bob"}, "password": {testPassword}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("locked bob with the right password: %d", r.status)
	}
	// ...and after repeated wrong codes.
	d := newClient(t)
	dsecret, _ := d.register("dave", "/")
	for i := 0; i < 3; i++ {
		x := newClient(t)
		x.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"dave"}, "password": {testPassword}})
		if r := x.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {"000000"}}); r.status != http.StatusUnauthorized && code(t, dsecret, time.Now()) != "000000" {
			t.Fatalf("wrong code %d: %d", i, r.status)
		}
	}
	x := newClient(t)
	x.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"dave"}, "password": {testPassword}})
	if r := x.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, dsecret, time.Now().Add(30*time.Second))}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("locked dave with a right code: %d", r.status)
	}
}

func TestExpiredSessionThroughCaddy(t *testing.T) {
	users := writeUsers(t, "erin")
	startCaddy(t, users, "session {\n\t\t\tlifetime 2s\n\t\t}", echoBackend(t))
	c := newClient(t)
	if _, r := c.register("erin", "/"); r.status != http.StatusSeeOther {
		t.Fatalf("registration: %d", r.status)
	}
	if r := c.get("/"); r.status != 200 {
		t.Fatalf("fresh session: %d", r.status)
	}
	time.Sleep(2500 * time.Millisecond)
	if r := c.get("/"); r.status != http.StatusFound {
		t.Fatalf("expired session: %d", r.status)
	}
}

// TestNestedRulesJudgeOneIdentity: a request that meets two stepgate
// handlers (the site's, then a stricter one inside a route) is judged by
// both with the identity the first found, although the first took the
// session cookie out of the request: an admin passes both, a user who is
// not an admin is refused by the second, and the app sees no session.
func TestNestedRulesJudgeOneIdentity(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.yaml")
	yaml := "users:\n  alice:\n    groups: [staff]\n    password: '" + testHash + "'\n" +
		"  root:\n    groups: [staff, admins]\n    password: '" + testHash + "'\n"
	if err := os.WriteFile(users, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	startCaddy(t, users, "", echoBackend(t))
	root, alice := newClient(t), newClient(t)
	root.register("root", "/")
	alice.register("alice", "/")
	r := root.get("/admin/panel")
	if r.status != http.StatusOK || !strings.HasPrefix(r.body, "BACKEND /admin/panel") || !strings.Contains(r.body, "Remote-User: root") {
		t.Fatalf("admin through both rules: %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, "stepgate") {
		t.Errorf("a Stepgate cookie reached the app:\n%s", r.body)
	}
	if r := alice.get("/admin/panel"); r.status != http.StatusForbidden {
		t.Errorf("non-admin on the stricter rule: %d", r.status)
	}
	if r := alice.get("/reports"); r.status != http.StatusOK {
		t.Errorf("non-admin on the general rule: %d", r.status)
	}
}
