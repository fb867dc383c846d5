package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers/password"
)

func TestFirstSignInRegistrationThenCodeSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	// A protected URL sends a browser to the portal with the return URL.
	r := b.get("/reports?q=1")
	if r.status != http.StatusFound || r.header.Get("Location") != "/.stepgate/?rd=%2Freports%3Fq%3D1" {
		t.Fatalf("unauthenticated: %d %q", r.status, r.header.Get("Location"))
	}
	page := b.get(r.header.Get("Location"))
	for _, want := range []string{`<label for="username">Username</label>`, `<label for="password">Password</label>`, `>Sign in</button>`, `name="rd" value="/reports?q=1"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	// Password step, keeping the return URL from the form.
	r = b.post("/.stepgate/?rd=%2Freports%3Fq%3D1", Prefix, url.Values{"username": {"alice"}, "password": {testPassword}, "rd": {"/reports?q=1"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/.stepgate/register" {
		t.Fatalf("password step: %d %q", r.status, r.header.Get("Location"))
	}
	// The pending cookie grants nothing.
	if r := b.get("/reports"); r.status != http.StatusFound {
		t.Fatalf("pending sign-in reached the app: %d", r.status)
	}
	reg := b.get(Prefix + "register")
	for _, want := range []string{"Set up your authenticator app", `src="/.stepgate/register/qr.png"`, `id="secret"`, `<label for="code">Enter code</label>`} {
		if !strings.Contains(reg.body, want) {
			t.Errorf("registration page lacks %q", want)
		}
	}
	qr := b.get(Prefix + "register/qr.png")
	if qr.status != 200 || qr.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(qr.body, "\x89PNG") {
		t.Fatalf("QR code: %d %s", qr.status, qr.header.Get("Content-Type"))
	}
	grouped := secretRe.FindStringSubmatch(reg.body)[1]
	secret := strings.ReplaceAll(grouped, " ", "")
	// Reloading the page keeps the same secret (it lives in the pending cookie).
	if again := b.get(Prefix + "register"); !strings.Contains(again.body, grouped) {
		t.Fatal("registration page changed the secret on reload")
	}
	if r := b.post(Prefix+"register", Prefix+"register", url.Values{"code": {"12345"}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, codeFormat(messages.English(), 6)) {
		t.Fatalf("short code: %d", r.status)
	}
	r = b.post(Prefix+"register", Prefix+"register", url.Values{"code": {e.clock.code(secret)}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/reports?q=1" {
		t.Fatalf("registration: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	app := b.get("/reports?q=1")
	if app.status != 200 || !strings.Contains(app.body, "APP /reports?q=1") {
		t.Fatalf("app after sign-in: %d %s", app.status, app.body)
	}
	for _, want := range []string{"Remote-User: alice", "Remote-Groups: engineering,ops", "Remote-Email: alice@example.com", "Remote-Name: Alice Example"} {
		if !strings.Contains(app.body, want) {
			t.Errorf("app did not get %q:\n%s", want, app.body)
		}
	}
	if b.cookie(plainNames.pending) != nil {
		t.Error("pending cookie survived sign-in")
	}
	if len(e.events("sign-in", "success")) != 1 || len(e.events("method-added", "success")) != 1 {
		t.Error("sign-in not audited")
	}

	// Next time, a user with TOTP gets "Enter code" directly.
	b2 := e.browser()
	e.clock.Add(30 * time.Second)
	r = b2.login("alice", testPassword)
	if r.header.Get("Location") != "/.stepgate/verify" {
		t.Fatalf("enrolled user not sent to verify: %q", r.header.Get("Location"))
	}
	if v := b2.get(Prefix + "verify"); !strings.Contains(v.body, `<label for="code">Enter code</label>`) {
		t.Fatal("verify page lacks the Enter code box")
	}
	// The registration page is closed to a user who already has a method.
	if reg := b2.get(Prefix + "register"); strings.Contains(reg.body, `id="secret"`) {
		t.Fatal("registration offered to an enrolled user")
	}
	r = b2.login("alice", testPassword)
	code := e.clock.code(secret)
	r = b2.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {code}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("code step: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	// The same code again, in a new flow, is a replay.
	b3 := e.browser()
	b3.login("alice", testPassword)
	r = b3.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {code}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "That code has already been used. Wait for your app to show a new code, then enter it.") {
		t.Fatalf("replayed code: %d", r.status)
	}
}

func TestRegistrationOffMeansContactAdmin(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FirstSignInRegistration = false })
	b := e.browser()
	r := b.login("bob", testPassword)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "no verification methods") || !strings.Contains(r.body, "the help desk") {
		t.Fatalf("no-method user: %d %s", r.status, r.body)
	}
	if reg := b.get(Prefix + "register"); strings.Contains(reg.body, `id="secret"`) || strings.Contains(reg.body, "qr.png") {
		t.Fatal("registration reachable while off")
	}
}

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	wrong := b.login("alice", "nope")
	unknown := b.login("mallory", "nope")
	if wrong.status != http.StatusUnauthorized || unknown.status != wrong.status {
		t.Fatalf("statuses differ: %d vs %d", wrong.status, unknown.status)
	}
	strip := func(s string) string {
		s = csrfRe.ReplaceAllString(s, "")
		return strings.NewReplacer(`value="alice"`, "", `value="mallory"`, "").Replace(s)
	}
	if strip(wrong.body) != strip(unknown.body) {
		t.Fatalf("bodies differ:\n%s\n---\n%s", wrong.body, unknown.body)
	}
	if !strings.Contains(wrong.body, "Your account or password is incorrect") {
		t.Fatal("no error message")
	}
	if got := len(e.events("sign-in", "failure")); got != 2 {
		t.Fatalf("%d failures audited, want 2", got)
	}
}

// TestPasswordHashingAtItsCeilingSaysBusy: when password hashing has used
// its CPU share and burst, the next sign-in waits its turn and, after the
// wait, is told to try again; that is not counted as a failed attempt.
func TestPasswordHashingAtItsCeilingSaysBusy(t *testing.T) {
	e := newEnv(t)
	// One hash empties the bucket, which then refills over hours.
	e.cfg.Users.(*password.Directory).SetLimits(password.Limits{CPUShare: 1e-6, CPUBurst: time.Nanosecond, Attempts: 100, Wait: 50 * time.Millisecond})
	b := e.browser()
	if r := b.login("alice", "nope"); r.status != http.StatusUnauthorized {
		t.Fatalf("first attempt: %d", r.status)
	}
	r := b.login("alice", testPassword)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "Sign-in is busy right now") {
		t.Fatalf("attempt with the bucket empty: %d, want 503 and the busy message:\n%s", r.status, r.body)
	}
	if f, _ := e.st.Failures(context.Background(), "alice", "password"); f.Count != 1 {
		t.Fatalf("failures %d, want 1: a busy answer is not a failed attempt", f.Count)
	}
	if len(e.events("sign-in", "busy")) != 1 {
		t.Fatal("busy sign-in not audited")
	}
}

// TestTooManyAttemptsFromOneNetwork: once a client's network has used its
// budget of failed attempts, its next attempt is answered 429 with a clear
// message and Retry-After, without checking the password, audited, and not
// counted against the account (no lockout from someone else's flood).
func TestTooManyAttemptsFromOneNetwork(t *testing.T) {
	e := newEnv(t)
	e.cfg.Users.(*password.Directory).SetLimits(password.Limits{CPUShare: 1, Attempts: 2, Per: time.Minute, RefusalDelay: -1})
	b := e.browser()
	for i := range 2 {
		if r := b.login("alice", "nope"); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
	}
	r := b.login("alice", testPassword)
	const msg = "Too many sign-in attempts from your network. Try again in 30 seconds."
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, msg) || r.header.Get("Retry-After") != "30" {
		t.Fatalf("third attempt: %d, Retry-After %q, want 429 saying %q:\n%s", r.status, r.header.Get("Retry-After"), msg, r.body)
	}
	if f, _ := e.st.Failures(context.Background(), "alice", "password"); f.Count != 2 {
		t.Fatalf("failures %d, want 2: a refused attempt is not an account failure", f.Count)
	}
	if len(e.events("sign-in", "source-limited")) != 1 {
		t.Fatal("refused attempt not audited")
	}
}

func TestDisabledUser(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if r := b.login("carol", "wrong"); r.status != http.StatusUnauthorized {
		t.Fatalf("disabled user, wrong password: %d", r.status)
	}
	if r := b.login("carol", testPassword); r.status != http.StatusForbidden || !strings.Contains(r.body, "disabled") {
		t.Fatalf("disabled user: %d", r.status)
	}
}

func TestPasswordLockoutPersistsAndIsPerAccount(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := 0; i < 5; i++ {
		if r := b.login("alice", "wrong"); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
	}
	// Now even the right password is refused, in a fresh flow and browser.
	if r := e.browser().login("alice", testPassword); r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "temporarily locked") {
		t.Fatalf("locked account: %d", r.status)
	}
	// Unknown names lock the same way, so the lock reveals nothing.
	for i := 0; i < 5; i++ {
		b.login("nobody", "wrong")
	}
	if r := b.login("nobody", "wrong"); r.status != http.StatusTooManyRequests {
		t.Fatalf("unknown name not locked: %d", r.status)
	}
	// Another account is unaffected.
	if r := e.browser().login("bob", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("bob locked by alice's failures: %d", r.status)
	}
	// A restart (a new portal on the same store) keeps the lock.
	e2 := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now = e.clock.Now })
	if r := e2.browser().login("alice", testPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("lock lost on restart: %d", r.status)
	}
	// After the back-off, the right password works and clears the counter.
	e.clock.Add(61 * time.Second)
	if r := e.browser().login("alice", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("after back-off: %d", r.status)
	}
	if f, _ := e.st.Failures(t.Context(), "alice", "password"); f.Count != 0 {
		t.Fatalf("counter not reset: %+v", f)
	}
	if len(e.events("sign-in", "locked")) == 0 {
		t.Fatal("lockout not audited")
	}
}

func TestCodeLockoutSurvivesNewChallenges(t *testing.T) {
	e := newEnv(t)
	secret := e.browser().register("alice")
	b := e.browser()
	for i := 0; i < 5; i++ {
		e.clock.Add(30 * time.Second)
		if r := b.login("alice", testPassword); r.status != http.StatusSeeOther {
			t.Fatalf("login %d: %d", i, r.status)
		}
		if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {"000000"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d", i, r.status)
		}
	}
	e.clock.Add(30 * time.Second)
	b.login("alice", testPassword)
	r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {e.clock.code(secret)}})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("right code while locked: %d", r.status)
	}
	// Malformed codes are refused without counting.
	e.clock.Add(2 * time.Minute)
	for _, bad := range []string{"abcdef", "1234567890", "", strings.Repeat("9", 5000)} {
		r := b.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {bad}})
		if r.status != http.StatusBadRequest {
			t.Fatalf("malformed code %q: %d", bad[:min(10, len(bad))], r.status)
		}
	}
	if r := b.signIn("alice", secret); r.status != http.StatusSeeOther {
		t.Fatalf("after back-off: %d %s", r.status, r.body)
	}
}

func TestConcurrentCodeReplayExactlyOneWins(t *testing.T) {
	e := newEnv(t)
	secret := e.browser().register("alice")
	e.clock.Add(30 * time.Second)
	code := e.clock.code(secret)
	const n = 20
	browsers := make([]*browser, n)
	tokens := make([]string, n)
	for i := range browsers {
		browsers[i] = e.browser()
		browsers[i].login("alice", testPassword)
		tokens[i] = csrfRe.FindStringSubmatch(browsers[i].get(Prefix + "verify").body)[1]
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = browsers[i].postRaw(Prefix+"verify", url.Values{"code": {code}, "csrf": {tokens[i]}}, nil).status
		}()
	}
	wg.Wait()
	wins := 0
	for _, s := range statuses {
		if s == http.StatusSeeOther {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent uses of one code signed in, want 1 (%v)", wins, n, statuses)
	}
}

func TestLogoutRevokesEverywhere(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	stolen := b.cookie(plainNames.session).Value
	if r := e.rawGet("/", plainNames.session+"="+stolen, nil); r.status != 200 {
		t.Fatalf("cookie copy before logout: %d", r.status)
	}
	if r := b.get(Prefix + "logout"); !strings.Contains(r.body, ">Sign out</button>") {
		t.Fatal("logout page has no Sign out button")
	}
	r := b.post(Prefix+"logout", Prefix+"logout", url.Values{})
	if r.status != 200 || !strings.Contains(r.body, "signed out") {
		t.Fatalf("logout: %d", r.status)
	}
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("browser still signed in: %d", r.status)
	}
	if r := e.rawGet("/", plainNames.session+"="+stolen, nil); r.status != http.StatusFound {
		t.Fatalf("replayed cookie after logout: %d", r.status)
	}
	// Another instance on the same store learns of the logout.
	e2 := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now = e.clock.Now })
	if err := e2.p.SyncRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := e2.rawGet("/", plainNames.session+"="+stolen, nil); r.status != http.StatusFound {
		t.Fatalf("other instance accepts the revoked cookie: %d", r.status)
	}
	if len(e.events("sign-out", "success")) != 1 {
		t.Fatal("logout not audited")
	}
}

func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lifetime = 2 * time.Hour; c.Idle = 30 * time.Minute })
	b := e.browser()
	e.secret = b.register("alice")
	e.clock.Add(29 * time.Minute)
	if r := b.get("/"); r.status != 200 {
		t.Fatalf("within idle: %d", r.status)
	}
	// That request pushed the idle timer forward (a refreshed cookie).
	e.clock.Add(29 * time.Minute)
	if r := b.get("/"); r.status != 200 {
		t.Fatalf("activity did not extend the session: %d", r.status)
	}
	e.clock.Add(31 * time.Minute)
	if r := b.get("/"); r.status != http.StatusFound {
		t.Fatalf("idle session accepted: %d", r.status)
	}
	// Absolute timeout: activity every 20 minutes does not outlive it.
	b2 := e.browser()
	b2.signIn("alice", e.secret)
	for i := 1; i <= 5; i++ {
		e.clock.Add(20 * time.Minute)
		if r := b2.get("/"); r.status != 200 {
			t.Fatalf("active session refused after %d minutes: %d", i*20, r.status)
		}
	}
	e.clock.Add(20 * time.Minute)
	if r := b2.get("/"); r.status != http.StatusFound {
		t.Fatalf("session outlived its lifetime: %d", r.status)
	}
}

// TestRaisedLifetimeRevivesNoRevokedSession: a session signed out under a
// 2-hour lifetime stays dead after the lifetime is raised to 8 hours (a
// new portal on the same store, as after editing the Caddyfile), also once
// the revocation record's own expiry has passed and it is forgotten.
func TestRaisedLifetimeRevivesNoRevokedSession(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lifetime = 2 * time.Hour; c.Idle = 2 * time.Hour })
	b := e.browser()
	b.register("alice")
	e.clock.Add(110 * time.Minute)
	if r := b.get("/"); r.status != 200 {
		t.Fatalf("before sign-out: %d", r.status)
	}
	stolen := plainNames.session + "=" + b.cookie(plainNames.session).Value // the latest copy
	e.clock.Add(5 * time.Minute)
	if r := b.post(Prefix+"logout", Prefix+"logout", url.Values{}); r.status != 200 {
		t.Fatalf("sign-out: %d", r.status)
	}
	raised := func() *env {
		e2 := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now = e.clock.Now; c.Lifetime = 8 * time.Hour; c.Idle = 8 * time.Hour })
		e2.clock = e.clock
		if err := e2.p.SyncRevocations(t.Context()); err != nil {
			t.Fatal(err)
		}
		return e2
	}
	e2 := raised()
	if r := e2.rawGet("/", stolen, nil); r.status != http.StatusFound {
		t.Fatalf("revoked session with a raised lifetime: %d", r.status)
	}
	// Past the old lifetime: the revocation record has expired, and the
	// session with it.
	e.clock.Add(10 * time.Minute)
	if err := e2.p.SyncRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := e2.rawGet("/", stolen, nil); r.status != http.StatusFound {
		t.Fatalf("revoked session after its revocation expired: %d", r.status)
	}
	if r := raised().rawGet("/", stolen, nil); r.status != http.StatusFound {
		t.Fatalf("revoked session on a portal started after the revocation expired: %d", r.status)
	}
	// A session issued under the raised lifetime gets all of it.
	b2 := e2.browser()
	b2.register("bob")
	e.clock.Add(7 * time.Hour)
	if r := b2.get("/"); r.status != 200 {
		t.Fatalf("session issued under the 8-hour lifetime, after 7 hours: %d", r.status)
	}
}

// TestStepsNameTheAccount: every step after the password names the
// account (display name and username) with a back arrow to the password
// step that keeps the return URL; a page showing only a typed name never
// names the person, known or not.
func TestStepsNameTheAccount(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	e.clock.Add(30 * time.Second)
	c := e.browser()
	c.post(Prefix+"?rd=%2Freports", Prefix, url.Values{"username": {"alice"}, "password": {testPassword}, "rd": {"/reports"}})
	for _, path := range []string{"verify", "verify/other"} {
		page := c.get(Prefix + path)
		if !strings.Contains(page.body, `<p class="who"><a href="/.stepgate/?rd=%2Freports" class="back" id="back" aria-label="Back to the password step">&larr;</a> <span id="who-name">Alice Example</span> <span class="who-user">alice</span></p>`) {
			t.Errorf("%s does not name the account with a way back: %s", path, page.body)
		}
	}
	wrong := e.browser().post(Prefix, Prefix, url.Values{"username": {"alice"}, "password": {"wrong"}})
	if strings.Contains(wrong.body, "Alice Example") {
		t.Error("a wrong password's page names the person")
	}
}
