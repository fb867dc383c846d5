package attack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCrossSiteRequestForgery posts to every form from another origin,
// without a token, with another session's token, and with a token but no
// token cookie: all refused with 403, and none has an effect.
func TestCrossSiteRequestForgery(t *testing.T) {
	start(t, []string{"alice", "bob"}, "sms outbox\n\t\tvoice outbox\n\t\tpush")
	victim := newClient(t)
	victim.register("alice")
	attacker := newClient(t)
	stolen := attacker.csrf("/.stepgate/")
	forms := map[string]url.Values{
		"/.stepgate/":               {"username": {"alice"}, "password": {password_}},
		"/.stepgate/verify":         {"code": {"123456"}},
		"/.stepgate/verify/method":  {"method": {"sms"}},
		"/.stepgate/logout":         {},
		"/.stepgate/register":       {"code": {"123456"}},
		"/.stepgate/register/phone": {"phone": {"+14155552671"}},
		"/.stepgate/register/push":  {},
		"/.stepgate/outbox/answer":  {"digits": {"#"}},
	}
	tries := 0
	for path, form := range forms {
		for name, attempt := range map[string]struct {
			token string
			hdr   map[string]string
		}{
			"cross-origin, no token":           {"", map[string]string{"Origin": "https://evil.com", "Sec-Fetch-Site": "cross-site"}},
			"cross-origin, stolen token":       {stolen, map[string]string{"Origin": "https://evil.com", "Sec-Fetch-Site": "cross-site"}},
			"same-origin, other session token": {stolen, nil},
			"same-origin, no token":            {"", nil},
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
	// The victim is still signed in (the forged sign-out did nothing).
	if r := victim.get("/app"); !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatal("a forged request signed the victim out")
	}
	t.Logf("%d forged posts to %d forms", tries, len(forms))
}
