// Package attack is Stepgate's attack suite: integration tests that start a
// real Caddy with Stepgate in front of an echo app and try what an attacker
// would. Each test is named after the attack; SECURITY.md lists them with
// what the product promises.
package attack

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/stepgate/stepgate/caddymodule"
	"github.com/stepgate/stepgate/internal/gatewaytest"
)

// Ports of this package's Caddy, apart from caddymodule's tests (which
// go test may run at the same time) and from bench/run.sh.
const (
	adminPort = 3999
	httpPort  = 9280
	base      = "http://localhost:9280"
	password_ = "correct horse battery staple"
	secret    = "attack-suite-secret-0123456789abcdef"
)

var testHash string

func TestMain(m *testing.M) { gatewaytest.Main(m, "stepgate-attack-", password_, &testHash) }

// gateway is one running Caddy with Stepgate.
type gateway struct {
	t     *testing.T
	dir   string
	db    string
	users string
	log   string // Caddy's log file (JSON lines)
	cfg   string
}

// start serves the echo app behind Stepgate for users, with extra stepgate
// options (a lockout of 5, first-sign-in registration and a log file are
// always set).
func start(t *testing.T, users []string, extra string) *gateway {
	t.Helper()
	return startSite(t, users, extra, "stepgate\n\treverse_proxy %s")
}

// startSite is start with another site block body: site has one %s, which
// becomes the echo app's address.
func startSite(t *testing.T, users []string, extra, site string) *gateway {
	t.Helper()
	file := gatewaytest.WriteUsers(t, testHash, users...)
	g := startWith(t, "users_file "+file, extra, site)
	g.users = file
	return g
}

// startWith is startSite with the users from directory, the stepgate
// option that names them (users_file PATH, directory ldap { … }).
func startWith(t *testing.T, directory, extra, site string) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir()}
	g.db = filepath.Join(g.dir, "state.db")
	g.log = filepath.Join(g.dir, "caddy.log")
	g.cfg = fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port 9643
	grace_period 1ns
	default_bind 127.0.0.1
	log {
		output file %s
		format json
	}
	stepgate {
		%s
		secret %s
		store sqlite %s
		registration first_sign_in
		help_contact "the help desk"
		# The tests sign in back to back from one address, and the budget
		# outlives each test's config reload: no ceiling and no budget in
		# their way (TestPasswordFloodFromOneNetwork sets its own).
		password_cpu 100%%
		password_attempts 1000000 per 1m
		%s
	}
}

http://localhost:%d, http://127.0.0.1:%d {
	%s
}
`, adminPort, httpPort, g.log, directory, secret, g.db, extra, httpPort, httpPort, strings.ReplaceAll(site, "%s", gatewaytest.Echo(t)))
	g.restart()
	return g
}

// restart loads the configuration again: a new app, store and portal, as
// after a restart of Caddy.
func (g *gateway) restart() {
	g.t.Helper()
	caddytest.NewTester(g.t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort}).InitServer(g.cfg, "caddyfile")
	gatewaytest.Settled(g.t, httpPort)
}

// logLines returns the log entries whose raw JSON contains all of want.
func (g *gateway) logLines(want ...string) []string {
	f, err := os.Open(g.log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		for _, w := range want {
			if !strings.Contains(sc.Text(), w) {
				continue next
			}
		}
		out = append(out, sc.Text())
	}
	return out
}

// client is gatewaytest's browser with this suite's short names.
type client struct {
	*gatewaytest.Client
	t *testing.T
	c *http.Client
}

func newClient(t *testing.T) *client {
	g := gatewaytest.NewClient(t, base)
	return &client{Client: g, t: t, c: g.HTTP}
}

type response struct {
	status   int
	body     string
	location string
	header   http.Header
}

func wrap(r gatewaytest.Response) response { return response{r.Status, r.Body, r.Location, r.Header} }

// do sends a request; hdr may set "Host". A body makes it a same-origin
// form post unless hdr says otherwise.
func (c *client) do(method, path string, body io.Reader, hdr map[string]string) response {
	c.t.Helper()
	return wrap(c.Do(method, path, body, hdr))
}

func (c *client) get(path string) response { return wrap(c.Get(path)) }

// send sends req as it is (with c's cookies) and returns the status and
// the first limit bytes of the body.
func (c *client) send(req *http.Request, limit int64) (int, string) {
	c.t.Helper()
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, limit))
	return res.StatusCode, string(body)
}

func (c *client) csrf(path string) string { return c.CSRF(path) }

func (c *client) post(from, to string, form url.Values) response {
	c.t.Helper()
	return wrap(c.Post(from, to, form))
}

// login runs the password step.
func (c *client) login(user, pw string) response {
	return c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {user}, "password": {pw}})
}

func (c *client) cookie(name string) string { return c.Cookie(name) }

func code(t *testing.T, secret string, at time.Time) string { return gatewaytest.Code(t, secret, at) }

var secretRe = gatewaytest.SecretRe

// register signs user in for the first time from the plain sign-in page,
// setting up an authenticator app, and returns its secret; c is then
// signed in.
func (c *client) register(user string) string {
	c.t.Helper()
	if r := c.login(user, password_); r.location != "/.stepgate/register" {
		c.t.Fatalf("password step for %s: %d %q", user, r.status, r.location)
	}
	m := secretRe.FindStringSubmatch(c.get("/.stepgate/register").body)
	if m == nil {
		c.t.Fatal("no secret on the registration page")
	}
	s := strings.ReplaceAll(m[1], " ", "")
	if r := c.post("/.stepgate/register", "/.stepgate/register", url.Values{"code": {code(c.t, s, time.Now())}}); r.status != http.StatusSeeOther {
		c.t.Fatalf("registration of %s: %d %s", user, r.status, r.body)
	}
	return s
}

// names returns n user names with a prefix.
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}
