package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/portal"
	"github.com/stepgate/stepgate/store"
)

const passPath = "/.stepgate/access-pass"

// user runs `stepgate user ARGS… --config CADDYFILE` in this process, as
// an administrator would on the server: through the command Stepgate
// registers with Caddy, on the Caddyfile the gateway runs (its users file
// and store).
func (g *gateway) user(args ...string) string {
	g.t.Helper()
	path := filepath.Join(g.dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(g.cfg), 0o600); err != nil {
		g.t.Fatal(err)
	}
	reg, ok := caddycmd.Commands()["user"]
	if !ok {
		g.t.Fatal("no user command registered")
	}
	root := &cobra.Command{Use: "user"}
	reg.CobraFunc(root)
	var out bytes.Buffer
	root.SetArgs(append(args, "--config", path))
	root.SetIn(strings.NewReader(""))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SilenceUsage, root.SilenceErrors = true, true
	if err := root.ExecuteContext(context.Background()); err != nil {
		g.t.Fatalf("stepgate user %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// tap issues a single-use Temporary Access Pass for name with `stepgate
// user tap` and returns it.
func (g *gateway) tap(name string) string {
	g.t.Helper()
	var res struct {
		Pass *account.IssuedPass `json:"pass"`
	}
	out := g.user("tap", name, "--json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Pass == nil || res.Pass.Pass == "" {
		g.t.Fatalf("tap %s --json: %v %q", name, err, out)
	}
	return res.Pass.Pass
}

// usePass signs in on the Temporary Access Pass page.
func (c *client) usePass(name, pass string) response {
	c.t.Helper()
	return c.post(passPath, passPath, url.Values{"username": {name}, "pass": {pass}})
}

// signedInWithPass reports whether r is the pass page's success: the
// session is set and the browser goes to Security info.
func signedInWithPass(r response) bool {
	return r.status == http.StatusSeeOther && strings.HasPrefix(r.location, sip)
}

// refusedPass reports whether r is the pass page's refusal: the pass
// didn't work (401), or the account is locked, as after the wrong passes
// of the same race (429).
func refusedPass(r response) bool {
	return r.location == "" && (r.status == http.StatusUnauthorized && strings.Contains(r.body, "That Temporary Access Pass didn&#39;t work") ||
		r.status == http.StatusTooManyRequests)
}

// appAs is who the echo app says c is ("" when the request did not reach
// it), asked for as a browser would.
func (c *client) appAs() string {
	c.t.Helper()
	r := c.get("/app")
	if r.status != http.StatusOK {
		return ""
	}
	for _, line := range strings.Split(r.body, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Remote-User: "); ok {
			return v
		}
	}
	return ""
}

// waitRefused polls the app with cookie until it is refused (401), for at
// most a few revocation polls (2 s each), and reports whether it was.
func waitRefused(t *testing.T, cookie string) bool {
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if app(t, "", cookie) == http.StatusUnauthorized {
			return true
		}
	}
	return false
}

// TestReplayAccessPass posts one single-use Temporary Access Pass from 20
// browsers at the same instant: exactly one is signed in, the others are
// refused (as wrong passes: they lock the account). The successful
// post replayed later, and a new post of the pass in the same second as an
// administrator's `stepgate user sign-out`, sign nobody in or are ended;
// the session cookie the pass gave stops working within a revocation
// poll of the sign-out.
func TestReplayAccessPass(t *testing.T) {
	g := start(t, []string{"alice"}, "")
	newClient(t).register("alice")
	pass := g.tap("alice")
	tabs := make([]*client, 20)
	for i := range tabs {
		tabs[i] = newClient(t)
		tabs[i].csrf(passPath)
	}
	results := make([]response, len(tabs))
	wins := race(len(tabs), func(i int) bool {
		results[i] = tabs[i].usePass("alice", pass)
		return signedInWithPass(results[i])
	})
	if wins != 1 {
		seen := tally{}
		for _, r := range results {
			seen[r.status]++
		}
		t.Fatalf("one single-use pass posted 20 times at once: %d sign-ins (%v), want 1", wins, seen)
	}
	var winner *client
	for i, r := range results {
		if signedInWithPass(r) {
			winner = tabs[i]
		} else if !refusedPass(r) {
			t.Errorf("a losing use of the pass: %d %q, want 401 or 429", r.status, r.location)
		}
	}
	if who := winner.appAs(); who != "alice" {
		t.Fatalf("the pass's session reaches the app as %q, want alice", who)
	}
	// The 19 losers counted as wrong passes: alice is locked out now. An
	// administrator unlocks her, so that a replay below is refused because
	// the pass is used, not because of the lock.
	g.user("unlock", "alice")
	// The winning post, replayed as it was (its CSRF cookie and token) and
	// from a new browser.
	if r := winner.usePass("alice", pass); r.status != http.StatusUnauthorized {
		t.Fatalf("the pass replayed by the browser it signed in: %d", r.status)
	}
	if r := newClient(t).usePass("alice", strings.ToLower(pass)); r.status != http.StatusUnauthorized {
		t.Fatalf("the pass replayed from a new browser: %d", r.status)
	}
	g.user("unlock", "alice")
	stolen := "stepgate=" + winner.cookie("stepgate")
	if status := app(t, "", stolen); status != http.StatusOK {
		t.Fatalf("the pass's session cookie before the sign-out: %d", status)
	}
	// A second pass used at the start of a second, and the administrator's
	// sign-out right after it: in the same second (logged), the session it
	// began is ended too.
	late := g.tap("alice")
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	c := newClient(t)
	if r := c.usePass("alice", late); !signedInWithPass(r) {
		t.Fatalf("the second pass: %d %q", r.status, r.location)
	}
	signedIn := time.Now()
	g.user("sign-out", "alice")
	t.Logf("pass sign-in answered at %s, sign-out done at %s", signedIn.Format("15:04:05.000"), time.Now().Format("15:04:05.000"))
	if !waitRefused(t, stolen) {
		t.Fatal("the pass's session cookie still works 5 s after `stepgate user sign-out`")
	}
	if !waitRefused(t, "stepgate="+c.cookie("stepgate")) {
		t.Fatal("a pass session begun just before `stepgate user sign-out` still works 5 s after it")
	}
}

// TestBruteForceAccessPasses guesses Temporary Access Passes for one
// account, each in a new browser: wrong passes count on the password
// failure counter, so the account locks after a handful, and then neither
// the real pass nor the right password gets in. Another account is not
// affected.
func TestBruteForceAccessPasses(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "")
	pass := g.tap("alice")
	seen := tally{}
	for i := range 30 {
		seen[newClient(t).usePass("alice", fmt.Sprintf("WRONG%011d", i)).status]++
	}
	if seen[http.StatusUnauthorized] > 10 || seen[http.StatusTooManyRequests] < 20 {
		t.Fatalf("30 wrong passes: %v", seen)
	}
	if n := g.failuresOf("alice", store.FailuresPassword); n < 5 {
		t.Fatalf("alice's password failure counter after 30 wrong passes: %d", n)
	}
	if r := newClient(t).usePass("alice", pass); r.status != http.StatusTooManyRequests {
		t.Fatalf("the real pass while locked: %d", r.status)
	}
	if r := newClient(t).login("alice", password_); r.status != http.StatusTooManyRequests {
		t.Fatalf("the right password after wrong passes: %d, want 429 (one counter)", r.status)
	}
	if r := newClient(t).login("bob", password_); r.status != http.StatusSeeOther {
		t.Fatalf("another account: %d", r.status)
	}
	t.Logf("30 wrong passes: %v", seen)
}

// TestAccessPassFloodFromOneNetwork mirrors TestPasswordFloodFromOneNetwork
// on the pass page: one address (not the suite's usual one, whose budget
// other tests may have spent) sprays 30 passes over made-up names; the
// first 20 are checked, the rest are refused with 429, the message and
// Retry-After, and audited. A person on another address uses their pass.
func TestAccessPassFloodFromOneNetwork(t *testing.T) {
	g := start(t, []string{"alice"}, "password_attempts 20 per 1h")
	pass := g.tap("alice")
	seen := tally{}
	var refusal response
	for i := range 30 {
		r := newClient(t).fromAddr("127.0.0.9").usePass(fmt.Sprintf("spray%d", i), "ACEFGHJKLMNPRTUV")
		seen[r.status]++
		if r.status == http.StatusTooManyRequests {
			refusal = r
		}
	}
	if seen[http.StatusUnauthorized] != 20 || seen[http.StatusTooManyRequests] != 10 {
		t.Fatalf("30 sprayed passes from one address: %v, want 20×401 then 10×429", seen)
	}
	if !strings.Contains(refusal.body, "Too many sign-in attempts from your network. Try again in ") || refusal.header.Get("Retry-After") == "" {
		t.Fatalf("refusal without the clear message or Retry-After: %v\n%s", refusal.header, refusal.body)
	}
	if n := len(g.logLines(`"outcome":"source-limited"`)); n != 10 {
		t.Fatalf("%d refusals audited, want 10", n)
	}
	// The flooding network's refused guesses for alice don't lock her.
	for i := range 6 {
		if r := newClient(t).fromAddr("127.0.0.9").usePass("alice", fmt.Sprintf("WRONG%011d", i)); r.status != http.StatusTooManyRequests {
			t.Fatalf("wrong pass %d for alice from the flooding address: %d, want 429", i, r.status)
		}
	}
	if r := newClient(t).fromAddr("127.0.0.10").usePass("alice", pass); !signedInWithPass(r) {
		t.Fatalf("alice's pass from another address during the flood: %d", r.status)
	}
	t.Logf("30 sprayed passes from one address: %v", seen)
}

// TestAccessPassOtherUser types bob's pass with alice's name, in other
// spellings and with bob's name smuggled after it: refused, and bob's
// pass is not used up.
func TestAccessPassOtherUser(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "")
	pass := g.tap("bob")
	for _, name := range []string{"alice", "ALICE", " alice ", "alice\x00bob", "alice\nbob"} {
		if r := newClient(t).usePass(name, pass); signedInWithPass(r) || r.status == http.StatusOK {
			t.Fatalf("bob's pass typed with the name %q: %d %q", name, r.status, r.location)
		}
	}
	c := newClient(t)
	if r := c.usePass("bob", pass); !signedInWithPass(r) {
		t.Fatalf("bob's pass after the tries with other names: %d", r.status)
	}
	if r := c.get(sip); !strings.Contains(r.body, "bob") || strings.Contains(r.body, "alice") {
		t.Fatalf("the pass's session is not bob's:\n%s", r.body)
	}
}

// TestAccessPassSetUpFirst: a pass for a user with no sign-in method
// signs them in to Security info only. The protected app redirects a
// browser there and answers an API client 403 set_up_required, also after
// an unconfirmed phone, a started app set-up, the sign-in page's return
// URL and the session cookie with bytes flipped; once an app is set up for
// real, the user gets through.
func TestAccessPassSetUpFirst(t *testing.T) {
	outbox, extra := texts(t)
	g := start(t, []string{"carol"}, extra)
	c := newClient(t)
	if r := c.usePass("carol", g.tap("carol")); !signedInWithPass(r) {
		t.Fatalf("carol's pass: %d %q", r.status, r.location)
	}
	blocked := func(when string) {
		t.Helper()
		if r := c.get("/app"); r.status != http.StatusFound || r.location != sip+"?done=set-up-first" {
			t.Fatalf("%s: the app as a browser: %d %q\n%s", when, r.status, r.location, r.body)
		}
		r := c.do("GET", "/app", nil, map[string]string{"Accept": "application/json"})
		if r.status != http.StatusForbidden || !strings.Contains(r.body, `"set_up_required"`) || strings.Contains(r.body, "Remote-User") {
			t.Fatalf("%s: the app as an API client: %d %s", when, r.status, r.body)
		}
	}
	blocked("signed in with the pass")
	if r := c.post(sip+"/add/phone", sip+"/add/phone", url.Values{"phone": {alicePhone}}); r.status != http.StatusOK {
		t.Fatalf("sending a code to a new phone: %d", r.status)
	}
	if len(outboxTexts(t, outbox, alicePhone)) == 0 {
		t.Fatal("no code texted to the new phone")
	}
	c.get(sip)
	blocked("after a phone code was sent but not typed")
	m := secretRe.FindStringSubmatch(c.get(sip + "/add/app").body)
	if m == nil {
		t.Fatal("no secret on the add app page")
	}
	c.get(sip)
	blocked("after the app set-up page was shown")
	if r := c.get("/.stepgate/?rd=/app"); r.status == http.StatusFound {
		c.get(r.location)
	}
	blocked("through the sign-in page's return URL")
	raw := []byte(c.cookie("stepgate"))
	for i := 0; i < len(raw); i += 7 {
		flipped := append([]byte(nil), raw...)
		flipped[i] ^= 1
		if status := app(t, "", "stepgate="+string(flipped)); status != http.StatusUnauthorized {
			t.Fatalf("the pass session's cookie with byte %d flipped: %d", i, status)
		}
	}
	if got := g.methods("carol"); got.count() != 0 {
		t.Fatalf("carol has methods before setting one up: %+v", got)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	if r := c.post(sip+"/add/app", sip+"/add/app", url.Values{"code": {code(t, secret, time.Now())}}); r.status != http.StatusSeeOther {
		t.Fatalf("confirming the app: %d %s", r.status, r.body)
	}
	c.get(sip)
	if who := c.appAs(); who != "carol" {
		t.Fatalf("after setting up an app, the app sees %q, want carol", who)
	}
}

// TestAccessPassSessionEndsWithPass: a session begun with a pass ends when
// the pass expires, however long the session lifetime (alice's), also
// after it changed the password, which reissues the session (bob's). The
// passes are issued through the account service with its clock set back,
// so that they expire 4 s from now (the shortest pass `stepgate user tap`
// issues lasts 10 minutes).
func TestAccessPassSessionEndsWithPass(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "")
	newClient(t).register("alice")
	newClient(t).register("bob")
	keys, err := portal.AccessPassKeys([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	issued := map[string]account.IssuedPass{}
	g.useStore(func(ctx context.Context, st *store.SQLite) error {
		back := -account.MinPassLifetime + 4*time.Second
		svc := account.New(account.Config{UsersFile: g.users, Store: st, PassKeys: keys, Now: func() time.Time { return time.Now().Add(back) }})
		for _, name := range []string{"alice", "bob"} {
			p, err := svc.IssueAccessPass(ctx, name, account.PassOptions{Lifetime: account.MinPassLifetime})
			if err != nil {
				return err
			}
			issued[name] = p
		}
		return nil
	})
	cookies := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		c := newClient(t)
		if r := c.usePass(name, issued[name].Pass); !signedInWithPass(r) {
			t.Fatalf("%s's pass: %d %q", name, r.status, r.location)
		}
		if name == "bob" {
			first := c.cookie("stepgate")
			if r := c.post(sip+"/password", sip+"/password", url.Values{"new": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}}); r.status != http.StatusSeeOther {
				t.Fatalf("changing the password in the pass session: %d %s", r.status, r.body)
			}
			if c.cookie("stepgate") == first {
				t.Fatal("the password change did not reissue the session")
			}
		}
		cookies[name] = "stepgate=" + c.cookie("stepgate")
		if status := app(t, "", cookies[name]); status != http.StatusOK {
			t.Fatalf("%s's pass session before the pass expires: %d", name, status)
		}
	}
	time.Sleep(time.Until(issued["bob"].Expires) + 100*time.Millisecond)
	for name, what := range map[string]string{"alice": "the pass session", "bob": "the pass session reissued by the password change"} {
		if status := app(t, "", cookies[name]); status != http.StatusUnauthorized {
			t.Errorf("%s after the pass expired: %d", what, status)
		}
	}
}

// TestChangePasswordWithStolenCookie: someone with a copy of a session
// cookie (not the pass, not the password) tries to change the password:
// without the current password it fails and counts toward the lockout,
// and once locked the right current password is refused too. The users
// file is unchanged. With a session begun with a Temporary Access Pass no
// current password is asked (the pass is the proof): bob changes his,
// and his session signed in with a password in the same second just
// before it ends, while the pass session goes on.
func TestChangePasswordWithStolenCookie(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "")
	victim := newClient(t)
	victim.register("alice")
	before, _ := os.ReadFile(g.users)
	thief := newClient(t)
	thief.setCookie("stepgate", victim.cookie("stepgate"))
	change := func(c *client, current string) response {
		return c.post(sip+"/password", sip+"/password", url.Values{"current": {current}, "new": {"a thief's passphrase"}, "confirm": {"a thief's passphrase"}})
	}
	seen := tally{}
	for i := range 8 {
		seen[change(thief, []string{"", "guess", "hunter2"}[i%3]).status]++
	}
	if seen[http.StatusUnauthorized] > 5 || seen[http.StatusTooManyRequests] < 3 {
		t.Fatalf("8 password changes with a wrong current password: %v", seen)
	}
	if r := change(thief, password_); r.status != http.StatusTooManyRequests {
		t.Fatalf("the right current password once locked: %d", r.status)
	}
	if after, _ := os.ReadFile(g.users); !bytes.Equal(after, before) {
		t.Fatal("the users file changed")
	}
	if who := victim.appAs(); who != "alice" {
		t.Fatal("the victim's session ended")
	}

	secret := newClient(t).register("bob")
	p := newClient(t)
	if r := p.usePass("bob", g.tap("bob")); !signedInWithPass(r) {
		t.Fatalf("bob's pass: %d", r.status)
	}
	// Another browser of bob's signs in at the start of a second, and the
	// pass session changes the password right after.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	other := newClient(t)
	other.login("bob", password_)
	if r := other.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, secret, time.Now().Add(30*time.Second))}}); r.status != http.StatusSeeOther {
		t.Fatalf("bob's other sign-in: %d", r.status)
	}
	signedIn := time.Now()
	if r := p.post(sip+"/password", sip+"/password", url.Values{"new": {"bob's new passphrase"}, "confirm": {"bob's new passphrase"}}); r.status != http.StatusSeeOther || r.location != sip+"?done=password-changed" {
		t.Fatalf("changing the password in the pass session, no current password: %d %q %s", r.status, r.location, r.body)
	}
	t.Logf("other sign-in answered at %s, password changed at %s", signedIn.Format("15:04:05.000"), time.Now().Format("15:04:05.000"))
	if status := app(t, "", "stepgate="+other.cookie("stepgate")); status != http.StatusUnauthorized {
		t.Fatalf("bob's other session after the password change: %d", status)
	}
	if who := p.appAs(); who != "bob" {
		t.Fatalf("the pass session after the password change reaches the app as %q", who)
	}
	if r := newClient(t).login("bob", password_); r.status != http.StatusUnauthorized {
		t.Fatalf("bob's old password: %d", r.status)
	}
	if r := newClient(t).login("bob", "bob's new passphrase"); r.status != http.StatusSeeOther {
		t.Fatalf("bob's new password: %d", r.status)
	}
}
