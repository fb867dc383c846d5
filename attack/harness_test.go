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
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/stepgate/stepgate/caddymodule"
	"github.com/stepgate/stepgate/verifiers/password"
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

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "stepgate-attack-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", filepath.Join(tmp, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(tmp, "config"))
	if testHash, err = password.Hash(password_); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// gateway is one running Caddy with Stepgate.
type gateway struct {
	t     *testing.T
	dir   string
	db    string
	users string
	log   string // Caddy's log file (JSON lines)
	cfg   string
}

// usersFile writes users (all with the test password) and returns its path.
func usersFile(t *testing.T, dir string, names ...string) string {
	var b strings.Builder
	b.WriteString("users:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n    email: %s@example.com\n    groups: [staff]\n    password: '%s'\n", n, n, testHash)
	}
	path := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// start serves the echo app behind Stepgate for users, with extra stepgate
// options (a lockout of 5, first-sign-in registration and a log file are
// always set).
func start(t *testing.T, users []string, extra string) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir()}
	g.db = filepath.Join(g.dir, "state.db")
	g.log = filepath.Join(g.dir, "caddy.log")
	g.users = usersFile(t, g.dir, users...)
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
		users_file %s
		secret %s
		store sqlite %s
		registration first_sign_in
		help_contact "the help desk"
		password_cpu 100%%
		%s
	}
}

http://localhost:%d, http://127.0.0.1:%d {
	stepgate
	reverse_proxy %s
}
`, adminPort, httpPort, g.log, g.users, secret, g.db, extra, httpPort, httpPort, echo(t))
	g.restart()
	return g
}

// restart loads the configuration again: a new app, store and portal, as
// after a restart of Caddy.
func (g *gateway) restart() {
	g.t.Helper()
	caddytest.NewTester(g.t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort}).InitServer(g.cfg, "caddyfile")
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

// echo is the protected app: it answers with the request's headers.
func echo(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lines []string
		for k, vs := range r.Header {
			for _, v := range vs {
				lines = append(lines, k+": "+v)
			}
		}
		sort.Strings(lines)
		fmt.Fprintf(w, "APP %s\n%s\n", r.URL.RequestURI(), strings.Join(lines, "\n"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// client is a browser: a cookie jar, no automatic redirects.
type client struct {
	t *testing.T
	c *http.Client
}

func newClient(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status   int
	body     string
	location string
	header   http.Header
}

// do sends a request; hdr may set "Host".
func (c *client) do(method, path string, body io.Reader, hdr map[string]string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header[k] = []string{v}
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return response{res.StatusCode, string(b), res.Header.Get("Location"), res.Header}
}

func (c *client) get(path string) response { return c.do("GET", path, nil, nil) }

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from the page at path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	m := csrfRe.FindStringSubmatch(c.get(path).body)
	if m == nil {
		c.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// post submits a form with the token from the page at from.
func (c *client) post(from, to string, form url.Values) response {
	c.t.Helper()
	form.Set("csrf", c.csrf(from))
	return c.do("POST", to, strings.NewReader(form.Encode()), nil)
}

// login runs the password step.
func (c *client) login(user, pw string) response {
	return c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {user}, "password": {pw}})
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(base)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secretRe = regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`)

// register signs user in for the first time, setting up an authenticator
// app, and returns its secret; c is then signed in.
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
