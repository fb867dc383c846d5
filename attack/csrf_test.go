package attack

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

// TestCrossSiteRequestForgery posts to every form from another origin,
// without a token, with another session's token, with a token but no
// token cookie, and with the victim's own token from another site (so
// the origin check alone must refuse it): all refused with 403, and none
// has an effect. The victim has just verified (every Security info change
// would be allowed), has a second method, a device and a second session:
// a forged form would delete, rename, sign out or text. The Temporary
// Access Pass form carries bob's real pass, the Change password form
// alice's real password.
func TestCrossSiteRequestForgery(t *testing.T) {
	svc := pushtest.NewService(t)
	g := start(t, []string{"alice", "bob"}, fmt.Sprintf("sms outbox\n\t\tvoice outbox\n\t\tpush {\n\t\t\tservice %s\n\t\t}\n\t\tpassword_reset\n\t\tsession {\n\t\t\tremember 30d\n\t\t\tremember_device 30d\n\t\t}", svc.Origin()))
	victim := newClient(t)
	secret := victim.register("alice")
	elsewhere := newClient(t)
	elsewhere.login("alice", password_)
	if r := elsewhere.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {code(t, secret, time.Now().Add(30*time.Second))}}); r.status != http.StatusSeeOther {
		t.Fatalf("alice's second session: %d", r.status)
	}
	// The other browser is remembered: a forged Forget would end that.
	remembered := elsewhere.rememberThis()
	rememberedID := rememberedIDRe.FindStringSubmatch(elsewhere.get(sip).body)[1]
	g.givePhone("alice", alicePhone, false)
	device := victim.addDevice(svc, "Pixel").Device
	before := g.methods("alice")
	usersBefore, _ := os.ReadFile(g.users)
	bobsPass := g.tap("bob")
	attacker := newClient(t)
	stolen := attacker.csrf("/.stepgate/")
	own := victim.csrf("/.stepgate/")
	forms := map[string]url.Values{
		"/.stepgate/":                   {"username": {"alice"}, "password": {password_}},
		"/.stepgate/verify":             {"code": {"123456"}},
		"/.stepgate/verify/method":      {"method": {"sms"}},
		"/.stepgate/logout":             {},
		"/.stepgate/register":           {"code": {"123456"}},
		"/.stepgate/register/phone":     {"phone": {"+14155552671"}},
		"/.stepgate/register/push":      {},
		"/.stepgate/outbox/answer":      {"digits": {"#"}},
		"/.stepgate/password-reset":     {"username": {"alice"}},
		"/.stepgate/password-reset/new": {"new": {"a forged new password"}, "confirm": {"a forged new password"}},
		sip + "/verify":                 {"next": {"add/phone"}},
		sip + "/default":                {"method": {"sms"}},
		sip + "/remove":                 {"method": {"sms"}, "id": {"phone"}},
		sip + "/rename":                 {"method": {"push"}, "id": {device}, "name": {"Attacker's"}},
		sip + "/sign-out-others":        {},
		sip + "/forget-device":          {"id": {rememberedID}},
		"/.stepgate/stay-signed-in":     {"stay": {"yes"}, "device": {"yes"}, "rd": {"/"}},
		sip + "/add/app":                {"code": {"123456"}},
		sip + "/add/phone":              {"phone": {forgedPhone}},
		sip + "/add/push":               {},
		sip + "/password":               {"current": {password_}, "new": {"a forged passphrase"}, "confirm": {"a forged passphrase"}},
		passPath:                        {"username": {"bob"}, "pass": {bobsPass}},
	}
	crossSite := map[string]string{"Origin": "https://evil.com", "Sec-Fetch-Site": "cross-site"}
	tries := 0
	for path, form := range forms {
		for name, attempt := range map[string]struct {
			token string
			hdr   map[string]string
		}{
			"cross-origin, no token":           {"", crossSite},
			"cross-origin, stolen token":       {stolen, crossSite},
			"same-origin, other session token": {stolen, nil},
			"same-origin, no token":            {"", nil},
			"cross-site, victim's own token":   {own, crossSite},
			// A sibling subdomain is same-site, not same-origin.
			"same-site, victim's own token": {own, map[string]string{"Origin": "http://evil.localhost:9280", "Sec-Fetch-Site": "same-site"}},
			// A browser that sends no Sec-Fetch-Site: the Origin decides.
			"cross-origin without Sec-Fetch-Site, victim's own token": {own, map[string]string{"Origin": "https://evil.com", "Sec-Fetch-Site": ""}},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if attempt.token != "" {
				f.Set("csrf", attempt.token)
			}
			r := victim.do("POST", path, strings.NewReader(f.Encode()), attempt.hdr)
			tries++
			if r.status != http.StatusForbidden {
				t.Errorf("POST %s (%s): %d", path, name, r.status)
			}
		}
	}
	// The victim is still signed in (the forged sign-out did nothing), and
	// so is her other session; her methods are as they were, and no code
	// went to the attacker's number.
	if r := victim.get("/app"); !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatal("a forged request signed the victim out")
	}
	if r := elsewhere.get("/app"); !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatal("a forged request signed the victim's other session out")
	}
	if after := g.methods("alice"); after != before {
		t.Fatalf("forged requests changed the victim's methods: %+v, was %+v", after, before)
	}
	if lines := g.logLines("outbox", forgedPhone); len(lines) != 0 {
		t.Fatalf("a forged request texted the attacker's number: %s", lines[0])
	}
	// Her password is as it was, and bob's pass was not used up (a
	// forged pass sign-in would put bob's session in alice's browser).
	if after, _ := os.ReadFile(g.users); string(after) != string(usersBefore) {
		t.Fatal("a forged request changed the users file (a password)")
	}
	if r := newClient(t).usePass("bob", bobsPass); !signedInWithPass(r) {
		t.Fatalf("bob's pass after the forged posts: %d", r.status)
	}
	// Her other browser is still remembered, and hers was not: the forged
	// answers to "Stay signed in?" remembered nothing.
	if !skips(t, "alice", remembered) {
		t.Fatal("a forged Forget ended the other browser's remembering")
	}
	if n := strings.Count(victim.get(sip).body, ">Forget</button>"); n != 1 || victim.cookie("stepgate-device") != "" {
		t.Fatalf("after the forged answers: %d remembered browsers listed, device cookie %q", n, victim.cookie("stepgate-device"))
	}
	t.Logf("%d forged posts to %d forms", tries, len(forms))
}
