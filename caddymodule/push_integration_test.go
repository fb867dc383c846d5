package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

// startPushCaddy serves the echo app behind Stepgate with authenticator
// app notifications delivered to svc, and returns the store's path.
func startPushCaddy(t *testing.T, svc *pushtest.Service, extra string) string {
	t.Helper()
	block, db := stepgateBlock(t, writeUsers(t, "alice", "dave"), fmt.Sprintf(`push {
			contact mailto:ops@example.com
			service %s
			%s
		}`, svc.Origin(), extra))
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	stepgate
	reverse_proxy %s
}
`, echoBackend(t)))
	return db
}

// device posts to the authenticator API through Caddy.
func device(t *testing.T, action string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(base+"/.stepgate/push/"+action, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

var (
	enrolLinkRe = regexp.MustCompile(`#enrol=([A-Za-z0-9_-]+)"`)
	approveNum  = regexp.MustCompile(`id="number"[^>]*>(\d\d)<`)
)

// enrolPhone runs user's first sign-in choosing the authenticator app.
func enrolPhone(t *testing.T, c *client, svc *pushtest.Service, user string) *pushtest.Phone {
	t.Helper()
	if r := c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {user}, "password": {testPassword}}); r.location != "/.stepgate/register" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	page := c.get("/.stepgate/register/push")
	m := enrolLinkRe.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("set-up page: %d %s", page.status, page.body)
	}
	ph := pushtest.NewPhone(t, svc, "Pixel")
	status, out := device(t, "enrol", ph.Enrolment(m[1]))
	if status != http.StatusOK {
		t.Fatalf("enrol: %d %v", status, out)
	}
	ph.Device = out["device"].(string)
	if r := c.post("/.stepgate/register/push", "/.stepgate/register/push", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("finishing set-up: %d %s", r.status, r.body)
	}
	return ph
}

// approvalPage runs the password step and returns the number shown.
func approvalPage(t *testing.T, c *client, user string) int {
	t.Helper()
	if r := c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {user}, "password": {testPassword}}); r.location != "/.stepgate/verify" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	m := approveNum.FindStringSubmatch(c.get("/.stepgate/verify").body)
	if m == nil {
		t.Fatal("no number on the approval page")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestPushSignInThroughCaddy(t *testing.T) {
	svc := pushtest.NewService(t)
	startPushCaddy(t, svc, "")
	ph := enrolPhone(t, newClient(t), svc, "alice")

	c := newClient(t)
	number := approvalPage(t, c, "alice")
	msgs := svc.Messages()
	if len(msgs) != 1 || len(svc.Refused()) != 0 {
		t.Fatalf("notifications %+v, refused %v", msgs, svc.Refused())
	}
	n := msgs[0].Payload
	if n.Host != "localhost:9080" || n.User != "alice" || msgs[0].Subject != "mailto:ops@example.com" {
		t.Fatalf("notification: %+v", msgs[0])
	}
	status, out := device(t, "answer", ph.Answer(time.Now(), n.Request, number, push.Approve))
	if status != http.StatusOK || out["result"] != "approved" {
		t.Fatalf("approve: %d %v", status, out)
	}
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("continue: %d %s", r.status, r.body)
	}
	if r := c.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatalf("app: %d %s", r.status, r.body)
	}
}

func TestPushRefusalsThroughCaddy(t *testing.T) {
	svc := pushtest.NewService(t)
	startPushCaddy(t, svc, "pause_after 5")
	ph := enrolPhone(t, newClient(t), svc, "alice")
	dave := enrolPhone(t, newClient(t), svc, "dave")

	c := newClient(t)
	number := approvalPage(t, c, "alice")
	req := svc.Messages()[len(svc.Messages())-1].Payload
	// Dave's phone cannot approve alice's sign-in; a key that is not the
	// device's cannot either.
	if status, _ := device(t, "answer", dave.Answer(time.Now(), req.Request, number, push.Approve)); status != http.StatusConflict {
		t.Fatalf("another user's device: %d", status)
	}
	forged := pushtest.NewPhone(t, nil, "forger")
	forged.Device = ph.Device
	if status, _ := device(t, "answer", forged.Answer(time.Now(), req.Request, number, push.Approve)); status != http.StatusUnauthorized {
		t.Fatalf("forged signature: %d", status)
	}
	// The wrong number denies it.
	wrong := pushtest.WrongNumber(number)
	if _, out := device(t, "answer", ph.Answer(time.Now(), req.Request, wrong, push.Approve)); out["result"] != "wrong-number" {
		t.Fatalf("wrong number: %v", out)
	}
	if r := c.post("/.stepgate/verify", "/.stepgate/verify", url.Values{}); r.status != http.StatusUnauthorized {
		t.Fatalf("after the wrong number: %d", r.status)
	}
	// Report: the sign-in is refused and alice's requests stop.
	c.post("/.stepgate/verify", "/.stepgate/verify/method", url.Values{"method": {push.Method}})
	req = svc.Messages()[len(svc.Messages())-1].Payload
	waiting := c.CSRF("/.stepgate/verify") // the page open while the request waits
	if _, out := device(t, "answer", ph.Answer(time.Now(), req.Request, 0, push.Report)); out["result"] != "reported" {
		t.Fatalf("report: %v", out)
	}
	if r := c.do("POST", "/.stepgate/verify", url.Values{"csrf": {waiting}}, nil); r.status != http.StatusForbidden || !strings.Contains(r.body, "suspicious") {
		t.Fatalf("after the report: %d %s", r.status, r.body)
	}
	if r := c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.status != http.StatusForbidden {
		t.Fatalf("sign-in after the report: %d", r.status)
	}
}

// hostHeader sends every request with a Host header of the client's
// choosing, whatever the URL.
type hostHeader string

func (h hostHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = string(h)
	return http.DefaultTransport.RoundTrip(r)
}

// TestPushNamesTheMatchedSite: the approval request names the site as the
// Caddyfile does, not as the signing-in client's Host header does. On a
// wildcard site the client's host could be "login-to-your-bank"; on a
// catch-all site anything at all.
func TestPushNamesTheMatchedSite(t *testing.T) {
	svc := pushtest.NewService(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), fmt.Sprintf(`totp {
			issuer "Example Corp"
		}
		push {
			contact mailto:ops@example.com
			service %s
			max_pending 5
			per_user 10
			pause_after 10
		}`, svc.Origin()))
	echo := echoBackend(t)
	startCaddyfile(t, block, fmt.Sprintf(`
http://app.localhost:9080 {
	stepgate
	reverse_proxy %[1]s
}

http://*.localhost:9080 {
	route /* {
		stepgate
		reverse_proxy %[1]s
	}
}

http://:9080 {
	stepgate
	reverse_proxy %[1]s
}
`, echo))
	enrolPhone(t, newClient(t), svc, "alice")
	for _, tc := range []struct{ host, want string }{
		// The port is the one the site listens on, whatever Host says.
		{"app.localhost", "app.localhost:9080"},
		{"APP.localhost:9080", "app.localhost:9080"},
		{"login-to-your-bank.localhost", "*.localhost:9080"},
		{"127.0.0.2", "Example Corp"},
		{"localhost", "Example Corp"},
	} {
		c := newClient(t)
		c.HTTP.Transport = hostHeader(tc.host)
		approvalPage(t, c, "alice")
		msgs := svc.Messages()
		if got := msgs[len(msgs)-1].Payload.Host; got != tc.want {
			t.Errorf("signing in with Host %q, the phone asks to sign in to %q, want %q", tc.host, got, tc.want)
		}
	}
}
