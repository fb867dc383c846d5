package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/account"
)

const passPage = Prefix + "access-pass"

// issuePass issues a Temporary Access Pass as `stepgate user tap` does.
func issuePass(t *testing.T, e *env, user string, o account.PassOptions) string {
	t.Helper()
	p, err := e.p.accounts.IssueAccessPass(context.Background(), user, o)
	if err != nil {
		t.Fatal(err)
	}
	return p.Pass
}

func (b *browser) usePass(user, pass string) resp {
	return b.post(passPage, passPage, url.Values{"username": {user}, "pass": {pass}})
}

// TestAccessPassSignsInToSetUp: the help-desk flow. Alice has no method;
// with a pass she signs in without password or second step, lands on
// Security info, cannot reach the sites until she adds a method, adds the
// app without verifying again, and then can. The pass works once.
func TestAccessPassSignsInToSetUp(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if r := b.get(Prefix); !strings.Contains(r.body, `href="/.stepgate/access-pass`) || !strings.Contains(r.body, "Use a Temporary Access Pass") {
		t.Fatalf("the sign-in page does not offer a pass:\n%s", r.body)
	}
	pass := issuePass(t, e, "alice", account.PassOptions{})
	if len(pass) != account.DefaultPassLength {
		t.Fatalf("pass %q", pass)
	}
	// Typed in lower case with spaces, as read aloud over the phone.
	typed := strings.ToLower(pass[:8] + " " + pass[8:])
	r := b.usePass("Alice", typed)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != sip+"?done=pass" {
		t.Fatalf("signing in with the pass: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	page := b.get(sip + "?done=pass")
	if !strings.Contains(page.body, "signed in with a Temporary Access Pass") || strings.Contains(page.body, `id="verify-first"`) {
		t.Fatalf("Security info after the pass:\n%s", page.body)
	}
	// The sites send her to set up a method first; scripts get a 403.
	if r := b.get("/app"); r.status != http.StatusFound || r.header.Get("Location") != sip+"?done=set-up-first" {
		t.Fatalf("the app before a method: %d %q", r.status, r.header.Get("Location"))
	}
	req, _ := http.NewRequest("GET", b.base+"/app", nil)
	req.Header.Set("Accept", "application/json")
	if r := b.do(req); r.status != http.StatusForbidden || !strings.Contains(r.body, "set_up_required") {
		t.Fatalf("an API call before a method: %d %s", r.status, r.body)
	}
	// She adds the authenticator app, no "verify it's you" needed.
	set := b.get(sip + "/add/app")
	m := secretRe.FindStringSubmatch(set.body)
	if m == nil {
		t.Fatalf("app set-up page: %d %s", set.status, set.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	if r := b.post(sip+"/add/app", sip+"/add/app", url.Values{"code": {e.clock.code(secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("adding the app: %d %s", r.status, r.body)
	}
	b.get(sip)
	if r := b.get("/app"); r.status != http.StatusOK || !strings.HasPrefix(r.body, "APP /app") {
		t.Fatalf("the app after adding a method: %d %s", r.status, r.body)
	}
	// The pass is used up; her new app signs her in.
	c := e.browser()
	if r := c.usePass("alice", pass); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "didn&#39;t work") {
		t.Fatalf("the pass a second time: %d %s", r.status, r.body)
	}
	if r := c.signIn("alice", secret); r.status != http.StatusSeeOther {
		t.Fatalf("signing in with the new app: %d %s", r.status, r.body)
	}
}

// TestAccessPassEnds: an expired pass is refused, a session begun with a
// pass ends when the pass does, a reusable pass works until then, and a
// new pass replaces the old one.
func TestAccessPassEnds(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	pass := issuePass(t, e, "alice", account.PassOptions{Lifetime: 10 * time.Minute, Reusable: true})
	if r := b.usePass("alice", pass); r.status != http.StatusSeeOther {
		t.Fatalf("pass: %d %s", r.status, r.body)
	}
	if r := e.browser().usePass("alice", pass); r.status != http.StatusSeeOther {
		t.Fatalf("a reusable pass a second time: %d %s", r.status, r.body)
	}
	e.clock.Add(9 * time.Minute)
	if r := b.get(sip); r.status != http.StatusOK {
		t.Fatalf("Security info before the pass expires: %d", r.status)
	}
	e.clock.Add(time.Minute)
	if r := b.get(sip); r.status != http.StatusFound {
		t.Fatalf("Security info when the pass expires: %d (the session outlived its pass)", r.status)
	}
	if r := e.browser().usePass("alice", pass); r.status != http.StatusUnauthorized {
		t.Fatalf("an expired pass: %d", r.status)
	}
	old := issuePass(t, e, "alice", account.PassOptions{})
	fresh := issuePass(t, e, "alice", account.PassOptions{})
	if r := e.browser().usePass("alice", old); r.status != http.StatusUnauthorized {
		t.Fatalf("a replaced pass: %d", r.status)
	}
	if r := e.browser().usePass("alice", fresh); r.status != http.StatusSeeOther {
		t.Fatalf("the new pass: %d", r.status)
	}
	// Bob's pass is not Alice's.
	bobs := issuePass(t, e, "bob", account.PassOptions{})
	if r := e.browser().usePass("alice", bobs); r.status != http.StatusUnauthorized {
		t.Fatalf("bob's pass for alice: %d", r.status)
	}
	// A disabled user's pass does not sign them in.
	carols := issuePass(t, e, "carol", account.PassOptions{})
	if r := e.browser().usePass("carol", carols); r.status != http.StatusForbidden || !strings.Contains(r.body, "disabled") {
		t.Fatalf("carol (disabled): %d %s", r.status, r.body)
	}
}

// TestWrongPassesCountTowardLockout: wrong passes lock the account like
// wrong passwords, and a locked account's right pass is refused too.
func TestWrongPassesCountTowardLockout(t *testing.T) {
	e := newEnv(t)
	pass := issuePass(t, e, "alice", account.PassOptions{})
	b := e.browser()
	for i := range 5 {
		if r := b.usePass("alice", fmt.Sprintf("WRONGPASS%07d", i)); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong pass %d: %d", i+1, r.status)
		}
	}
	if r := b.usePass("alice", pass); r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "temporarily locked") {
		t.Fatalf("the right pass while locked: %d %s", r.status, r.body)
	}
	if r := b.login("alice", testPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("the password while locked: %d", r.status)
	}
}

// TestAccessPassUnknownNameLooksAlike: an unknown name, a name without a
// pass and a wrong pass get the same page and make the same store writes.
func TestAccessPassUnknownNameLooksAlike(t *testing.T) {
	var log *writeLog
	e := newEnv(t, func(c *Config) {
		log = &writeLog{Store: c.Store}
		c.Store = log
	})
	issuePass(t, e, "alice", account.PassOptions{})
	log.take()
	b := e.browser()
	var pages []string
	var writes [][]string
	for _, name := range []string{"alice", "bob", "nobody-here"} {
		r := b.usePass(name, "WRONGWRONGWRONG1")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%s: %d", name, r.status)
		}
		pages = append(pages, csrfRe.ReplaceAllString(strings.ReplaceAll(r.body, name, "NAME"), ""))
		writes = append(writes, log.take())
	}
	for i := 1; i < len(pages); i++ {
		if pages[i] != pages[0] {
			t.Errorf("pages differ:\n%s\n---\n%s", pages[i], pages[0])
		}
		if !slices.Equal(writes[i], writes[0]) {
			t.Errorf("store writes differ: %q vs %q", writes[i], writes[0])
		}
	}
}
