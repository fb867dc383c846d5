package portal

import (
	"crypto/tls"
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
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

// testPassword is every test user's password. Hashing it once keeps the
// tests fast (argon2id is deliberately slow).
const testPassword = "correct horse battery"

var (
	hashOnce sync.Once
	testHash string
)

func passwordHash(t testing.TB) string {
	hashOnce.Do(func() {
		h, err := password.Hash(testPassword)
		if err != nil {
			t.Fatal(err)
		}
		testHash = h
	})
	return testHash
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time            { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration)       { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newClock() *clock                     { return &clock{now: time.Unix(1_800_000_000, 0)} }
func (c *clock) code(secret string) string { return codeAt(secret, c.Now()) }

func codeAt(secret string, at time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		panic(err)
	}
	return c
}

// env is a portal in front of an echo app, on an httptest server.
type env struct {
	t         testing.TB
	p         *Portal
	st        store.Store
	clock     *clock
	srv       *httptest.Server
	usersFile string
	logs      *observer.ObservedLogs
	cfg       Config
	secret    string // the last registered authenticator secret
}

type envOption func(*Config)

const usersYAML = `users:
  alice:
    display_name: Alice Example
    email: alice@example.com
    groups: [engineering, ops]
    password: '%s'
  bob:
    password: '%s'
  carol:
    disabled: true
    password: '%s'
`

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	h := passwordHash(t)
	if err := os.WriteFile(users, []byte(strings.ReplaceAll(usersYAML, "%s", h)), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvWith(t, users, st, opts...)
}

func newEnvWith(t testing.TB, users string, st store.Store, opts ...envOption) *env {
	t.Helper()
	dir, err := password.Open(users)
	if err != nil {
		t.Fatal(err)
	}
	// No CPU ceiling or per-network budget in the way of the tests'
	// sign-ins, which all come from loopback.
	dir.SetLimits(password.Limits{CPUShare: 1, Attempts: 1 << 20})
	core, logs := observer.New(zap.DebugLevel)
	e := &env{t: t, st: st, clock: newClock(), usersFile: users, logs: logs}
	e.cfg = Config{
		Users: dir, Store: st, Secrets: []string{strings.Repeat("s", 32)},
		FirstSignInRegistration: true, HelpContact: "the help desk",
		Logger: zap.New(core), Now: e.clock.Now,
	}
	for _, o := range opts {
		o(&e.cfg)
	}
	if e.p, err = New(e.cfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.handler(Policy{}))
	t.Cleanup(e.srv.Close)
	return e
}

// handler is what caddymodule.Handler does, minus Caddy: the portal
// under Prefix, the protected echo app elsewhere.
func (e *env) handler(pol Policy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsPortalPath(r) {
			e.p.ServeHTTP(w, r)
			return
		}
		if _, done := e.p.Protect(w, r, pol); done {
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		var keys []string
		for k, v := range r.Header {
			keys = append(keys, k+": "+strings.Join(v, "|"))
		}
		sort.Strings(keys)
		io.WriteString(w, "APP "+r.URL.RequestURI()+"\n"+strings.Join(keys, "\n"))
	})
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    testing.TB
	e    *env
	c    *http.Client
	base string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, base: e.srv.URL, c: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}}
}

type resp struct {
	status int
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) resp {
	b.t.Helper()
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(body), res.Header}
}

func (b *browser) get(path string) resp {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form from the page at from, with the CSRF token read from
// that page, the way a browser would (same-origin headers included).
func (b *browser) post(from, to string, form url.Values) resp {
	b.t.Helper()
	page := b.get(from)
	m := csrfRe.FindStringSubmatch(page.body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s (status %d): %s", from, page.status, page.body)
	}
	form.Set("csrf", m[1])
	return b.postRaw(to, form, nil)
}

// postFrom submits a form from page, a page fetched earlier and still
// open in the browser, with that page's CSRF token.
func (b *browser) postFrom(page resp, to string, form url.Values) resp {
	b.t.Helper()
	m := csrfRe.FindStringSubmatch(page.body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page (status %d): %s", page.status, page.body)
	}
	form.Set("csrf", m[1])
	return b.postRaw(to, form, nil)
}

func (b *browser) postRaw(to string, form url.Values, hdr http.Header) resp {
	req, _ := http.NewRequest("POST", b.base+to, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		req.Header[k] = v
	}
	return b.do(req)
}

func (b *browser) login(user, pw string) resp {
	return b.post(Prefix, Prefix, url.Values{"username": {user}, "password": {pw}})
}

var secretRe = regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`)

// register runs the password step and the first-sign-in registration,
// returning the new authenticator secret.
func (b *browser) register(user string) string {
	b.t.Helper()
	r := b.login(user, testPassword)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"register" {
		b.t.Fatalf("login: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	page := b.get(Prefix + "register")
	m := secretRe.FindStringSubmatch(page.body)
	if m == nil {
		b.t.Fatalf("no secret on the registration page: %s", page.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	r = b.post(Prefix+"register", Prefix+"register", url.Values{"code": {b.e.clock.code(secret)}})
	if r.status != http.StatusSeeOther {
		b.t.Fatalf("registration: %d %s", r.status, r.body)
	}
	return secret
}

// signIn runs password + code for an enrolled user; the clock moves one
// step first so the code is fresh.
func (b *browser) signIn(user, secret string) resp {
	b.t.Helper()
	b.e.clock.Add(30 * time.Second)
	r := b.login(user, testPassword)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"verify" {
		b.t.Fatalf("login: %d %s", r.status, r.body)
	}
	return b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {b.e.clock.code(secret)}})
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// rawGet sends a request with exactly the given cookie header.
func (e *env) rawGet(path, cookie string, hdr map[string]string) resp {
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(body), res.Header}
}

// events returns the audit entries with the given event and outcome.
func (e *env) events(event, outcome string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, entry := range e.logs.FilterMessage("sign-in event").All() {
		m := entry.ContextMap()
		if m["event"] == event && (outcome == "" || m["outcome"] == outcome) {
			out = append(out, entry)
		}
	}
	return out
}

func osWriteFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	// Make sure the change is seen even within one mtime tick.
	later := time.Now().Add(time.Duration(len(content)) * time.Millisecond)
	return os.Chtimes(path, later, later)
}

var testTime = time.Unix(1_800_000_000, 0)

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

func failures(n int, last time.Time) store.Failures { return store.Failures{Count: n, Last: last} }

// signedIn reports whether the browser gets through to the app as a
// signed-in user.
func (e *env) signedIn(b *browser) bool {
	r := b.get("/app")
	return r.status == http.StatusOK && strings.HasPrefix(r.body, "APP ")
}
