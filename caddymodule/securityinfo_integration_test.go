package caddymodule_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

// si is the Security info page; its forms post below it.
const si = "/.stepgate/security-info"

// newPhone is the number alice changes hers to; ukPhone is in a country
// the gateway does not allow.
const (
	newPhone = "+14155550142"
	ukPhone  = "+44 20 7946 0958"
)

// siGateway is a gateway with every method a user can add on Security info:
// the authenticator app, sign-in requests (the fake push service) and
// texts (the fake Twilio), US numbers only.
type siGateway struct {
	t   *testing.T
	db  string
	tw  *smstest.Twilio
	svc *pushtest.Service
}

// startSecurityInfoCaddy starts that gateway for alice, bob and dave, with
// extra stepgate options (security_info { … }). The resend cooldown is
// sendCooldown, so tests wait for it (waitCooldown) instead of 30 s.
func startSecurityInfoCaddy(t *testing.T, extra string) *siGateway {
	t.Helper()
	g := &siGateway{t: t, tw: smstest.NewTwilio(t, twilioSID, twilioToken), svc: pushtest.NewService(t)}
	var block string
	block, g.db = stepgateBlock(t, writeUsers(t, "alice", "bob", "dave"), fmt.Sprintf(`sms twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
		}
		allowed_countries +1
		send_limits {
			cooldown %s
			per_user 100
			per_number 100
			per_ip 1000
		}
		push {
			contact mailto:ops@example.com
			service %s
		}
		%s`, twilioSID, twilioToken, g.tw.URL, sendCooldown, g.svc.Origin(), extra))
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	stepgate
	reverse_proxy %s
}
`, echoBackend(t)))
	return g
}

// sendCooldown is the gateway's shortest time between two texts to one user.
const sendCooldown = 20 * time.Millisecond

// waitCooldown waits until another text may be sent to the same user.
func waitCooldown() { time.Sleep(sendCooldown + 10*time.Millisecond) }

// withStore runs f on the gateway's store, opened beside Caddy's handle.
func (g *siGateway) withStore(f func(context.Context, *store.SQLite)) {
	g.t.Helper()
	withStore(g.t, g.db, f)
}

// withStore runs f on the SQLite store at db, opened beside Caddy's
// handle.
func withStore(t *testing.T, db string, f func(context.Context, *store.SQLite)) {
	t.Helper()
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f(context.Background(), st)
}

// info is user's security info as stored.
func (g *siGateway) info(user string) store.SecurityInfo {
	g.t.Helper()
	var info store.SecurityInfo
	g.withStore(func(ctx context.Context, st *store.SQLite) {
		var err error
		if info, err = st.SecurityInfo(ctx, user); err != nil && !errors.Is(err, store.ErrNotFound) {
			g.t.Fatal(err)
		}
	})
	return info
}

// devices lists user's push devices as "ID=name", oldest first.
func (g *siGateway) devices(user string) []string {
	g.t.Helper()
	var out []string
	g.withStore(func(ctx context.Context, st *store.SQLite) {
		devs, err := st.PushDevices(ctx, user)
		if err != nil {
			g.t.Fatal(err)
		}
		for _, d := range devs {
			out = append(out, d.ID+"="+d.Name)
		}
	})
	return out
}

// snapshot is everything Security info can change for user: compared
// before and after a refused change, it shows that nothing changed.
func (g *siGateway) snapshot(user string) string {
	g.t.Helper()
	info := g.info(user)
	return fmt.Sprintf("app=%x phone=%q default=%q devices=%q", info.TOTPSecret, info.Phone, info.DefaultMethod, g.devices(user))
}

// texts counts the texts the fake Twilio accepted for number.
func (g *siGateway) texts(number string) int {
	n := 0
	for _, m := range g.tw.Messages() {
		if m.To == number {
			n++
		}
	}
	return n
}

// change posts a Security info form (path below si) with the page's token.
func (c *client) change(path string, form url.Values) response {
	c.t.Helper()
	return c.post(si, si+path, form)
}

// addPushDevice adds a phone for sign-in requests on Security info, as the
// Go phone named name, and returns it.
// done is the confirmation the page should give: "added", or
// "added-default" when the phone is where sign-in now starts.
func (g *siGateway) addPushDevice(c *client, name, done string) *pushtest.Phone {
	g.t.Helper()
	t := g.t
	page := c.get(si + "/add/push")
	m := enrolLinkRe.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("adding a phone for sign-in requests: the set-up page has no enrolment link: %d %s", page.status, page.body)
	}
	ph := pushtest.NewPhone(t, g.svc, name)
	status, out := device(t, "enrol", ph.Enrolment(m[1]))
	if status != http.StatusOK {
		t.Fatalf("the phone %s could not enrol: %d %v", name, status, out)
	}
	ph.Device = out["device"].(string)
	// The page polls this until the phone is set up.
	if r := c.get(si + "/add/push/status"); !strings.Contains(r.body, `"enrolled"`) {
		t.Fatalf("set-up status after the phone enrolled: %d %s", r.status, r.body)
	}
	if r := c.post(si+"/add/push", si+"/add/push", url.Values{}); r.status != http.StatusSeeOther || r.location != si+"?done="+done {
		t.Fatalf("finishing the set-up of %s: %d %q %s", name, r.status, r.location, r.body)
	}
	return ph
}

// mustRefuse checks that a refused change answered status with a page
// saying want, and changed nothing of user's.
func (g *siGateway) mustRefuse(what, user string, status int, want string, do func() response) {
	g.t.Helper()
	before := g.snapshot(user)
	r := do()
	if r.status != status || !strings.Contains(unescaped(r), want) {
		g.t.Errorf("%s: got %d, want %d with %q; page:\n%s", what, r.status, status, want, r.body)
	}
	if after := g.snapshot(user); after != before {
		g.t.Errorf("%s changed %s's methods:\nbefore %s\nafter  %s", what, user, before, after)
	}
}

// TestSecurityInfoAddRenameRemoveThroughCaddy: alice, who signed up with an
// authenticator app, adds a phone for texts (stored only once its code is
// typed), two phones for sign-in requests, renames one, deletes one and the
// phone, and replaces her app; each change shows on the page and in the
// store, and each new method signs her in.
func TestSecurityInfoAddRenameRemoveThroughCaddy(t *testing.T) {
	g := startSecurityInfoCaddy(t, "")
	c := newClient(t)
	secret, _ := c.register("alice", "/")

	page := unescaped(c.get(si))
	for _, want := range []string{"Authenticator app", `id="last-only"`, `id="add-sms"`, `id="add-push"`, `href="/.stepgate/security-info/add/app"`} {
		if !strings.Contains(page, want) {
			t.Errorf("Security info after signing up with an app lacks %q", want)
		}
	}

	// A phone for texts: the code goes to the number; the number is stored
	// only when the code is typed.
	r := c.change("/add/phone", url.Values{"phone": {"+1 (415) 555-2671"}})
	if r.status != http.StatusOK || !strings.Contains(unescaped(r), "We texted your phone +1 ••• ••• ••71.") || g.texts(alicePhone) != 1 {
		t.Fatalf("sending the code to a new phone: %d, %d texts; page %s", r.status, g.texts(alicePhone), r.body)
	}
	if info := g.info("alice"); info.Phone != "" {
		t.Fatalf("the number was stored before its code was typed: %q", info.Phone)
	}
	if r := c.post(si+"/add/phone", si+"/add/phone", url.Values{"code": {wrongCode(g.tw.LastCode(alicePhone))}}); r.status != http.StatusUnauthorized || g.info("alice").Phone != "" {
		t.Fatalf("a wrong code for the new phone: %d, stored %q", r.status, g.info("alice").Phone)
	}
	r = c.post(si+"/add/phone", si+"/add/phone", url.Values{"code": {g.tw.LastCode(alicePhone)}})
	if r.status != http.StatusSeeOther || r.location != si+"?done=added" {
		t.Fatalf("confirming the new phone: %d %q %s", r.status, r.location, r.body)
	}
	if info := g.info("alice"); info.Phone != alicePhone {
		t.Fatalf("the confirmed phone was not stored: %q", info.Phone)
	}
	page = unescaped(c.get(r.location))
	for _, want := range []string{"Your sign-in method was added.", "Text message", "+1 ••• ••• ••71", "Sign-in method added"} {
		if !strings.Contains(page, want) {
			t.Errorf("Security info after adding a phone lacks %q", want)
		}
	}
	if strings.Contains(page, `id="last-only"`) {
		t.Error("with an app and a phone, the page still says the app is the only method")
	}

	// Two phones for sign-in requests.
	// Sign-in starts with them now (the strongest method, no default
	// chosen): the confirmation says so.
	pixel := g.addPushDevice(c, "Pixel", "added-default")
	ipad := g.addPushDevice(c, "iPad", "added-default")
	if devs := g.devices("alice"); len(devs) != 2 || devs[0] != pixel.Device+"=Pixel" || devs[1] != ipad.Device+"=iPad" {
		t.Fatalf("alice's devices after adding two: %q", devs)
	}
	page = unescaped(c.get(si))
	if !strings.Contains(page, `<span class="detail">Pixel</span>`) || !strings.Contains(page, `<span class="detail">iPad</span>`) {
		t.Errorf("Security info does not list both devices:\n%s", page)
	}
	// The new device approves a sign-in.
	x := newClient(t)
	x.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	x.post("/.stepgate/verify", "/.stepgate/verify/method", url.Values{"method": {"push"}})
	m := approveNum.FindStringSubmatch(x.get("/.stepgate/verify").body)
	msgs := g.svc.Messages()
	if m == nil || len(msgs) == 0 {
		t.Fatalf("signing in with a sign-in request: no number on the page, or no notification (%d)", len(msgs))
	}
	var number int
	fmt.Sscan(m[1], &number)
	if status, out := device(t, "answer", ipad.Answer(time.Now(), msgs[len(msgs)-1].Payload.Request, number, "approve")); status != http.StatusOK || out["result"] != "approved" {
		t.Fatalf("the added iPad approving a sign-in: %d %v", status, out)
	}
	if r := x.post("/.stepgate/verify", "/.stepgate/verify", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("continuing after the iPad approved: %d %s", r.status, r.body)
	}

	// Rename; the name is text, never markup.
	if r := c.change("/rename", url.Values{"method": {"push"}, "id": {ipad.Device}, "name": {"  Kitchen <b>iPad</b> "}}); r.status != http.StatusSeeOther || r.location != si+"?done=renamed" {
		t.Fatalf("renaming the iPad: %d %q %s", r.status, r.location, r.body)
	}
	if devs := g.devices("alice"); len(devs) != 2 || devs[1] != ipad.Device+"=Kitchen <b>iPad</b>" {
		t.Fatalf("devices after the rename: %q", devs)
	}
	page = c.get(si + "?done=renamed").body
	if !strings.Contains(page, "The device was renamed.") || !strings.Contains(page, "Kitchen &lt;b&gt;iPad&lt;/b&gt;") || strings.Contains(page, "<b>iPad") {
		t.Errorf("the renamed device on the page:\n%s", page)
	}

	// Delete the Pixel: its signatures are refused from then on.
	if r := c.change("/remove", url.Values{"method": {"push"}, "id": {pixel.Device}}); r.status != http.StatusSeeOther || r.location != si+"?done=removed" {
		t.Fatalf("deleting the Pixel: %d %q %s", r.status, r.location, r.body)
	}
	if devs := g.devices("alice"); len(devs) != 1 || devs[0] != ipad.Device+"=Kitchen <b>iPad</b>" {
		t.Fatalf("devices after deleting the Pixel: %q", devs)
	}
	if status, _ := device(t, "pending", pixel.Signed(time.Now(), "pending", "")); status != http.StatusNotFound {
		t.Errorf("the deleted Pixel still talks to the gateway: %d", status)
	}
	if status, _ := device(t, "pending", ipad.Signed(time.Now(), "pending", "")); status != http.StatusOK {
		t.Errorf("the iPad that stays was cut off too: %d", status)
	}

	// Delete the phone: it no longer gets sign-in texts.
	if r := c.change("/remove", url.Values{"method": {"sms"}, "id": {"phone"}}); r.status != http.StatusSeeOther || r.location != si+"?done=removed" {
		t.Fatalf("deleting the phone: %d %q %s", r.status, r.location, r.body)
	}
	if info := g.info("alice"); info.Phone != "" || info.TOTPSecret == nil {
		t.Fatalf("after deleting the phone: phone %q, app kept %v", info.Phone, info.TOTPSecret != nil)
	}
	z := newClient(t)
	z.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	if other := z.get("/.stepgate/verify/other").body; strings.Contains(other, "Text +1") || !strings.Contains(other, "authenticator app") {
		t.Errorf(`"Sign in another way" after deleting the phone:\n%s`, other)
	}

	// Replace the app: the old one works until the new one's code is typed,
	// and never after.
	set := c.get(si + "/add/app")
	sm := gatewaytest.SecretRe.FindStringSubmatch(set.body)
	if set.status != http.StatusOK || sm == nil || !strings.Contains(set.body, "Your current app keeps working until the new one is confirmed.") {
		t.Fatalf("replacing the app: %d %s", set.status, set.body)
	}
	newSecret := strings.ReplaceAll(sm[1], " ", "")
	old := g.info("alice").TOTPSecret
	if r := c.post(si+"/add/app", si+"/add/app", url.Values{"code": {code(t, newSecret, time.Now())}}); r.status != http.StatusSeeOther || r.location != si+"?done=replaced" {
		t.Fatalf("confirming the new app: %d %q %s", r.status, r.location, r.body)
	}
	if string(g.info("alice").TOTPSecret) == string(old) {
		t.Fatal("the new app's secret was not stored")
	}
	y := newClient(t)
	y.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	y.post("/.stepgate/verify", "/.stepgate/verify/method", url.Values{"method": {"totp"}})
	if r := y.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code30(t, secret)}}); r.status != http.StatusUnauthorized {
		t.Errorf("the replaced app's code still signs in: %d", r.status)
	}
	if r := y.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code30(t, newSecret)}}); r.status != http.StatusSeeOther {
		t.Errorf("the new app's code does not sign in: %d %s", r.status, r.body)
	}
}

// wrongCode is a six-digit code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestSecurityInfoChangePhoneThroughCaddy: alice changes her number. Until
// she types the code sent to the new one, the old one is stored and gets
// the sign-in texts; a code sent to the old number does not confirm the
// new one; after, only the new one gets them.
func TestSecurityInfoChangePhoneThroughCaddy(t *testing.T) {
	g := startSecurityInfoCaddy(t, "")
	c := newClient(t)
	setUpPhone(t, c, func() string { return g.tw.LastCode(alicePhone) })
	waitCooldown()

	page := unescaped(c.get(si))
	if !strings.Contains(page, `href="/.stepgate/security-info/add/phone" class="action">Change number</a>`) {
		t.Fatalf("no Change number link:\n%s", page)
	}
	form := unescaped(c.get(si + "/add/phone"))
	if !strings.Contains(form, "Change your phone number") || !strings.Contains(form, "Your current number (+1 ••• ••• ••71) keeps working until the new one is confirmed.") {
		t.Fatalf("the change-number page:\n%s", form)
	}
	r := c.change("/add/phone", url.Values{"phone": {"+1 415-555-0142"}})
	if r.status != http.StatusOK || !strings.Contains(unescaped(r), "We texted your phone +1 ••• ••• ••42.") || g.texts(newPhone) != 1 {
		t.Fatalf("sending the code to the new number: %d, %d texts; page %s", r.status, g.texts(newPhone), r.body)
	}
	if got := g.info("alice").Phone; got != alicePhone {
		t.Fatalf("before its code was typed, the stored number is %q, want the old %q", got, alicePhone)
	}

	// Meanwhile a sign-in texts the old number, and its code signs in.
	waitCooldown()
	old, nw := g.texts(alicePhone), g.texts(newPhone)
	x := newClient(t)
	if r := x.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.location != "/.stepgate/verify" {
		t.Fatalf("password step while the change is pending: %d %q", r.status, r.location)
	}
	if g.texts(alicePhone) != old+1 || g.texts(newPhone) != nw {
		t.Fatalf("while the change is pending, the sign-in text went to the old number %d times and the new one %d times, want 1 and 0",
			g.texts(alicePhone)-old, g.texts(newPhone)-nw)
	}
	oldCode := g.tw.LastCode(alicePhone)
	if r := x.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {oldCode}}); r.status != http.StatusSeeOther {
		t.Fatalf("signing in with the old number's code while the change is pending: %d %s", r.status, r.body)
	}

	// The old number's code does not confirm the new number.
	if r := c.post(si+"/add/phone", si+"/add/phone", url.Values{"code": {oldCode}}); r.status != http.StatusUnauthorized || g.info("alice").Phone != alicePhone {
		t.Fatalf("confirming the new number with the old number's code: %d, stored %q", r.status, g.info("alice").Phone)
	}
	r = c.post(si+"/add/phone", si+"/add/phone", url.Values{"code": {g.tw.LastCode(newPhone)}})
	if r.status != http.StatusSeeOther || r.location != si+"?done=replaced" {
		t.Fatalf("confirming the new number: %d %q %s", r.status, r.location, r.body)
	}
	if got := g.info("alice").Phone; got != newPhone {
		t.Fatalf("after its code was typed, the stored number is %q, want %q", got, newPhone)
	}
	page = unescaped(c.get(r.location))
	if !strings.Contains(page, "Your sign-in method was replaced. The old one no longer works.") || !strings.Contains(page, "+1 ••• ••• ••42") || strings.Contains(page, "••71") {
		t.Errorf("Security info after the change does not show only the new number:\n%s", page)
	}

	// Now only the new number gets the sign-in text.
	waitCooldown()
	old, nw = g.texts(alicePhone), g.texts(newPhone)
	y := newClient(t)
	y.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	if g.texts(alicePhone) != old || g.texts(newPhone) != nw+1 {
		t.Fatalf("after the change, the sign-in text went to the old number %d times and the new one %d times, want 0 and 1",
			g.texts(alicePhone)-old, g.texts(newPhone)-nw)
	}
	if r := y.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {g.tw.LastCode(newPhone)}}); r.status != http.StatusSeeOther {
		t.Fatalf("signing in with the new number's code: %d %s", r.status, r.body)
	}
}

// TestSecurityInfoDefaultMethodThroughCaddy: the default chosen on Security
// info is the first step of the next sign-in.
func TestSecurityInfoDefaultMethodThroughCaddy(t *testing.T) {
	g := startSecurityInfoCaddy(t, "")
	c := newClient(t)
	secret, _ := c.register("alice", "/")
	c.change("/add/phone", url.Values{"phone": {alicePhone}})
	if r := c.post(si+"/add/phone", si+"/add/phone", url.Values{"code": {g.tw.LastCode(alicePhone)}}); r.status != http.StatusSeeOther {
		t.Fatalf("adding a phone: %d %s", r.status, r.body)
	}
	// Without a choice, the strongest method (the app) comes first.
	signIn := func() (*client, int) {
		waitCooldown()
		x := newClient(t)
		before := g.texts(alicePhone)
		if r := x.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.location != "/.stepgate/verify" {
			t.Fatalf("password step: %d %q", r.status, r.location)
		}
		return x, g.texts(alicePhone) - before
	}
	if _, sent := signIn(); sent != 0 {
		t.Fatalf("before a default was chosen, the sign-in sent %d texts", sent)
	}

	if r := c.change("/default", url.Values{"method": {"sms"}}); r.status != http.StatusSeeOther || r.location != si+"?done=default" {
		t.Fatalf("making texts the default: %d %q %s", r.status, r.location, r.body)
	}
	if d := g.info("alice").DefaultMethod; d != "sms" {
		t.Fatalf("stored default %q, want sms", d)
	}
	if page := c.get(si + "?done=default").body; !strings.Contains(page, `<option value="sms" selected>`) || !strings.Contains(page, "Your default sign-in method was changed.") {
		t.Errorf("the page does not show texts as the default:\n%s", page)
	}
	x, sent := signIn()
	if sent != 1 {
		t.Fatalf("with texts the default, the next sign-in's first step sent %d texts, want 1", sent)
	}
	if page := unescaped(x.get("/.stepgate/verify")); !strings.Contains(page, "We texted your phone +1 ••• ••• ••71.") {
		t.Fatalf("with texts the default, the verify page:\n%s", page)
	}
	if r := x.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {g.tw.LastCode(alicePhone)}}); r.status != http.StatusSeeOther {
		t.Fatalf("signing in with the texted code: %d %s", r.status, r.body)
	}

	// Back to the app: no text, the app's code.
	if r := c.change("/default", url.Values{"method": {"totp"}}); r.status != http.StatusSeeOther {
		t.Fatalf("making the app the default: %d %s", r.status, r.body)
	}
	x, sent = signIn()
	if page := x.get("/.stepgate/verify").body; sent != 0 || !strings.Contains(page, "Open your authenticator app") {
		t.Fatalf("with the app the default, the sign-in sent %d texts and shows:\n%s", sent, page)
	}
	if r := x.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code30(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("signing in with the app: %d %s", r.status, r.body)
	}
}

// TestSecurityInfoReauthWindowThroughCaddy: with `security_info { reauth
// 3s }`, changes are accepted right after a second step, refused (with
// nothing changed, nothing sent) once it is 3 s old, and accepted again
// after verifying again, which returns to the set-up that was under way.
// 3 s leaves at least 2 s for the accepted changes: the window counts whole
// seconds.
func TestSecurityInfoReauthWindowThroughCaddy(t *testing.T) {
	g := startSecurityInfoCaddy(t, `security_info {
			reauth 3s
		}`)
	c := newClient(t)
	secret, _ := c.register("alice", "/")
	verified := time.Now()
	other := newClient(t)
	other.HTTP.Jar.SetCookies(mustParse(base), []*http.Cookie{{Name: "stepgate", Value: c.cookie("stepgate"), Path: "/"}})

	// Fresh: sending a code to a new phone is accepted.
	if r := c.change("/add/phone", url.Values{"phone": {alicePhone}}); r.status != http.StatusOK || g.texts(alicePhone) != 1 {
		t.Fatalf("a change right after signing in: %d, %d texts; page %s", r.status, g.texts(alicePhone), r.body)
	}
	setCode := g.tw.LastCode(alicePhone)

	time.Sleep(time.Until(verified.Add(3*time.Second + 200*time.Millisecond)))

	// Stale: the page asks to verify first; every change is refused.
	page := c.get(si).body
	if !strings.Contains(page, `id="verify-first"`) || !strings.Contains(page, "for 3 seconds") {
		t.Errorf("a stale session's page does not ask to verify first (for 3 seconds):\n%s", page)
	}
	const stale = "verify it's you before changing your security info. Nothing was changed."
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/default", url.Values{"method": {"totp"}}},
		{"/remove", url.Values{"method": {"totp"}, "id": {"app"}}},
		{"/rename", url.Values{"method": {"push"}, "id": {"x"}, "name": {"y"}}},
		{"/sign-out-others", url.Values{}},
	} {
		g.mustRefuse("POST "+tc.path+" after the re-auth window", "alice", http.StatusForbidden, stale, func() response { return c.change(tc.path, tc.form) })
	}
	if r := other.get("/"); r.status != http.StatusOK {
		t.Errorf("the refused sign-out-others signed the other browser out: %d", r.status)
	}
	sent := len(g.tw.Messages())
	g.mustRefuse("sending a code to another new number after the window", "alice", http.StatusForbidden, "verify it's you before you change your sign-in methods",
		func() response { return c.post(si+"/add/phone", si+"/add/phone", url.Values{"phone": {newPhone}}) })
	g.mustRefuse("typing the code of a set-up started in time, after the window", "alice", http.StatusForbidden, "verify it's you before you change your sign-in methods",
		func() response { return c.post(si+"/add/phone", si+"/add/phone", url.Values{"code": {setCode}}) })
	if n := len(g.tw.Messages()); n != sent {
		t.Errorf("a stale session sent %d texts", n-sent)
	}
	// The push device API's set-up is not a way around it.
	g.mustRefuse("starting a device set-up after the window", "alice", http.StatusForbidden, "verify it's you", func() response { return c.get(si + "/add/push") })

	// Verify again, from the refused set-up: back to it, and it finishes.
	reauth := c.get(si + "/add/phone")
	if !strings.Contains(reauth.body, `name="next" value="add/phone"`) {
		t.Fatalf("the refused set-up does not offer to verify and come back:\n%s", reauth.body)
	}
	r := c.post(si+"/add/phone", si+"/verify", url.Values{"next": {"add/phone"}})
	if r.status != http.StatusSeeOther || r.location != "/.stepgate/verify" {
		t.Fatalf("starting to verify again: %d %q %s", r.status, r.location, r.body)
	}
	r = c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code30(t, secret)}})
	if r.status != http.StatusSeeOther || r.location != si+"/add/phone" {
		t.Fatalf("verifying again: %d %q %s", r.status, r.location, r.body)
	}
	if page := unescaped(c.get(r.location)); !strings.Contains(page, "We texted your phone +1 ••• ••• ••71.") {
		t.Fatalf("back on the set-up, it does not wait for the code sent before:\n%s", page)
	}
	if r := c.post(si+"/add/phone", si+"/add/phone", url.Values{"code": {setCode}}); r.status != http.StatusSeeOther || g.info("alice").Phone != alicePhone {
		t.Fatalf("typing the code after verifying again: %d, stored %q; page %s", r.status, g.info("alice").Phone, r.body)
	}
	if r := c.change("/default", url.Values{"method": {"sms"}}); r.status != http.StatusSeeOther || g.info("alice").DefaultMethod != "sms" {
		t.Fatalf("another change after verifying again: %d %s", r.status, r.body)
	}
	if page := c.get(si).body; !strings.Contains(page, "Verified again for Security info") {
		t.Error("Recent activity does not show the second verification")
	}
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSecurityInfoKeepsTheLastMethodThroughCaddy: the only method, whether
// the app (the page's check) or one phone for sign-in requests (the
// store's), cannot be deleted; the page says why and nothing changes.
func TestSecurityInfoKeepsTheLastMethodThroughCaddy(t *testing.T) {
	g := startSecurityInfoCaddy(t, "")
	const msg = "You can't delete your only sign-in method: every sign-in needs a second step. Add another method first, then delete this one."

	a := newClient(t)
	a.register("alice", "/")
	page := a.get(si).body
	if strings.Contains(page, `action="/.stepgate/security-info/remove"`) || !strings.Contains(page, `id="last-only"`) {
		t.Errorf("the only method has a Delete button, or no word on why not:\n%s", page)
	}
	g.mustRefuse("deleting alice's only method, the app", "alice", http.StatusConflict, msg,
		func() response { return a.change("/remove", url.Values{"method": {"totp"}, "id": {"app"}}) })

	b := newClient(t)
	ph := enrolPhone(t, b, g.svc, "bob")
	g.mustRefuse("deleting bob's only method, one phone for sign-in requests", "bob", http.StatusConflict, msg,
		func() response { return b.change("/remove", url.Values{"method": {"push"}, "id": {ph.Device}}) })
	if status, _ := device(t, "pending", ph.Signed(time.Now(), "pending", "")); status != http.StatusOK {
		t.Errorf("bob's only device was cut off: %d", status)
	}
	// With a second device, one of them can go.
	ph2 := g.addPushDevice(b, "Second", "added")
	if r := b.change("/remove", url.Values{"method": {"push"}, "id": {ph.Device}}); r.status != http.StatusSeeOther {
		t.Fatalf("deleting one of two devices: %d %s", r.status, r.body)
	}
	g.mustRefuse("deleting bob's remaining device", "bob", http.StatusConflict, msg,
		func() response { return b.change("/remove", url.Values{"method": {"push"}, "id": {ph2.Device}}) })
}

// TestSecurityInfoRefusesBadInputThroughCaddy: devices that are not the
// user's, methods that are not on, numbers that are not numbers or not in
// an allowed country, forms without their token: each gets a clear page and
// changes nothing.
func TestSecurityInfoRefusesBadInputThroughCaddy(t *testing.T) {
	g := startSecurityInfoCaddy(t, "")
	b := newClient(t)
	bobs := enrolPhone(t, b, g.svc, "bob")
	a := newClient(t)
	a.register("alice", "/")
	alices := g.addPushDevice(a, "Pixel", "added-default")

	const notYours = "That sign-in method or device isn't one of yours (it may have been deleted already). Nothing was changed."
	for _, id := range []string{bobs.Device, "made-up-device", ""} {
		g.mustRefuse(fmt.Sprintf("alice deleting device %q", id), "bob", http.StatusNotFound, notYours,
			func() response { return a.change("/remove", url.Values{"method": {"push"}, "id": {id}}) })
		g.mustRefuse(fmt.Sprintf("alice renaming device %q", id), "bob", http.StatusNotFound, notYours,
			func() response {
				return a.change("/rename", url.Values{"method": {"push"}, "id": {id}, "name": {"Mine now"}})
			})
	}
	g.mustRefuse("renaming with a name over 40 characters", "alice", http.StatusBadRequest, "That name can't be used: the device name is longer than 40 characters. Nothing was changed.",
		func() response {
			return a.change("/rename", url.Values{"method": {"push"}, "id": {alices.Device}, "name": {strings.Repeat("x", 41)}})
		})
	g.mustRefuse("renaming with a control character", "alice", http.StatusBadRequest, "That name can't be used",
		func() response {
			return a.change("/rename", url.Values{"method": {"push"}, "id": {alices.Device}, "name": {"a\x00b"}})
		})

	// Methods that are not on this site, not alice's, or not manageable.
	for name, form := range map[string]url.Values{
		"a method not on this site":     {"method": {"voice"}, "id": {"phone"}},
		"an unknown method":             {"method": {"nope"}, "id": {"x"}},
		"the password":                  {"method": {"password"}},
		"no method":                     {},
		"renaming the app (no names)":   {"method": {"totp"}, "id": {"app"}, "name": {"x"}},
		"the phone alice does not have": {"method": {"sms"}, "id": {"phone"}},
		"the app by another credential": {"method": {"totp"}, "id": {"other"}},
	} {
		path, status, want := "/remove", http.StatusBadRequest, notYours
		switch name {
		case "renaming the app (no names)":
			path = "/rename"
		case "the phone alice does not have", "the app by another credential":
			status = http.StatusNotFound
		}
		g.mustRefuse(name, "alice", status, want, func() response { return a.change(path, form) })
	}
	for _, m := range []string{"voice", "sms", "nope", ""} {
		g.mustRefuse(fmt.Sprintf("default %q", m), "alice", http.StatusBadRequest, "That sign-in method isn't set up for your account, so it can't be the default. Nothing was changed.",
			func() response { return a.change("/default", url.Values{"method": {m}}) })
	}
	for _, slug := range []string{"voice", "nope", "", "push/extra/status"} {
		if r := a.get(si + "/add/" + slug); r.status != http.StatusNotFound {
			t.Errorf("GET add/%s: %d, want 404", slug, r.status)
		}
	}

	// Phone numbers: nothing is sent and nothing stored.
	for _, tc := range []struct{ number, want string }{
		{"415 555 2671", "That doesn't look like a phone number: enter your number in international form, starting with + and your country code"},
		{"+1 415 555 26x1", "That doesn't look like a phone number"},
		{"+1 000", "That doesn't look like a phone number"},
		{ukPhone, "Phone numbers in that country can't be used here. Use a number starting with +1, or contact the help desk."},
	} {
		sent := len(g.tw.Messages())
		g.mustRefuse(fmt.Sprintf("adding phone %q", tc.number), "alice", http.StatusBadRequest, tc.want,
			func() response { return a.change("/add/phone", url.Values{"phone": {tc.number}}) })
		if n := len(g.tw.Messages()); n != sent {
			t.Errorf("adding phone %q sent %d texts", tc.number, n-sent)
		}
	}
	g.mustRefuse("a code before any number", "alice", http.StatusBadRequest, "Enter your phone number first.",
		func() response { return a.change("/add/phone", url.Values{"code": {"123456"}}) })

	// Forms without their token, or from another site.
	g.mustRefuse("a form without its token", "alice", http.StatusForbidden, "",
		func() response {
			return a.do("POST", base+si+"/remove", url.Values{"method": {"push"}, "id": {alices.Device}}, nil)
		})
	g.mustRefuse("a cross-site form", "alice", http.StatusForbidden, "",
		func() response {
			form := url.Values{"method": {"push"}, "id": {alices.Device}, "csrf": {a.CSRF(si)}}
			return a.do("POST", base+si+"/remove", form, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		})
	// Signed out: nothing changes.
	g.mustRefuse("a signed-out form", "alice", http.StatusUnauthorized, "Sign in again to change your security info. Nothing was changed.",
		func() response {
			x := newClient(t)
			return x.post("/.stepgate/", si+"/remove", url.Values{"method": {"push"}, "id": {alices.Device}})
		})
}

// secondInstanceEnv names the Caddyfile TestHelperCaddyInstance serves.
const secondInstanceEnv = "STEPGATE_TEST_SECOND_CADDY"

// TestHelperCaddyInstance is not a test: started by startSecondCaddy in a
// child process, it runs a second Caddy from a Caddyfile until its stdin
// closes.
func TestHelperCaddyInstance(t *testing.T) {
	path := os.Getenv(secondInstanceEnv)
	if path == "" {
		t.Skip("runs only as the second Caddy instance of TestSecurityInfoSignOutOthersAcrossInstances")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": path})
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	defer caddy.Stop()
	io.Copy(io.Discard, os.Stdin)
}

// startSecondCaddy runs a second Caddy, in a child process (the test
// binary running TestHelperCaddyInstance), with stepgateBlock at
// http://localhost:9081, and returns its base URL.
func startSecondCaddy(t *testing.T, stepgateBlock, backend string) string {
	t.Helper()
	const base2 = "http://localhost:9081"
	file := filepath.Join(t.TempDir(), "Caddyfile")
	caddyfile := `{
	skip_install_trust
	admin off
	persist_config off
	auto_https off
	http_port 9081
	grace_period 1ns
	default_bind 127.0.0.1
	stepgate {
		password_cpu 100%
` + stepgateBlock + `
	}
}

http://localhost:9081 {
	stepgate
	reverse_proxy ` + backend + `
}
`
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestHelperCaddyInstance$", "-test.count=1")
	cmd.Env = append(os.Environ(), secondInstanceEnv+"="+file)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("second Caddy's output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("the second Caddy exited:\n%s", out.String())
		default:
		}
		if res, err := http.Get(base2 + "/.stepgate/"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return base2
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second Caddy did not answer in 30 s:\n%s", out.String())
		}
	}
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecurityInfoSignOutOthersAcrossInstances: two Caddy instances (this
// process and a child) share one SQLite store. alice signs in on each in a
// different browser; "Sign out everywhere else" on the first ends the other
// browser's session there at once and on the second instance within its
// poll of the store (2 s), while this browser stays signed in on both.
func TestSecurityInfoSignOutOthersAcrossInstances(t *testing.T) {
	users := writeUsers(t, "alice", "bob")
	block, _ := stepgateBlock(t, users, "")
	echo := echoBackend(t)
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	stepgate
	reverse_proxy %s
}
`, echo))
	base2 := startSecondCaddy(t, block, echo)

	here := newClient(t)
	secret, _ := here.register("alice", "/")
	there := &client{Client: gatewaytest.NewClient(t, base2), t: t}
	if r := there.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.location != "/.stepgate/verify" {
		t.Fatalf("password step on the second instance: %d %q %s", r.status, r.location, r.body)
	}
	if r := there.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code30(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("second step on the second instance: %d %s", r.status, r.body)
	}
	bob := newClient(t)
	bob.register("bob", "/")

	// The other browser's cookie, sent to each instance; this browser's
	// cookie (it changes on sign-out-others) to each instance.
	otherCookie := there.cookie("stepgate")
	on := func(baseURL, cookie string) int {
		return newClient(t).do("GET", baseURL+"/", nil, map[string]string{"Cookie": "stepgate=" + cookie}).status
	}
	for _, b := range []string{base, base2} {
		if s := on(b, otherCookie); s != http.StatusOK {
			t.Fatalf("the other browser's session on %s before: %d", b, s)
		}
	}

	if r := here.change("/sign-out-others", url.Values{}); r.status != http.StatusSeeOther || r.location != si+"?done=signed-out" {
		t.Fatalf("sign out everywhere else: %d %q %s", r.status, r.location, r.body)
	}
	signedOut := time.Now()
	if page := here.get(si + "?done=signed-out"); page.status != http.StatusOK || !strings.Contains(page.body, "You were signed out everywhere else.") {
		t.Fatalf("this browser after signing out the others: %d %s", page.status, page.body)
	}
	if s := on(base, otherCookie); s != http.StatusFound {
		t.Errorf("on this instance, the other browser's session still works at once: %d", s)
	}
	for s := on(base2, otherCookie); s != http.StatusFound; s = on(base2, otherCookie) {
		if time.Since(signedOut) > 10*time.Second {
			t.Fatalf("on the second instance, the other browser's session still works after 10 s: %d", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the second instance refused the other session after %v", time.Since(signedOut).Round(10*time.Millisecond))
	// The other browser itself is sent to sign in.
	if r := there.get("/"); r.status != http.StatusFound {
		t.Errorf("the other browser on the second instance: %d", r.status)
	}
	// This browser stays signed in on both, the second having the
	// revocation now; so does bob.
	mine := here.cookie("stepgate")
	for _, b := range []string{base, base2} {
		if s := on(b, mine); s != http.StatusOK {
			t.Errorf("this browser on %s after signing out the others: %d", b, s)
		}
		if s := on(b, bob.cookie("stepgate")); s != http.StatusOK {
			t.Errorf("bob on %s after alice signed out her other sessions: %d", b, s)
		}
	}
	if r := here.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, "Remote-User: alice") {
		t.Errorf("this browser in the app: %d", r.status)
	}
}
