package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

// adminGateway is a running gateway whose Caddyfile the `stepgate user`
// commands are run against while it serves. Registration at first sign-in
// is off; every user has a phone in the store, so a sign-in's second step
// is a text whose code the fake Twilio keeps: a test signs a user in as
// often as it needs, which an authenticator app's replay protection (one
// use per 30 s step) would not allow.
type adminGateway struct {
	t         *testing.T
	caddyfile string // its path, for --config
	users     string // the users file
	db        string // the SQLite store
	tw        *smstest.Twilio
	phones    map[string]string
}

// adminPhones are the users' phone numbers.
var adminPhones = map[string]string{
	"alice": "+14155550111",
	"bob":   "+14155550122",
	"carol": "+14155550133",
	"dave":  "+14155550144",
}

// startAdminCaddy starts that gateway for alice, bob and carol, with a
// users file and a store of its own, and writes its Caddyfile for the
// commands' --config.
func startAdminCaddy(t *testing.T) *adminGateway {
	t.Helper()
	g := &adminGateway{t: t, tw: smstest.NewTwilio(t, twilioSID, twilioToken), phones: adminPhones}
	g.users = writeUsers(t, "alice", "bob", "carol")
	g.db = filepath.Join(t.TempDir(), "state.db")
	// The store is made before Caddy opens it, with each user's phone.
	st, err := store.OpenSQLite(g.db)
	if err != nil {
		t.Fatal(err)
	}
	for user, phone := range g.phones {
		if err := st.SetPhone(context.Background(), user, phone); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	block := fmt.Sprintf(`
		users_file %s
		secret %s
		store sqlite %s
		help_contact "the help desk"
		sms twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
		}
		allowed_countries +1
		send_limits {
			cooldown 10ms
			per_user 1000
			per_number 1000
			per_ip 10000
		}`, g.users, testSecret, g.db, twilioSID, twilioToken, g.tw.URL)
	caddyfile := startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	stepgate
	reverse_proxy %s
}
`, echoBackend(t)))
	g.caddyfile = filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(g.caddyfile, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	return g
}

// signIn signs user in on a new browser (password, then the texted code)
// and returns it.
func (g *adminGateway) signIn(user, pw string) *client {
	g.t.Helper()
	c := newClient(g.t)
	if r := g.passwordStep(c, user, pw); r.status != http.StatusSeeOther || r.location != "/.stepgate/verify" {
		g.t.Fatalf("%s's password step: %d %q %s", user, r.status, r.location, r.body)
	}
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {g.tw.LastCode(g.phones[user])}}); r.status != http.StatusSeeOther {
		g.t.Fatalf("%s's texted code: %d %s", user, r.status, r.body)
	}
	if !g.in(c, user) {
		g.t.Fatalf("%s is not in the app after signing in", user)
	}
	return c
}

// passwordStep posts the sign-in form.
func (g *adminGateway) passwordStep(c *client, user, pw string) response {
	g.t.Helper()
	return c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {user}, "password": {pw}})
}

// in reports whether the browser's session gets it into the app as user.
func (g *adminGateway) in(c *client, user string) bool {
	g.t.Helper()
	r := c.get("/")
	return r.status == http.StatusOK && strings.Contains(r.body, "\nRemote-User: "+user+"\n")
}

// cmd runs `stepgate user ARGS… --config <the gateway's Caddyfile>` and
// fails the test if it fails.
func (g *adminGateway) cmd(stdin string, args ...string) string {
	g.t.Helper()
	out, err := g.try(stdin, args...)
	if err != nil {
		g.t.Fatalf("stepgate user %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// try runs the command and returns its error.
func (g *adminGateway) try(stdin string, args ...string) (string, error) {
	return userCommand(g.t, stdin, append(args, "--config", g.caddyfile)...)
}

// result runs a command with --json and decodes what it printed.
func (g *adminGateway) result(args ...string) adminResult {
	g.t.Helper()
	out := g.cmd("", append(args, "--json")...)
	var res adminResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		g.t.Fatalf("stepgate user %s --json printed %q: %v", strings.Join(args, " "), out, err)
	}
	return res
}

// adminResult is what the account-changing commands print with --json.
type adminResult struct {
	User    string              `json:"user"`
	Action  string              `json:"action"`
	Changed bool                `json:"changed"`
	Removed *int                `json:"removed"`
	Pass    *account.IssuedPass `json:"pass"`
}

// waitOut polls until every browser's session is refused (the protected
// site sends it to sign in), at most limit, and returns how long it took.
func (g *adminGateway) waitOut(what string, limit time.Duration, cs ...*client) time.Duration {
	g.t.Helper()
	start := time.Now()
	for _, c := range cs {
		for {
			r := c.get("/")
			if r.status == http.StatusFound && strings.HasPrefix(r.location, "/.stepgate/") {
				break
			}
			if r.status != http.StatusOK {
				g.t.Fatalf("%s: a session got %d, neither the app nor the sign-in page", what, r.status)
			}
			if time.Since(start) > limit {
				g.t.Fatalf("%s: a session still works after %v", what, limit)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	took := time.Since(start)
	g.t.Logf("%s: refused after %v", what, took.Round(time.Millisecond))
	return took
}

// withStore runs f on the gateway's store, opened beside Caddy's handle.
func (g *adminGateway) withStore(f func(context.Context, *store.SQLite)) {
	g.t.Helper()
	withStore(g.t, g.db, f)
}

// usePass posts a Temporary Access Pass on its sign-in page.
func usePass(c *client, user, pass string) response {
	c.t.Helper()
	return c.post("/.stepgate/access-pass", "/.stepgate/access-pass", url.Values{"username": {user}, "pass": {pass}})
}

// propagation is how soon a running gateway must refuse a session an
// administrator ended: it polls the users file and the revocations every
// 2 s.
const propagation = 5 * time.Second

// TestAdminDisableEnableThroughCaddy: `disable` refuses alice's live
// session within seconds and her password; `enable` lets her sign in
// again, but the session ended by `disable` stays ended.
func TestAdminDisableEnableThroughCaddy(t *testing.T) {
	g := startAdminCaddy(t)
	alice := g.signIn("alice", testPassword)
	bob := g.signIn("bob", testPassword)
	old := alice.cookie("stepgate")

	if res := g.result("disable", "alice"); res.User != "alice" || res.Action != "disable" || !res.Changed {
		t.Fatalf("disable --json: %+v", res)
	}
	g.waitOut("alice's session after `disable alice`", propagation, alice)
	if !g.in(bob, "bob") {
		t.Error("bob's session ended with alice's")
	}
	if r := g.passwordStep(newClient(t), "alice", testPassword); r.status != http.StatusForbidden || !strings.Contains(r.body, "Your account has been disabled") {
		t.Errorf("disabled alice's password: %d %s", r.status, r.body)
	}
	if res := g.result("disable", "alice"); res.Changed {
		t.Errorf("disabling a disabled user reports a change: %+v", res)
	}

	if res := g.result("enable", "alice"); res.Action != "enable" || !res.Changed {
		t.Fatalf("enable --json: %+v", res)
	}
	// The gateway sees the enabled entry at its next look at the users
	// file; until then the password is refused as disabled.
	start := time.Now()
	for {
		r := g.passwordStep(newClient(t), "alice", testPassword)
		if r.status == http.StatusSeeOther {
			break
		}
		if r.status != http.StatusForbidden || time.Since(start) > propagation {
			t.Fatalf("alice's password %v after `enable`: %d %s", time.Since(start), r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("alice's password was accepted %v after `enable`", time.Since(start).Round(time.Millisecond))
	again := g.signIn("alice", testPassword)
	if !g.in(again, "alice") {
		t.Error("alice's new session after `enable` does not work")
	}
	if r := newClient(t).do("GET", base+"/", nil, map[string]string{"Cookie": "stepgate=" + old}); r.status != http.StatusFound {
		t.Errorf("the session `disable` ended works again after `enable`: %d", r.status)
	}
}

// TestAdminSignOutThroughCaddy: `sign-out alice` ends both of her browsers'
// sessions within seconds, leaves bob's alone, and alice signs in again at
// once.
func TestAdminSignOutThroughCaddy(t *testing.T) {
	g := startAdminCaddy(t)
	a1 := g.signIn("alice", testPassword)
	a2 := g.signIn("alice", testPassword)
	bob := g.signIn("bob", testPassword)
	if a1.cookie("stepgate") == a2.cookie("stepgate") {
		t.Fatal("alice's two browsers share a session")
	}
	if res := g.result("sign-out", "alice"); res.Action != "sign-out" || res.User != "alice" {
		t.Fatalf("sign-out --json: %+v", res)
	}
	g.waitOut("alice's two sessions after `sign-out alice`", propagation, a1, a2)
	if !g.in(bob, "bob") {
		t.Error("bob's session ended with alice's")
	}
	// A sign-in right away (in the same second as the sign-out, perhaps)
	// is not caught by it.
	c := g.signIn("alice", testPassword)
	time.Sleep(2500 * time.Millisecond) // the gateway's next poll of the revocations
	if !g.in(c, "alice") {
		t.Error("alice's sign-in right after `sign-out` was ended by it")
	}
}

// TestAdminResetMethodsThroughCaddy: with first-sign-in registration off,
// `reset-methods alice` removes her phone and ends her session; at her
// next sign-in her password leads to setting up an authenticator app,
// once; then she signs in with it as usual.
func TestAdminResetMethodsThroughCaddy(t *testing.T) {
	g := startAdminCaddy(t)
	alice := g.signIn("alice", testPassword)

	// Without a reset, a user with no method is not offered registration:
	// carol's phone is removed from the store directly.
	g.withStore(func(ctx context.Context, st *store.SQLite) {
		if err := st.SetPhone(ctx, "carol", ""); err != nil {
			t.Fatal(err)
		}
	})
	if r := g.passwordStep(newClient(t), "carol", testPassword); r.status != http.StatusForbidden || !strings.Contains(r.body, "no verification methods") {
		t.Fatalf("carol without methods, registration off, no reset: %d %q %s", r.status, r.location, r.body)
	}

	res := g.result("reset-methods", "alice")
	if res.Action != "reset-methods" || res.Removed == nil || *res.Removed != 1 || !res.Changed {
		t.Fatalf("reset-methods --json: %+v", res)
	}
	g.waitOut("alice's session after `reset-methods alice`", propagation, alice)

	c := newClient(t)
	if r := g.passwordStep(c, "alice", testPassword); r.status != http.StatusSeeOther || r.location != "/.stepgate/register" {
		t.Fatalf("alice's password after the reset: %d %q %s", r.status, r.location, r.body)
	}
	page := c.get("/.stepgate/register")
	m := gatewaytest.SecretRe.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("the granted registration shows no authenticator secret: %d %s", page.status, page.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	if r := c.post("/.stepgate/register", "/.stepgate/register", url.Values{"code": {code(t, secret, time.Now())}}); r.status != http.StatusSeeOther {
		t.Fatalf("setting up the app: %d %s", r.status, r.body)
	}
	if !g.in(c, "alice") {
		t.Fatal("alice is not in the app after setting up her app")
	}
	g.withStore(func(ctx context.Context, st *store.SQLite) {
		if granted, err := st.RegistrationGranted(ctx, "alice"); err != nil || granted {
			t.Errorf("the grant outlives the set-up: %v %v", granted, err)
		}
	})

	// Once: the next sign-in asks for the app's code, and its register
	// page offers no other set-up.
	x := newClient(t)
	if r := g.passwordStep(x, "alice", testPassword); r.status != http.StatusSeeOther || r.location != "/.stepgate/verify" {
		t.Fatalf("alice's sign-in after the set-up: %d %q", r.status, r.location)
	}
	if r := x.get("/.stepgate/register"); r.status == http.StatusOK && gatewaytest.SecretRe.MatchString(r.body) {
		t.Error("after the granted set-up, the register page still offers a new app")
	}
	d := newClient(t)
	if r := g.passwordStep(d, "alice", testPassword); r.status != http.StatusSeeOther || r.location != "/.stepgate/verify" {
		t.Fatalf("alice's next sign-in: %d %q", r.status, r.location)
	}
	if r := d.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code30(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("alice's app code at her next sign-in: %d %s", r.status, r.body)
	}
	if !g.in(d, "alice") {
		t.Error("alice's normal sign-in after the reset does not get her in")
	}
}

// TestAdminAccessPassThroughCaddy: a pass from `tap --json` signs alice in
// at /.stepgate/access-pass, to Security info, once; a pass whose expiry
// passed is refused; a pass session ends when its pass expires; a second
// `tap` replaces the first pass.
func TestAdminAccessPassThroughCaddy(t *testing.T) {
	g := startAdminCaddy(t)
	res := g.result("tap", "alice")
	if res.Action != "tap" || res.Pass == nil || len(res.Pass.Pass) != account.DefaultPassLength || res.Pass.Reusable ||
		time.Until(res.Pass.Expires) < 59*time.Minute || time.Until(res.Pass.Expires) > time.Hour {
		t.Fatalf("tap --json: %+v", res)
	}
	c := newClient(t)
	// Typed in lower case with dashes, as a user reading it aloud might.
	typed := strings.ToLower(res.Pass.Pass[:8] + "-" + res.Pass.Pass[8:])
	if r := usePass(c, "alice", typed); r.status != http.StatusSeeOther || r.location != si+"?done=pass" {
		t.Fatalf("signing in with the pass: %d %q %s", r.status, r.location, r.body)
	}
	if r := c.get(si + "?done=pass"); r.status != http.StatusOK || !strings.Contains(r.body, "Security info") {
		t.Fatalf("Security info after the pass: %d %s", r.status, r.body)
	}
	if !g.in(c, "alice") {
		t.Error("the pass session does not get alice into the app")
	}
	if r := usePass(newClient(t), "alice", res.Pass.Pass); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "didn&#39;t work") {
		t.Errorf("the single-use pass a second time: %d %s", r.status, r.body)
	}

	// An expired pass. A pass lasts at least 10 minutes, so its expiry is
	// moved into the past in the store (the same hash, as issued): the
	// gateway checks it against its own clock, unchanged.
	setExpiry := func(user string, at time.Time) {
		g.withStore(func(ctx context.Context, st *store.SQLite) {
			p, err := st.AccessPassOf(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			p.Expires = at
			if err := st.PutAccessPass(ctx, p); err != nil {
				t.Fatal(err)
			}
		})
	}
	expired := g.result("tap", "bob", "--lifetime", "10m").Pass
	setExpiry("bob", time.Now().Add(-time.Second))
	if r := usePass(newClient(t), "bob", expired.Pass); r.status != http.StatusUnauthorized {
		t.Errorf("an expired pass: %d %s", r.status, r.body)
	}

	// The session of a pass ends when the pass expires: carol's pass is
	// made to expire 2 s from now before she uses it.
	soon := g.result("tap", "carol").Pass
	ends := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	setExpiry("carol", ends)
	carol := newClient(t)
	if r := usePass(carol, "carol", soon.Pass); r.status != http.StatusSeeOther {
		t.Fatalf("carol's pass: %d %s", r.status, r.body)
	}
	if !g.in(carol, "carol") {
		t.Fatal("carol's pass session does not work before the pass expires")
	}
	time.Sleep(time.Until(ends) + 100*time.Millisecond)
	if r := carol.get("/"); r.status != http.StatusFound {
		t.Errorf("carol's pass session after the pass expired: %d", r.status)
	}

	// A second pass replaces the first.
	first := g.result("tap", "alice").Pass
	second := g.result("tap", "alice").Pass
	if r := usePass(newClient(t), "alice", first.Pass); r.status != http.StatusUnauthorized {
		t.Errorf("the replaced pass: %d", r.status)
	}
	if r := usePass(newClient(t), "alice", second.Pass); r.status != http.StatusSeeOther {
		t.Errorf("the pass that replaced it: %d %s", r.status, r.body)
	}
}

// changePassword posts the Change password form on c.
func changePassword(c *client, current, next, confirm string) response {
	c.t.Helper()
	return c.post(si+"/password", si+"/password", url.Values{"current": {current}, "new": {next}, "confirm": {confirm}})
}

// TestAdminChangePasswordThroughCaddy: alice changes her password on
// Security info: her other browser's session ends, this one goes on, and
// only the new password signs her in; the policy's refusals say why.
func TestAdminChangePasswordThroughCaddy(t *testing.T) {
	g := startAdminCaddy(t)
	here := g.signIn("alice", testPassword)
	other := g.signIn("alice", testPassword)
	for _, tc := range []struct{ next, confirm, want string }{
		{"short", "short", "Use at least 8 characters."},
		{"password123", "password123", "This password is too common and easy to guess."},
		{"alice", "alice", "Use at least 8 characters."},
		{"Alice Example", "Alice Example", "Don&#39;t use your username or name as your password."},
		{"a fine new one", "a fine new two", "The new passwords don&#39;t match."},
	} {
		if r := changePassword(here, testPassword, tc.next, tc.confirm); r.status != http.StatusBadRequest || !strings.Contains(r.body, tc.want) {
			t.Errorf("new password %q: %d, want 400 with %q", tc.next, r.status, tc.want)
		}
	}
	if r := changePassword(here, "not it", "a fine new one", "a fine new one"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Your current password is incorrect.") {
		t.Errorf("a wrong current password: %d", r.status)
	}
	if !g.in(other, "alice") {
		t.Fatal("a refused change ended the other session")
	}
	const next = "a fine new one"
	if r := changePassword(here, testPassword, next, next); r.status != http.StatusSeeOther {
		t.Fatalf("changing the password: %d %s", r.status, r.body)
	}
	g.waitOut("alice's other session after she changed her password", propagation, other)
	if !g.in(here, "alice") {
		t.Error("the browser that changed the password was signed out")
	}
	if r := g.passwordStep(newClient(t), "alice", testPassword); r.status != http.StatusUnauthorized {
		t.Errorf("the old password after the change: %d", r.status)
	}
	// A sign-in in the second of the change is ended by it (sessions are
	// issued in whole seconds; see SECURITY.md's known limits): the new
	// password is tried from the next second on.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	g.signIn("alice", next)
}

// TestAdminConcurrentWritesThroughCaddy: in each round, `passwd bob`,
// `disable`/`enable carol`, two `add`s of new users and alice's change of
// her password on the portal write the users file at the same moment;
// after each round the file has all five changes (and those of the rounds
// before), and at the end the gateway signs in with each.
func TestAdminConcurrentWritesThroughCaddy(t *testing.T) {
	g := startAdminCaddy(t)
	alice := g.signIn("alice", testPassword)
	alicePw, bobPw := testPassword, testPassword
	// With the users file's lock made a no-op, 6 of 8 runs of 5 rounds
	// of four writers lost a change; 8 rounds of five make it likelier.
	const rounds = 8
	for round := 1; round <= rounds; round++ {
		newAlice, newBob := fmt.Sprintf("alice's round %d", round), fmt.Sprintf("bob's round %d", round)
		dave, erin := fmt.Sprintf("dave%d", round), fmt.Sprintf("erin%d", round)
		carolDisabled := round%2 == 1
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			errs  []string
		)
		fail := func(f string, a ...any) {
			mu.Lock()
			errs = append(errs, fmt.Sprintf(f, a...))
			mu.Unlock()
		}
		run := func(stdin string, args ...string) {
			defer wg.Done()
			<-start
			if out, err := g.try(stdin, args...); err != nil {
				fail("stepgate user %s: %v %s", strings.Join(args, " "), err, out)
			}
		}
		wg.Add(5)
		go run(newBob+"\n", "passwd", "bob", "--password-stdin")
		if carolDisabled {
			go run("", "disable", "carol")
		} else {
			go run("", "enable", "carol")
		}
		go run("dave's password\n", "add", dave, "--password-stdin")
		go run("dave's password\n", "add", erin, "--password-stdin")
		form := url.Values{"current": {alicePw}, "new": {newAlice}, "confirm": {newAlice}, "csrf": {alice.CSRF(si + "/password")}}
		go func() {
			defer wg.Done()
			<-start
			r := alice.Do("POST", si+"/password", strings.NewReader(form.Encode()), nil)
			if r.Status != http.StatusSeeOther {
				fail("alice's password change: %d %s", r.Status, r.Body)
			}
		}()
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %s", round, strings.Join(errs, "\n"))
		}
		alicePw, bobPw = newAlice, newBob

		d, err := password.Open(g.users)
		if err != nil {
			t.Fatalf("round %d: the users file: %v", round, err)
		}
		var lost []string
		for user, pw := range map[string]string{"alice": alicePw, "bob": bobPw, dave: "dave's password", erin: "dave's password"} {
			if _, ok, err := d.Authenticate(context.Background(), "test", user, pw); err != nil || !ok {
				lost = append(lost, fmt.Sprintf("%s's password (%v)", user, err))
			}
		}
		if u, ok := d.Lookup("carol"); !ok || u.Disabled != carolDisabled {
			lost = append(lost, fmt.Sprintf("carol disabled=%v", carolDisabled))
		}
		for i := 1; i < round; i++ {
			for _, name := range []string{fmt.Sprintf("dave%d", i), fmt.Sprintf("erin%d", i)} {
				if _, ok := d.Lookup(name); !ok {
					lost = append(lost, name+" of an earlier round")
				}
			}
		}
		if len(lost) > 0 {
			t.Fatalf("round %d: the users file lost %s", round, strings.Join(lost, ", "))
		}
	}
	if !g.in(alice, "alice") {
		t.Error("alice's session did not survive her own password changes")
	}
	// The gateway has them all by its next look at the file.
	time.Sleep(2500 * time.Millisecond)
	g.signIn("alice", alicePw)
	g.signIn("bob", bobPw)
	if r := g.passwordStep(newClient(t), fmt.Sprintf("dave%d", rounds), "dave's password"); r.status != http.StatusForbidden || !strings.Contains(r.body, "no verification methods") {
		t.Errorf("the last added user's password on the gateway: %d %s", r.status, r.body)
	}
	// Carol was disabled in the odd rounds, enabled in the even ones.
	switch r := g.passwordStep(newClient(t), "carol", testPassword); {
	case rounds%2 == 1 && (r.status != http.StatusForbidden || !strings.Contains(r.body, "disabled")):
		t.Errorf("carol, disabled in the last round, on the gateway: %d", r.status)
	case rounds%2 == 0 && r.status != http.StatusSeeOther:
		t.Errorf("carol, enabled in the last round, on the gateway: %d %s", r.status, r.body)
	}
}

// TestAdminBadInputWhileCaddyServes: a malformed users file makes a command
// fail with the file's problem and leaves it as it was, while the gateway
// keeps the last good users; an unknown user is named in the error.
func TestAdminBadInputWhileCaddyServes(t *testing.T) {
	g := startAdminCaddy(t)
	alice := g.signIn("alice", testPassword)
	good, err := os.ReadFile(g.users)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte("users:\n  mallory: [not, a, user\n"), good[len("users:\n"):]...)
	if err := os.WriteFile(g.users, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"disable", "bob"}, {"enable", "bob"}, {"passwd", "bob", "--password-stdin"}, {"sign-out", "bob"}, {"tap", "bob"}} {
		out, err := g.try("bob's new password\n", args...)
		if err == nil || !strings.Contains(err.Error(), g.users) {
			t.Errorf("%s with a malformed users file: %v %s", args[0], err, out)
		} else {
			t.Logf("%s with a malformed users file: %v", args[0], err)
		}
	}
	if now, _ := os.ReadFile(g.users); string(now) != string(bad) {
		t.Errorf("a failed command changed the malformed users file:\n%s", now)
	}
	// The gateway has looked at the file meanwhile (every 2 s) and kept
	// the last good users.
	time.Sleep(2500 * time.Millisecond)
	if !g.in(alice, "alice") {
		t.Error("alice's session ended over the malformed users file")
	}
	g.signIn("bob", testPassword)
	if err := os.WriteFile(g.users, good, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"disable", "zed"}, {"enable", "zed"}, {"sign-out", "zed"}, {"passwd", "zed", "--password-stdin"}, {"reset-methods", "zed"}, {"tap", "zed"}} {
		if out, err := g.try("zed's new password\n", args...); err == nil || !strings.Contains(err.Error(), `no user "zed"`) {
			t.Errorf("%s zed: %v %s", args[0], err, out)
		}
	}
	if out, err := g.try("short\n", "passwd", "bob", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "at least 8 characters") {
		t.Errorf("passwd with a short password: %v %s", err, out)
	}
	if out, err := g.try("", "tap", "bob", "--lifetime", "1m"); err == nil || !strings.Contains(err.Error(), "10m0s") {
		t.Errorf("tap with a 1 minute lifetime: %v %s", err, out)
	}
	if now, _ := os.ReadFile(g.users); string(now) != string(good) {
		t.Error("a refused command changed the users file")
	}
}
