package attack

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/internal/softkey"
)

// addPasskey signs user in for the first time, setting up a passkey;
// c is then signed in.
func (c *client) addPasskey(user string) *softkey.Key {
	c.t.Helper()
	if r := c.login(user, password_); r.location != "/.stepgate/register" {
		c.t.Fatalf("password step for %s: %d %q", user, r.status, r.location)
	}
	key := softkey.New()
	if r := c.AnswerPasskey("/.stepgate/register/passkey", "/.stepgate/register/passkey", key, url.Values{"name": {"Laptop"}}); r.Status != http.StatusSeeOther {
		c.t.Fatalf("setting up %s's passkey: %d %s", user, r.Status, r.Body)
	}
	return key
}

// TestPasskeyPhishingRelay: a phishing page has alice's password and
// relays the verify page's passkey ceremony to her; her authenticator
// answers for the page she is on. The gateway refuses the answer, whether
// it names the phishing origin only or the phishing domain as relying
// party too, and the phisher never gets a session; alice still signs in.
func TestPasskeyPhishingRelay(t *testing.T) {
	startSite(t, []string{"alice"}, "passkeys", "stepgate {\n\t\trequire phishing_resistant\n\t}\n\treverse_proxy %s")
	key := newClient(t).addPasskey("alice")

	phisher := newClient(t)
	const fake = "https://login.examp1e.com"
	relays := map[string]func(opts []byte) ([]byte, error){
		"the phishing origin": func(opts []byte) ([]byte, error) { return key.Assert(opts, fake) },
		"the phishing domain as relying party": func(opts []byte) ([]byte, error) {
			var o struct {
				PublicKey struct{ Challenge string } `json:"publicKey"`
			}
			json.Unmarshal(opts, &o)
			challenge, _ := base64.RawURLEncoding.DecodeString(o.PublicKey.Challenge)
			return key.AssertFor(challenge, "login.examp1e.com", fake)
		},
	}
	for name, relay := range relays {
		if r := phisher.login("alice", password_); r.location != "/.stepgate/verify" {
			t.Fatalf("the phisher's password step: %d %q", r.status, r.location)
		}
		opts, csrf := phisher.Ceremony("/.stepgate/verify")
		answer, err := relay(opts)
		if err != nil {
			t.Fatal(err)
		}
		r := phisher.do("POST", "/.stepgate/verify", strings.NewReader(url.Values{"csrf": {csrf}, "credential": {string(answer)}}.Encode()), nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%s: %d", name, r.status)
		}
		if app := phisher.get("/app"); app.status == http.StatusOK {
			t.Fatalf("%s: the phisher reached the app", name)
		}
	}
	alice := newClient(t)
	alice.login("alice", password_)
	if r := alice.AnswerPasskey("/.stepgate/verify", "/.stepgate/verify", key, nil); r.Status != http.StatusSeeOther {
		t.Fatalf("alice's own sign-in: %d %s", r.Status, r.Body)
	}
	if app := alice.get("/app"); app.status != http.StatusOK || !strings.Contains(app.body, "Remote-Auth-Methods: password,passkey") {
		t.Fatalf("alice's app: %d %s", app.status, app.body)
	}
}

// TestPasskeyEndpointsTakeAnyBody: every form that takes a passkey's
// answer (the verify page, first-sign-in set-up, Security info's set-up,
// the sign-in page's passkey) gets malformed, oversized and hostile
// answers. None answers 500 or grants anything: no session, no passkey
// stored, alice's passkey still works.
func TestPasskeyEndpointsTakeAnyBody(t *testing.T) {
	g := start(t, []string{"alice", "bob", "carol"}, "passkeys")
	alicePhone := newClient(t)
	key := alicePhone.addPasskey("alice")
	newClient(t).addPasskey("carol")
	successes := len(g.logLines(`"outcome":"success"`, `"method":"passkey"`))
	answer, _ := key.Assert([]byte(`{"publicKey":{"challenge":"AAAA","rpId":"localhost"}}`), base)
	bodies := []string{
		"", "{}", "null", "[]", `"x"`, "{]", strings.Repeat("[", 5000), strings.Repeat("A", 13<<10),
		`{"id":"` + strings.Repeat("A", 4000) + `","rawId":"AA","type":"public-key","response":{}}`,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA"}}`,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0","attestationObject":"oA"}}`,
		`{"type":"public-key","response":{"clientDataJSON":"` + base64.RawURLEncoding.EncodeToString([]byte(`{"type":"webauthn.get","challenge":"`+strings.Repeat("A", 3000)+`"}`)) + `"}}`,
		string(answer), // signed by alice's key, for a challenge that was never issued
		"\x00\xff", "credential=x&credential=y",
	}
	// Each endpoint with the browser state it needs.
	// Carol's wrong answers lock her account out: alice's stays usable.
	verifying := newClient(t)
	verifying.login("carol", password_)
	settingUp := newClient(t)
	settingUp.login("bob", password_)
	settingUp.get("/.stepgate/register/passkey")
	endpoints := []struct {
		name, path string
		c          *client
	}{
		{"verify page", "/.stepgate/verify", verifying},
		{"first-sign-in set-up", "/.stepgate/register/passkey", settingUp},
		{"Security info set-up", "/.stepgate/security-info/add/passkey", alicePhone},
		{"sign in with a passkey", "/.stepgate/passkey-sign-in", newClient(t)},
	}
	for _, ep := range endpoints {
		from := ep.path
		if ep.path == "/.stepgate/passkey-sign-in" {
			from = "/.stepgate/"
		}
		for i, body := range bodies {
			_, csrf := ep.c.Ceremony(from)
			r := ep.c.do("POST", ep.path, strings.NewReader(url.Values{"csrf": {csrf}, "credential": {body}, "name": {"x"}}.Encode()), nil)
			if r.status >= 500 || r.status == http.StatusSeeOther {
				t.Fatalf("%s, body %d (%.40q): %d", ep.name, i, body, r.status)
			}
		}
	}
	// A body over the form limit.
	big := url.Values{"csrf": {verifying.csrf("/.stepgate/verify")}, "credential": {strings.Repeat("A", 20<<10)}}.Encode()
	if r := verifying.do("POST", "/.stepgate/verify", strings.NewReader(big), nil); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 20 KB answer: %d", r.status)
	}
	for _, c := range []*client{verifying, settingUp, endpoints[3].c} {
		if app := c.get("/app"); app.status == http.StatusOK {
			t.Fatal("a hostile answer reached the app")
		}
	}
	if lines := g.logLines(`"outcome":"success"`, `"method":"passkey"`); len(lines) != successes {
		t.Fatalf("a passkey sign-in succeeded: %v", lines[successes:])
	}
	// Bob got no passkey, and alice's still signs her in.
	settingUp.get("/.stepgate/register")
	if r := settingUp.get("/app"); r.status == http.StatusOK {
		t.Fatal("bob reached the app")
	}
	alice := newClient(t)
	alice.login("alice", password_)
	if r := alice.AnswerPasskey("/.stepgate/verify", "/.stepgate/verify", key, nil); r.Status != http.StatusSeeOther {
		t.Fatalf("alice afterwards: %d %s", r.Status, r.Body)
	}
}
