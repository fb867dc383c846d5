// Package gatewaytest is what tests that run Stepgate inside a real Caddy
// share (caddymodule's integration and browser tests, the attack suite): an
// isolated Caddy data directory, a users file, an echo app, and a
// browser-like HTTP client. Only tests import it.
package gatewaytest

import (
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
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	pw "github.com/stepgate/stepgate/verifiers/password"
)

// Isolate points Caddy's data and config directories (and so the default
// store) at a temporary directory, never the developer's home. Call it
// from TestMain; the returned function removes the directory.
func Isolate(prefix string) func() {
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", filepath.Join(tmp, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(tmp, "config"))
	return func() { os.RemoveAll(tmp) }
}

// Main is a TestMain for packages that run Caddy: it isolates Caddy's
// directories, sets *hash to a hash of password (for WriteUsers), runs the
// tests, cleans up and exits.
func Main(m *testing.M, prefix, password string, hash *string) {
	cleanup := Isolate(prefix)
	var err error
	if *hash, err = pw.Hash(password); err != nil {
		panic(err)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// WriteUsers writes a users file with the given users (display name,
// email, group "staff"), all with the password whose hash is given.
func WriteUsers(t testing.TB, hash string, users ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "  %s:\n    display_name: %s Example\n    email: %s@example.com\n    groups: [staff]\n    password: '%s'\n", u, strings.ToUpper(u[:1])+u[1:], u, hash)
	}
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Echo starts the protected app: it answers "BACKEND <uri>" and the
// request headers it received, one per line, sorted. It returns host:port.
func Echo(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lines []string
		for k, v := range r.Header {
			lines = append(lines, k+": "+strings.Join(v, "|"))
		}
		sort.Strings(lines)
		fmt.Fprintf(w, "BACKEND %s\n%s\n", r.URL.RequestURI(), strings.Join(lines, "\n"))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Client is a browser: a cookie jar, no automatic redirects, HTML accepted.
type Client struct {
	T    testing.TB
	HTTP *http.Client
	Base string // scheme://host:port of the gateway
}

// NewClient makes a browser for the gateway at base.
func NewClient(t testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{T: t, Base: base, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Response is what came back.
type Response struct {
	Status   int
	Body     string
	Location string
	Header   http.Header
}

// Do sends a request to path (or a full URL). A POST with a body is a
// same-origin form post. hdr may set "Host", and its keys are sent as
// spelled.
func (c *Client) Do(method, path string, body io.Reader, hdr map[string]string) Response {
	c.T.Helper()
	u := path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.Base + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.T.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.Base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header[k] = []string{v}
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return Response{res.StatusCode, string(b), res.Header.Get("Location"), res.Header}
}

// Get fetches path.
func (c *Client) Get(path string) Response { return c.Do("GET", path, nil, nil) }

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF reads the form token from the page at path.
func (c *Client) CSRF(path string) string {
	c.T.Helper()
	m := csrfRe.FindStringSubmatch(c.Get(path).Body)
	if m == nil {
		c.T.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// Post submits a form to `to` with the token from the page at from.
func (c *Client) Post(from, to string, form url.Values) Response {
	c.T.Helper()
	form.Set("csrf", c.CSRF(from))
	return c.Do("POST", to, strings.NewReader(form.Encode()), nil)
}

// Cookie returns the value of a cookie the gateway set, or "".
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.Base)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// SecretRe finds the authenticator secret on the set-up page.
var SecretRe = regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`)

// Register runs user's first sign-in (password, with return URL rd, then
// setting up an authenticator app) and returns the app's secret and the
// last response.
func (c *Client) Register(user, password, rd string) (string, Response) {
	c.T.Helper()
	r := c.Post("/.stepgate/?rd="+url.QueryEscape(rd), "/.stepgate/", url.Values{"username": {user}, "password": {password}, "rd": {rd}})
	if r.Status != http.StatusSeeOther || r.Location != "/.stepgate/register" {
		c.T.Fatalf("password step for %s: %d %q", user, r.Status, r.Location)
	}
	page := c.Get("/.stepgate/register")
	m := SecretRe.FindStringSubmatch(page.Body)
	if m == nil {
		c.T.Fatalf("registration page without a secret: %d", page.Status)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	return secret, c.Post("/.stepgate/register", "/.stepgate/register", url.Values{"code": {Code(c.T, secret, time.Now())}})
}

// Code is the authenticator code for secret at a time.
func Code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// AdminSpellings are ways to ask for an admins-only /admin/ that an app
// may read as that part while a proxy's path rules see another path (no
// trailing slash, case, path parameters, trailing dot, backslash, encoded
// and dot segments through an exception under /reports/ or /static/).
// Send them exactly as written (URL.Opaque).
var AdminSpellings = []string{"/admin", "/admin/", "/admin/users", "/ADMIN/users", "/admin;x/users", "/admin;/users",
	"/admin./users", "/admin\\users", "/admin%2fusers", "/admin%5cusers", "/%61dmin/users",
	"/reports/..;/admin/users", "/reports/%2e%2e;/admin/users", "/reports/%2e%2e/admin/users", "/reports/..%2fadmin/users",
	"/reports;/../admin/users", "/static/..%5cadmin/users", "/static/%252e%252e/admin/users", "/reports/.;/../admin/users"}

// PublicSpellings are ways to ask for something outside an open /public/
// (a part anyone may read, signed in or not) that a proxy's path rules
// could take for /public/ while an app reads another path: case, a
// missing or doubled slash, a trailing dot, path parameters, backslashes,
// encoded and dot segments out of /public/. None may reach the app
// unauthenticated. Send them exactly as written (URL.Opaque).
var PublicSpellings = []string{"/", "/secret", "/public", "/publicx/secret", "/PUBLIC/secret", "/Public/x", "//secret",
	"/public./secret", "/public;/../secret", "/public/..;/secret", "/public/../secret", "/public/./../secret",
	"/public/x/../../secret", "/public/%2e%2e/secret", "/public/%2E%2E/secret", "/public/.%2e/secret",
	"/public/..%2fsecret", "/public%2f..%2fsecret", "/public/..\\secret", "/public\\..\\secret",
	"/public/%5c..%5csecret", "/public/%252e%252e/secret", "/public/%2e%2e%2fsecret"}

// PublicPaths are inside the open /public/: they reach the app without a
// sign-in.
var PublicPaths = []string{"/public/", "/public/app.css", "/public/a/b?x=1"}
