package attack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
	"github.com/stepgate/stepgate/verifiers/sms"
)

const (
	sip        = "/.stepgate/security-info"
	alicePhone = "+14155552671"
	bobPhone   = "+14155552672"
	// forgedPhone is a number no user has: a form that manages to add it
	// sends it a text.
	forgedPhone = "+14155550199"
	// staleWindow is the reauth window of the tests that wait for it to
	// pass; a session's second step counts as recent for 2 to 3 s of it
	// (its time is kept in whole seconds).
	staleWindow = 3 * time.Second
)

// texts is the gateway's SMS outbox (a JSON file) with send limits out of
// the way, and the reauth window (default, 10m).
func texts(t *testing.T) (outbox, extra string) {
	outbox = filepath.Join(t.TempDir(), "outbox.jsonl")
	return outbox, "sms outbox " + outbox + `
		send_limits {
			cooldown 1ms
			per_user 1000
			per_number 1000
			per_ip 1000
		}
		security_info {
			reauth 10m
		}`
}

// withPush adds authenticator app notifications delivered to svc.
func withPush(extra string, svc *pushtest.Service) string {
	return extra + fmt.Sprintf("\n\t\tpush {\n\t\t\tservice %s\n\t\t}", svc.Origin())
}

// shortReauth restarts the gateway with a reauth window of staleWindow:
// the store and every cookie stay valid.
func (g *gateway) shortReauth() {
	g.t.Helper()
	before := g.cfg
	g.cfg = strings.Replace(g.cfg, "reauth 10m", "reauth "+staleWindow.String(), 1)
	if g.cfg == before {
		g.t.Fatal("no reauth line to change")
	}
	g.restart()
}

// waitStale waits until every second step taken so far is older than the
// reauth window.
func waitStale() { time.Sleep(staleWindow + 100*time.Millisecond) }

// useStore runs fn on the gateway's store.
func (g *gateway) useStore(fn func(ctx context.Context, st *store.SQLite) error) {
	g.t.Helper()
	st, err := store.OpenSQLite(g.db)
	if err != nil {
		g.t.Fatal(err)
	}
	defer st.Close()
	if err := fn(context.Background(), st); err != nil {
		g.t.Fatal(err)
	}
}

// givePhone stores a confirmed phone for user and, with preferred, makes
// texts their default (so that verifying again texts a code).
func (g *gateway) givePhone(user, number string, preferred bool) {
	g.t.Helper()
	g.useStore(func(ctx context.Context, st *store.SQLite) error {
		if err := st.SetPhone(ctx, user, number); err != nil {
			return err
		}
		if preferred {
			return st.SetDefaultMethod(ctx, user, "sms")
		}
		return nil
	})
}

// methods is what the store holds about a user's sign-in methods, as one
// comparable value.
type methods struct {
	App, Phone, Default string
	Devices             string // "id=name" of each push device, sorted
}

func (g *gateway) methods(user string) methods {
	g.t.Helper()
	var m methods
	g.useStore(func(ctx context.Context, st *store.SQLite) error {
		info, err := st.SecurityInfo(ctx, user)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		m.App, m.Phone, m.Default = hex.EncodeToString(info.TOTPSecret), info.Phone, info.DefaultMethod
		devs, err := st.PushDevices(ctx, user)
		if err != nil {
			return err
		}
		var ds []string
		for _, d := range devs {
			ds = append(ds, d.ID+"="+d.Name)
		}
		slices.Sort(ds)
		m.Devices = strings.Join(ds, ",")
		return nil
	})
	return m
}

// count is how many methods m holds.
func (m methods) count() int {
	n := 0
	if m.App != "" {
		n++
	}
	if m.Phone != "" {
		n++
	}
	if m.Devices != "" {
		n += strings.Count(m.Devices, ",") + 1
	}
	return n
}

// outboxTexts returns the texts the outbox file holds for number, oldest
// first.
func outboxTexts(t *testing.T, outbox, number string) []string {
	t.Helper()
	f, err := os.Open(outbox)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m sms.OutboxMessage
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.To == number {
			out = append(out, m.Body)
		}
	}
	return out
}

// textedCode is the code of the last text sent to number.
func textedCode(t *testing.T, outbox, number string) string {
	t.Helper()
	all := outboxTexts(t, outbox, number)
	if len(all) == 0 {
		t.Fatalf("no text to %s", number)
	}
	m := outboxCode.FindString(all[len(all)-1])
	if m == "" {
		t.Fatalf("no code in %q", all[len(all)-1])
	}
	return m
}

// signInByText runs the password step and the second step with a texted
// code (for a user whose default is texts).
func (c *client) signInByText(user, outbox, number string) {
	c.t.Helper()
	if r := c.login(user, password_); r.location != "/.stepgate/verify" {
		c.t.Fatalf("password step for %s: %d %q", user, r.status, r.location)
	}
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {textedCode(c.t, outbox, number)}}); r.status != http.StatusSeeOther {
		c.t.Fatalf("texted code for %s: %d %s", user, r.status, r.body)
	}
}

// startReauth asks to verify again from Security info; the user's
// default method starts (a text is sent, a request pushed).
func (c *client) startReauth() {
	c.t.Helper()
	if r := c.post(sip, sip+"/verify", url.Values{}); r.status != http.StatusSeeOther || r.location != "/.stepgate/verify" {
		c.t.Fatalf("starting to verify again: %d %q", r.status, r.location)
	}
}

// reverify posts the second step's form of a re-verification.
func (c *client) reverify(form url.Values) response {
	c.t.Helper()
	return c.post("/.stepgate/verify", "/.stepgate/verify", form)
}

// renewed reports whether a second step answer renewed the session's
// verification (and so sent the browser back to Security info).
func renewed(r response) bool {
	return r.status == http.StatusSeeOther && strings.HasPrefix(r.location, sip)
}

// setCookie puts a cookie value into c's jar, as an attacker who copied it
// would.
func (c *client) setCookie(name, value string) {
	c.HTTP.Jar.SetCookies(mustURL(c.t, base), []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// changeForms are the Security info forms that change something, each
// with values that would change alice's methods (device is her push
// device's ID).
func changeForms(device string) map[string]url.Values {
	return map[string]url.Values{
		"/default":         {"method": {"totp"}},
		"/remove":          {"method": {"sms"}, "id": {"phone"}},
		"/rename":          {"method": {"push"}, "id": {device}, "name": {"Attacker's"}},
		"/sign-out-others": {},
		"/add/app":         {"code": {"123456"}},
		"/add/phone":       {"phone": {forgedPhone}},
		"/add/push":        {},
	}
}

// refusedAsStale reports whether a response is the "verify it's you
// first" refusal.
func refusedAsStale(r response) bool {
	return r.status == http.StatusForbidden && strings.Contains(r.body, "For your security, verify it")
}

// addDevice adds a push device from Security info (the session must be
// fresh) and returns the phone.
func (c *client) addDevice(svc *pushtest.Service, name string) *pushtest.Phone {
	c.t.Helper()
	m := enrolLink.FindStringSubmatch(c.get(sip + "/add/push").body)
	if m == nil {
		c.t.Fatal("no set-up link on the add device page")
	}
	ph := pushtest.NewPhone(c.t, svc, name)
	if status := enrolWith(c.t, ph, m[1]); status != http.StatusOK {
		c.t.Fatalf("enrolment: %d", status)
	}
	if r := c.post(sip+"/add/push", sip+"/add/push", url.Values{}); r.status != http.StatusSeeOther {
		c.t.Fatalf("finishing the device set-up: %d %s", r.status, r.body)
	}
	return ph
}

// TestSecurityInfoForeignIDs: alice, with a fresh second step and two
// methods of her own, names bob's push device in the delete and rename
// forms, and made-up IDs, other methods' names and "password": each is
// refused (404 for an ID that is not hers, 400 for a method that is not
// one), and nothing of bob's or hers changes in the store.
func TestSecurityInfoForeignIDs(t *testing.T) {
	svc := pushtest.NewService(t)
	_, extra := texts(t)
	g := start(t, []string{"alice", "bob"}, withPush(extra, svc))
	bobsPhone := enrolPhone(t, svc, "bob")
	a := newClient(t)
	a.register("alice")
	g.givePhone("alice", alicePhone, false)
	mine := a.addDevice(svc, "Alice's")
	bob, alice := g.methods("bob"), g.methods("alice")
	if bob.Devices == "" || alice.count() != 3 {
		t.Fatalf("set-up: bob %+v, alice %+v", bob, alice)
	}

	for _, id := range []string{bobsPhone.Device, bobsPhone.Device + " ", strings.ToUpper(bobsPhone.Device), "made-up", "", "' OR 1=1 --", mine.Device + "x"} {
		for _, method := range []string{"push", "totp", "sms"} {
			if r := a.post(sip, sip+"/remove", url.Values{"method": {method}, "id": {id}}); r.status != http.StatusNotFound {
				t.Errorf("delete %s %q: %d", method, id, r.status)
			}
		}
		if r := a.post(sip, sip+"/rename", url.Values{"method": {"push"}, "id": {id}, "name": {"Mine now"}}); r.status != http.StatusNotFound {
			t.Errorf("rename device %q: %d", id, r.status)
		}
	}
	for _, method := range []string{"password", "nope", "", "PUSH", "push ", "../push", "register", "security-info"} {
		for _, path := range []string{"/remove", "/rename"} {
			if r := a.post(sip, sip+path, url.Values{"method": {method}, "id": {bobsPhone.Device}, "name": {"Mine now"}}); r.status != http.StatusBadRequest {
				t.Errorf("%s with method %q: %d", path, method, r.status)
			}
		}
		if r := a.post(sip, sip+"/default", url.Values{"method": {method}}); r.status != http.StatusBadRequest {
			t.Errorf("default %q: %d", method, r.status)
		}
	}
	// The phone and the app are no "devices" to rename.
	for _, f := range []url.Values{{"method": {"sms"}, "id": {"phone"}}, {"method": {"totp"}, "id": {"app"}}} {
		f.Set("name", "Mine now")
		if r := a.post(sip, sip+"/rename", f); r.status != http.StatusBadRequest {
			t.Errorf("rename %v: %d", f, r.status)
		}
	}
	if got := g.methods("bob"); got != bob {
		t.Errorf("bob's methods changed: %+v, was %+v", got, bob)
	}
	if got := g.methods("alice"); got != alice {
		t.Errorf("alice's methods changed: %+v, was %+v", got, alice)
	}
	// bob's device still signs him in.
	c := newClient(t)
	c.login("bob", password_)
	m := regexp.MustCompile(`id="number"[^>]*>(\d\d)<`).FindStringSubmatch(c.get("/.stepgate/verify").body)
	if m == nil {
		t.Fatal("bob's sign-in shows no number")
	}
	n, _ := strconv.Atoi(m[1])
	b, _ := json.Marshal(bobsPhone.Answer(time.Now(), svc.Messages()[len(svc.Messages())-1].Payload.Request, n, push.Approve))
	res, err := http.Post(base+"/.stepgate/push/answer", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("bob's device after alice's attempts: %d", r.status)
	}
}

// TestSecurityInfoStaleSecondStep: once alice's last second step is older
// than the reauth window, every form that changes her security info is
// refused with "verify it's you" and changes nothing (no method, no
// default, no name, no other session, no text sent). So is her session
// cookie as it was while fresh, copied then and replayed later, even
// after she has verified again (the copy keeps the old verification
// time), and the renewed cookie once the window has passed again.
func TestSecurityInfoStaleSecondStep(t *testing.T) {
	svc := pushtest.NewService(t)
	outbox, extra := texts(t)
	g := start(t, []string{"alice"}, withPush(extra, svc))
	a := newClient(t)
	a.register("alice")
	g.givePhone("alice", alicePhone, true)
	device := a.addDevice(svc, "Pixel").Device
	other := newClient(t)
	other.signInByText("alice", outbox, alicePhone)
	copied := a.cookie("stepgate")
	if r := a.get(sip); strings.Contains(r.body, `id="verify-first"`) {
		t.Fatal("a fresh session is asked to verify again")
	}
	before := g.methods("alice")
	g.shortReauth()
	waitStale()

	stale := func(c *client, who string) {
		t.Helper()
		for path, form := range changeForms(device) {
			if r := c.post(sip, sip+path, form); !refusedAsStale(r) {
				t.Errorf("%s: POST %s: %d", who, path, r.status)
			}
		}
		for _, slug := range []string{"app", "phone", "push"} {
			r := c.get(sip + "/add/" + slug)
			if !refusedAsStale(r) || secretRe.MatchString(r.body) || enrolLink.MatchString(r.body) {
				t.Errorf("%s: GET add/%s: %d", who, slug, r.status)
			}
			if r := c.get(sip + "/add/" + slug + "/qr.png"); r.status != http.StatusNotFound {
				t.Errorf("%s: GET add/%s/qr.png: %d", who, slug, r.status)
			}
		}
		if got := g.methods("alice"); got != before {
			t.Fatalf("%s changed alice's methods: %+v, was %+v", who, got, before)
		}
		if app(t, "", "stepgate="+other.cookie("stepgate")) != http.StatusOK {
			t.Fatalf("%s signed alice's other session out", who)
		}
		if n := len(outboxTexts(t, outbox, forgedPhone)); n != 0 {
			t.Fatalf("%s sent %d texts to a new number", who, n)
		}
	}
	stale(a, "the stale session")
	if r := a.get(sip); !strings.Contains(r.body, `id="verify-first"`) {
		t.Fatal("the stale session is not asked to verify again")
	}

	// Verifying again allows a change: the refusals above were the window.
	a.startReauth()
	if r := a.reverify(url.Values{"code": {textedCode(t, outbox, alicePhone)}}); !renewed(r) {
		t.Fatalf("verifying again: %d %q", r.status, r.location)
	}
	renewedCookie := a.cookie("stepgate")
	if r := a.post(sip, sip+"/default", url.Values{"method": {"push"}}); r.status != http.StatusSeeOther {
		t.Fatalf("a change after verifying again: %d %s", r.status, r.body)
	}
	before = g.methods("alice")

	// The copy taken while fresh is the same session, still signed in,
	// but its verification time is the old one.
	thief := newClient(t)
	thief.setCookie("stepgate", copied)
	if status := app(t, "", "stepgate="+copied); status != http.StatusOK {
		t.Fatalf("the copied cookie is no longer a session: %d", status)
	}
	stale(thief, "the cookie copied while fresh")

	waitStale()
	thief.setCookie("stepgate", renewedCookie)
	stale(thief, "the renewed cookie after the window")
}

// TestReauthPendingCarriedOver: the cookie of a second step started to
// verify again belongs to the session that started it. Carried into
// another session of the same user, or from another user's session, and
// finished there with the right code, it renews neither session; and
// once used, replaying it (with its code, or for an approved request on
// the phone with nothing else) renews nothing.
func TestReauthPendingCarriedOver(t *testing.T) {
	svc := pushtest.NewService(t)
	outbox, extra := texts(t)
	g := start(t, []string{"alice", "bob"}, withPush(extra, svc))
	a := newClient(t)
	a.register("alice")
	g.givePhone("alice", alicePhone, true)
	ph := a.addDevice(svc, "Pixel")
	a2 := newClient(t)
	a2.signInByText("alice", outbox, alicePhone)
	b := newClient(t)
	b.register("bob")
	g.givePhone("bob", bobPhone, true)
	g.shortReauth()
	waitStale()

	// stillStale checks that c's session was not renewed; when it was (a
	// failure), it waits for the window to pass, so that the next case is
	// judged on its own.
	stillStale := func(who string, c *client) {
		t.Helper()
		if r := c.post(sip, sip+"/default", url.Values{"method": {"totp"}}); !refusedAsStale(r) {
			t.Errorf("%s can change security info: %d", who, r.status)
			waitStale()
		}
	}

	// alice's other session, then bob, start verifying again and get
	// their texts; each pending cookie and code go to this session.
	for _, from := range []struct {
		who    string
		c      *client
		number string
	}{{"alice's other session", a2, alicePhone}, {"bob", b, bobPhone}} {
		from.c.startReauth()
		a.setCookie("stepgate-pending", from.c.cookie("stepgate-pending"))
		if r := a.reverify(url.Values{"code": {textedCode(t, outbox, from.number)}}); renewed(r) {
			t.Errorf("%s's second step renewed alice's session", from.who)
		}
		stillStale("alice, after "+from.who+"'s second step", a)
		stillStale(from.who, from.c)
	}

	// alice verifies again by text; the pending cookie and the code are
	// kept and replayed once the window has passed.
	a.startReauth()
	kept, code := a.cookie("stepgate-pending"), textedCode(t, outbox, alicePhone)
	if r := a.reverify(url.Values{"code": {code}}); !renewed(r) {
		t.Fatalf("verifying again by text: %d %q", r.status, r.location)
	}
	if a.cookie("stepgate-pending") != "" {
		t.Error("the used pending cookie was not cleared")
	}
	waitStale()
	a.setCookie("stepgate-pending", kept)
	if r := a.reverify(url.Values{"code": {code}}); renewed(r) {
		t.Error("a replayed pending cookie and its code renewed the session")
	}
	stillStale("alice, after replaying a used text code", a)

	// And with the phone: the approval is the answer, the pending cookie
	// all the browser sends.
	g.useStore(func(ctx context.Context, st *store.SQLite) error { return st.SetDefaultMethod(ctx, "alice", "push") })
	a.startReauth()
	page := a.get("/.stepgate/verify").body
	m := regexp.MustCompile(`id="number"[^>]*>(\d\d)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no number on the approval page: %s", page)
	}
	n, _ := strconv.Atoi(m[1])
	answer, _ := json.Marshal(ph.Answer(time.Now(), svc.Messages()[len(svc.Messages())-1].Payload.Request, n, push.Approve))
	res, err := http.Post(base+"/.stepgate/push/answer", "application/json", bytes.NewReader(answer))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	kept = a.cookie("stepgate-pending")
	if r := a.reverify(url.Values{}); !renewed(r) {
		t.Fatalf("verifying again on the phone: %d %q", r.status, r.location)
	}
	waitStale()
	for i := range 3 {
		a.setCookie("stepgate-pending", kept)
		if r := a.reverify(url.Values{}); renewed(r) {
			t.Fatalf("replay %d of an approved and used request renewed the session", i+1)
		}
	}
	stillStale("alice, after replaying a used approval", a)
}

// tab is a browser tab: its own connections, the cookie jar of the
// browser it belongs to.
func tab(c *client) *client {
	n := newClient(c.t)
	n.HTTP.Jar = c.HTTP.Jar
	n.HTTP.Transport = &http.Transport{DisableKeepAlives: true}
	return n
}

// TestLastMethodRace: alice has two methods (an authenticator app and a
// phone) and a fresh second step; two tabs of her browser send 20
// deletions at once, half for each method. Exactly one deletion goes
// through and exactly one method is left: the count and the delete are
// one step in the store.
func TestLastMethodRace(t *testing.T) {
	outbox, extra := texts(t)
	g := start(t, []string{"alice"}, extra)
	a := newClient(t)
	a.register("alice")
	g.givePhone("alice", alicePhone, false)
	tabs := []*client{tab(a), tab(a)}
	token := a.csrf(sip)
	forms := []url.Values{
		{"method": {"totp"}, "id": {"app"}, "csrf": {token}},
		{"method": {"sms"}, "id": {"phone"}, "csrf": {token}},
	}
	seen := make([]int, 20)
	deleted := race(20, func(i int) bool {
		r := tabs[i%2].do("POST", sip+"/remove", strings.NewReader(forms[i%2].Encode()), nil)
		seen[i] = r.status
		return r.status == http.StatusSeeOther
	})
	left := g.methods("alice")
	if deleted != 1 || left.count() != 1 {
		t.Fatalf("20 deletions of alice's 2 methods: %d went through (%v); left: %+v", deleted, seen, left)
	}
	for _, s := range seen {
		if s != http.StatusSeeOther && s != http.StatusConflict && s != http.StatusNotFound {
			t.Errorf("a deletion answered %d", s)
		}
	}
	// The one left still signs her in.
	c := newClient(t)
	if left.Phone != "" {
		c.signInByText("alice", outbox, alicePhone)
	} else if r := c.login("alice", password_); r.location != "/.stepgate/verify" {
		t.Fatalf("alice's sign-in with the app left: %d %q", r.status, r.location)
	}
	t.Logf("20 parallel deletions of 2 methods: %v", seen)
}

// TestConcurrentMethodChanges: bob, with a fresh second step, replaces his
// authenticator app in one tab while adding a phone in another, and both
// confirm at the same moment. Both changes are kept: the new app (not the
// old one) signs him in, and the phone is his.
func TestConcurrentMethodChanges(t *testing.T) {
	outbox, extra := texts(t)
	g := start(t, []string{"bob"}, extra)
	b := newClient(t)
	oldSecret := b.register("bob")
	before := g.methods("bob")
	appTab, phoneTab := tab(b), tab(b)

	m := secretRe.FindStringSubmatch(appTab.get(sip + "/add/app").body)
	if m == nil {
		t.Fatal("no new secret on the replace app page")
	}
	newSecret := strings.ReplaceAll(m[1], " ", "")
	if r := phoneTab.post(sip+"/add/phone", sip+"/add/phone", url.Values{"phone": {bobPhone}}); r.status != http.StatusOK {
		t.Fatalf("sending the phone's code: %d %s", r.status, r.body)
	}
	token := b.csrf(sip)
	confirm := []struct {
		tab  *client
		path string
		form url.Values
		done string // the confirmation: the app replaces bob's, the phone is new
	}{
		{appTab, sip + "/add/app", url.Values{"code": {code(t, newSecret, time.Now())}, "csrf": {token}}, "replaced"},
		{phoneTab, sip + "/add/phone", url.Values{"code": {textedCode(t, outbox, bobPhone)}, "csrf": {token}}, "added"},
	}
	seen := make([]string, 2)
	added := race(2, func(i int) bool {
		c := confirm[i]
		r := c.tab.do("POST", c.path, strings.NewReader(c.form.Encode()), nil)
		seen[i] = fmt.Sprintf("%s: %d %s", c.path, r.status, r.location)
		return r.status == http.StatusSeeOther && r.location == sip+"?done="+c.done
	})
	after := g.methods("bob")
	if added != 2 || after.Phone != bobPhone || after.App == "" || after.App == before.App {
		t.Fatalf("two changes at once: %d kept (%v); before %+v, after %+v", added, seen, before, after)
	}
	// The new app signs in, the old one no longer does.
	c := newClient(t)
	c.login("bob", password_)
	next := time.Now().Add(30 * time.Second)
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, oldSecret, next)}}); r.status == http.StatusSeeOther {
		t.Fatal("the replaced app still signs in")
	}
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, newSecret, next)}}); r.status != http.StatusSeeOther {
		t.Fatalf("the new app: %d", r.status)
	}
}

// TestSignOutOthersCookieReplay: alice signs in in two browsers and picks
// "Sign out everywhere else" in the first. The other browser's cookie
// stops working, and so does the first browser's own cookie as it was
// before (it was issued before the sign-out's cut-off; only the cookie
// reissued with it works), also after a restart: the cut-off is in the
// store.
func TestSignOutOthersCookieReplay(t *testing.T) {
	g := start(t, []string{"alice"}, "")
	a := newClient(t)
	secret := a.register("alice")
	o := newClient(t)
	o.login("alice", password_)
	if r := o.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, secret, time.Now().Add(30*time.Second))}}); r.status != http.StatusSeeOther {
		t.Fatalf("second browser: %d", r.status)
	}
	oldHere, elsewhere := a.cookie("stepgate"), o.cookie("stepgate")
	if app(t, "", "stepgate="+oldHere) != http.StatusOK || app(t, "", "stepgate="+elsewhere) != http.StatusOK {
		t.Fatal("not signed in twice")
	}
	if r := a.post(sip, sip+"/sign-out-others", url.Values{}); r.status != http.StatusSeeOther || r.location != sip+"?done=signed-out" {
		t.Fatalf("sign out everywhere else: %d %q", r.status, r.location)
	}
	newHere := a.cookie("stepgate")
	if newHere == oldHere {
		t.Fatal("this browser's session was not reissued")
	}
	check := func(when string) {
		t.Helper()
		if status := app(t, "", "stepgate="+elsewhere); status != http.StatusUnauthorized {
			t.Errorf("%s: the other browser's cookie: %d", when, status)
		}
		if status := app(t, "", "stepgate="+oldHere); status != http.StatusUnauthorized {
			t.Errorf("%s: this browser's cookie from before: %d", when, status)
		}
		if status := app(t, "", "stepgate="+newHere); status != http.StatusOK {
			t.Errorf("%s: this browser's reissued cookie: %d", when, status)
		}
		if r := o.get(sip); r.status != http.StatusFound {
			t.Errorf("%s: the other browser on Security info: %d", when, r.status)
		}
	}
	check("at once")
	g.restart()
	time.Sleep(100 * time.Millisecond) // the revocations load at start
	check("after a restart")
}
