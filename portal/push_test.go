package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

// pushEnv is a portal with authenticator app notifications, delivering to
// a fake push service.
type pushEnv struct {
	*env
	svc *pushtest.Service
}

func newPushEnv(t testing.TB, opts ...envOption) *pushEnv {
	t.Helper()
	svc := pushtest.NewService(t)
	sealer, err := store.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, append([]envOption{func(c *Config) {
		c.Push = &PushConfig{Sender: &push.WebPush{Store: c.Store, Sealer: sealer, Contact: "mailto:ops@example.com", Services: []string{svc.Origin()}}}
	}}, opts...)...)
	return &pushEnv{env: e, svc: svc}
}

// device posts a JSON body to the authenticator API.
func (e *pushEnv) device(t testing.TB, action string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(e.srv.URL+Prefix+"push/"+action, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

var enrolRe = regexp.MustCompile(`href="(http[^"]+#enrol=([A-Za-z0-9_-]+))"`)

// setUpPhone runs first-sign-in registration with the authenticator app
// for user and returns the enrolled phone and the signed-in browser.
func (e *pushEnv) setUpPhone(t testing.TB, user string) (*pushtest.Phone, *browser) {
	t.Helper()
	b := e.browser()
	b.login(user, testPassword)
	if page := b.get(Prefix + "register"); !strings.Contains(page.body, `id="use-push"`) {
		t.Fatalf("registration does not offer the authenticator: %s", page.body)
	}
	page := b.get(Prefix + "register/push")
	m := enrolRe.FindStringSubmatch(html.UnescapeString(page.body))
	if page.status != http.StatusOK || m == nil || !strings.HasPrefix(m[1], e.srv.URL+Prefix+"authenticator/#enrol=") {
		t.Fatalf("set-up page: %d %s", page.status, page.body)
	}
	if qr := b.get(Prefix + "register/push/qr.png"); qr.status != http.StatusOK || qr.header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR code: %d %s", qr.status, qr.header.Get("Content-Type"))
	}
	if s := b.pollState(t, "register/push/status"); s != "pending" {
		t.Fatalf("before the phone: %q", s)
	}
	if r := b.post(Prefix+"register/push", Prefix+"register/push", url.Values{}); r.status != http.StatusAccepted || !strings.Contains(r.body, "finished setting up") {
		t.Fatalf("continue before the phone: %d %s", r.status, r.body)
	}
	ph := pushtest.NewPhone(t, e.svc, "Pixel")
	status, out := e.device(t, "enrol", ph.Enrolment(m[2]))
	if status != http.StatusOK || out["user"] != user || out["name"] != "Pixel" {
		t.Fatalf("enrol: %d %v", status, out)
	}
	ph.Device = out["device"].(string)
	if s := b.pollState(t, "register/push/status"); s != "enrolled" {
		t.Fatalf("after the phone: %q", s)
	}
	if r := b.post(Prefix+"register/push", Prefix+"register/push", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("finish: %d %s", r.status, r.body)
	}
	if len(e.events("method-added", "success")) == 0 || len(e.events("device-enrolled", "success")) == 0 {
		t.Fatal("set-up not audited")
	}
	return ph, b
}

func (b *browser) pollState(t testing.TB, path string) string {
	t.Helper()
	var s struct{ State string }
	json.Unmarshal([]byte(b.get(Prefix+path).body), &s)
	return s.State
}

var numberRe = regexp.MustCompile(`id="number"[^>]*>(\d\d)<`)

// requestSignIn runs the password step for a user with a phone and
// returns the number the page shows.
func (e *pushEnv) requestSignIn(t testing.TB, b *browser, user string) int {
	t.Helper()
	if r := b.login(user, testPassword); r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	page := b.get(Prefix + "verify")
	m := numberRe.FindStringSubmatch(page.body)
	if m == nil || !strings.Contains(page.body, "Approve sign in request") || !strings.Contains(page.body, `data-poll="/.stepgate/verify/status"`) {
		t.Fatalf("approval page: %s", page.body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// pending lists the requests as the phone's app sees them.
func (e *pushEnv) pending(t testing.TB, ph *pushtest.Phone) []push.Notification {
	t.Helper()
	status, out := e.device(t, "pending", ph.Signed(e.clock.Now(), "pending", ""))
	if status != http.StatusOK {
		t.Fatalf("pending: %d %v", status, out)
	}
	b, _ := json.Marshal(out["requests"])
	var list []push.Notification
	json.Unmarshal(b, &list)
	return list
}

func (e *pushEnv) answer(t testing.TB, ph *pushtest.Phone, req string, number int, decision string) (int, map[string]any) {
	t.Helper()
	return e.device(t, "answer", ph.Answer(e.clock.Now(), req, number, decision))
}

func TestPushSetUpAndApprove(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "alice")

	b := e.browser()
	number := e.requestSignIn(t, b, "alice")
	if s := b.pollState(t, "verify/status"); s != "pending" {
		t.Fatalf("state before the answer: %q", s)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{}); r.status != http.StatusAccepted || !strings.Contains(r.body, "haven") {
		t.Fatalf("continue before approving: %d", r.status)
	}
	// The phone got the real notification, and lists the same request.
	// This front door names no site (see WithSite): the issuer is shown,
	// never the Host header.
	msgs := e.svc.Messages()
	if len(msgs) != 1 || msgs[0].Payload.User != "alice" || msgs[0].Payload.ClientIP != "127.0.0.1" || msgs[0].Payload.Host != "Stepgate" {
		t.Fatalf("notifications %+v, refused %v", msgs, e.svc.Refused())
	}
	list := e.pending(t, ph)
	if len(list) != 1 || list[0].Request != msgs[0].Payload.Request {
		t.Fatalf("app lists %+v; page shows %d", list, number)
	}
	if status, out := e.answer(t, ph, list[0].Request, number, push.Approve); status != http.StatusOK || out["result"] != "approved" {
		t.Fatalf("approve: %d %v", status, out)
	}
	if s := b.pollState(t, "verify/status"); s != "approved" {
		t.Fatalf("state after approving: %q", s)
	}
	r := b.post(Prefix+"verify", Prefix+"verify", url.Values{})
	if r.status != http.StatusSeeOther {
		t.Fatalf("continue: %d %s", r.status, r.body)
	}
	if app := b.get("/private"); app.status != http.StatusOK || !strings.Contains(app.body, "Remote-User: alice") {
		t.Fatalf("app after sign-in: %d %s", app.status, app.body)
	}
	if len(e.events("push-answer", "approved")) != 1 || len(e.events("push-sent", "success")) != 1 {
		t.Fatal("approval not audited")
	}
	// The approval is spent.
	if status, _ := e.answer(t, ph, list[0].Request, number, push.Approve); status != http.StatusConflict {
		t.Fatalf("replayed approval: %d", status)
	}
}

// TestPushNumberIsNotOnThePhone: neither the notification nor the app's
// list tells the phone the number to match, or offers a few to pick from:
// a user approving without looking at the sign-in page gets it right one
// time in 90, not one in 3.
func TestPushNumberIsNotOnThePhone(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "alice")
	e.requestSignIn(t, e.browser(), "alice")
	allowed := []string{"request", "host", "ip", "from", "time", "expires", "user"}
	var payload map[string]any
	msgs := e.svc.Messages()
	if len(msgs) != 1 || json.Unmarshal([]byte(msgs[0].Raw), &payload) != nil {
		t.Fatalf("notifications: %+v", msgs)
	}
	status, out := e.device(t, "pending", struct {
		push.Signed
		Subscription string `json:"subscription"`
	}{ph.Signed(e.clock.Now(), "pending", ph.Subscription()), ph.Subscription()})
	reqs, _ := out["requests"].([]any)
	if status != http.StatusOK || len(reqs) != 1 {
		t.Fatalf("pending: %d %v", status, out)
	}
	for where, fields := range map[string]map[string]any{"notification": payload, "app's list": reqs[0].(map[string]any)} {
		for k, v := range fields {
			if !slices.Contains(allowed, k) {
				t.Errorf("the %s carries %q: %v", where, k, v)
			}
		}
	}
}

func TestPushDeniedAndWrongNumber(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "alice")
	b := e.browser()

	e.requestSignIn(t, b, "alice")
	req := e.pending(t, ph)[0]
	if status, out := e.answer(t, ph, req.Request, 0, push.Deny); status != http.StatusOK || out["result"] != "denied" {
		t.Fatalf("deny: %d %v", status, out)
	}
	r := b.post(Prefix+"verify", Prefix+"verify", url.Values{})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "denied on your phone") || !strings.Contains(r.body, "Send another request") {
		t.Fatalf("after deny: %d %s", r.status, r.body)
	}
	if numberRe.MatchString(r.body) || strings.Contains(r.body, "I approved it, continue") {
		t.Fatal("a denied request still shows its number to pick")
	}
	// Denials count toward the account's lockout.
	if f, _ := e.st.Failures(context.Background(), "alice", codeFailures); f.Count != 1 {
		t.Fatalf("failures after a denial: %d", f.Count)
	}

	// Send another request; pick the wrong number.
	e.clock.Add(time.Second)
	r = b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {push.Method}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("send another: %d", r.status)
	}
	number, _ := strconv.Atoi(numberRe.FindStringSubmatch(b.get(Prefix + "verify").body)[1])
	req = e.pending(t, ph)[0]
	wrong := pushtest.WrongNumber(number)
	if status, out := e.answer(t, ph, req.Request, wrong, push.Approve); status != http.StatusOK || out["result"] != "wrong-number" {
		t.Fatalf("wrong number: %d %v", status, out)
	}
	r = b.post(Prefix+"verify", Prefix+"verify", url.Values{})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "didn&#39;t match") {
		t.Fatalf("after the wrong number: %d %s", r.status, r.body)
	}
	if f, _ := e.st.Failures(context.Background(), "alice", codeFailures); f.Count != 2 {
		t.Fatalf("failures after a wrong number: %d", f.Count)
	}
}

func TestPushReportSuspicious(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "alice")
	b := e.browser()
	e.requestSignIn(t, b, "alice")
	waiting := b.get(Prefix + "verify")
	req := e.pending(t, ph)[0]
	if status, out := e.answer(t, ph, req.Request, 0, push.Report); status != http.StatusOK || out["result"] != "reported" {
		t.Fatalf("report: %d %v", status, out)
	}
	// The waiting page continues (its poll submits the form).
	r := b.postFrom(waiting, Prefix+"verify", url.Values{})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "reported this sign-in as suspicious") {
		t.Fatalf("after the report: %d %s", r.status, r.body)
	}
	// Nothing there or on a reload waits for an answer or offers another
	// request: requests are off.
	for _, page := range []resp{r, b.get(Prefix + "verify")} {
		if !strings.Contains(page.body, "reported this sign-in as suspicious") || strings.Contains(page.body, "Send another request") ||
			strings.Contains(page.body, "data-poll") || strings.Contains(page.body, "I approved it") || numberRe.MatchString(page.body) {
			t.Fatalf("the page after the report still offers requests: %s", page.body)
		}
		if body := html.UnescapeString(page.body); strings.Contains(body, "If you can't use this one") || !strings.Contains(body, "You have no other verification method set up") {
			t.Fatalf("the page after the report speaks of using the method: %s", body)
		}
	}
	reports := e.events("fraud-report", "method-blocked")
	if len(reports) != 1 || reports[0].Level != zapcore.ErrorLevel || reports[0].ContextMap()["method"] != push.Method {
		t.Fatalf("fraud report log: %+v", reports)
	}
	// Her Recent activity shows it, marked.
	events, _ := e.st.RecentSignInEvents(context.Background(), "alice", 5)
	if len(events) == 0 || events[0].Outcome != "fraud-reported" || events[0].Method != push.Method || !suspicious[events[0].Outcome] {
		t.Fatalf("Recent activity after the report: %+v", events)
	}
	// Push was alice's only method: she is told to get help, and whoever
	// has her password cannot register a new method.
	r = e.browser().login("alice", testPassword)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "None of your verification methods can be used") {
		t.Fatalf("sign-in after the report: %d %s", r.status, r.body)
	}
}

func TestPushExpiresAndResends(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "alice")
	b := e.browser()
	first := e.requestSignIn(t, b, "alice")
	e.clock.Add(push.RequestLifetime)
	if s := b.pollState(t, "verify/status"); s != "expired" {
		t.Fatalf("state after two minutes: %q", s)
	}
	r := b.post(Prefix+"verify", Prefix+"verify", url.Values{})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "answered in time") || !strings.Contains(r.body, `id="resend"`) {
		t.Fatalf("expired: %d %s", r.status, r.body)
	}
	b.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {push.Method}})
	page := b.get(Prefix + "verify")
	second, _ := strconv.Atoi(numberRe.FindStringSubmatch(page.body)[1])
	list := e.pending(t, ph)
	if len(list) != 1 || len(e.svc.Messages()) != 2 {
		t.Fatalf("after resending: %+v, %d notifications", list, len(e.svc.Messages()))
	}
	if status, _ := e.answer(t, ph, list[0].Request, second, push.Approve); status != http.StatusOK {
		t.Fatalf("approve the new request: %d", status)
	}
	if r := b.post(Prefix+"verify", Prefix+"verify", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("continue: %d %s (numbers %d, %d)", r.status, r.body, first, second)
	}
}

func TestPushFatigueSteersToOtherMethods(t *testing.T) {
	e := newPushEnv(t, func(c *Config) { c.Push.Limits = push.Limits{PauseAfter: 2, Pause: 15 * time.Minute} })
	ph, _ := e.setUpPhone(t, "alice")
	b := e.browser()
	for range 2 {
		e.requestSignIn(t, b, "alice")
		e.answer(t, ph, e.pending(t, ph)[0].Request, 0, push.Deny)
		e.clock.Add(time.Second)
	}
	b.login("alice", testPassword)
	page := b.get(Prefix + "verify")
	if !strings.Contains(html.UnescapeString(page.body), "requests to your phone are paused for 15 minutes.") || numberRe.MatchString(page.body) {
		t.Fatalf("after two denials: %s", page.body)
	}
	if len(e.events("push-sent", "paused")) != 1 {
		t.Fatal("pause not audited")
	}
}

func TestPushSubscriptionGoneIsExplained(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "alice")
	e.svc.FailWith(http.StatusGone)
	b := e.browser()
	e.requestSignIn(t, b, "alice")
	page := html.UnescapeString(b.get(Prefix + "verify").body)
	if !strings.Contains(page, "Notifications to your phone have stopped working. Open the Stepgate Authenticator") {
		t.Fatalf("page after 410: %s", page)
	}
	status, out := e.device(t, "pending", ph.Signed(e.clock.Now(), "pending", ""))
	if status != http.StatusOK || out["notifications"] != false || len(out["requests"].([]any)) != 1 {
		t.Fatalf("app after 410: %d %v", status, out)
	}
	if len(e.logs.FilterMessageSnippet("push subscription gone").All()) != 1 {
		t.Fatal("410 not logged")
	}
}

func TestDeviceAPIRefusesBadInput(t *testing.T) {
	e := newPushEnv(t)
	ph, _ := e.setUpPhone(t, "alice")
	other := pushtest.NewPhone(t, nil, "Other")
	other.Device = ph.Device
	post := func(action, body string) (int, string) {
		res, err := http.Post(e.srv.URL+Prefix+"push/"+action, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct{ Error string }
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out.Error
	}
	for name, tc := range map[string]struct {
		action, body string
		status       int
		says         string
	}{
		"not JSON":        {"answer", "decision=approve", 400, "could not be read"},
		"too big":         {"pending", `{"device":"` + strings.Repeat("x", 20000) + `"}`, 400, "16 KB"},
		"unknown device":  {"pending", `{"device":"nope","ts":1,"sig":"AA"}`, 404, "no longer set up"},
		"bad signature":   {"pending", mustJSON(other.Signed(e.clock.Now(), "pending", "")), 401, "signed"},
		"old timestamp":   {"pending", mustJSON(ph.Signed(e.clock.Now().Add(-time.Hour), "pending", "")), 400, "clock"},
		"bad decision":    {"answer", mustJSON(ph.Answer(e.clock.Now(), "r", 1, "maybe")), 400, "unknown decision"},
		"no such request": {"answer", mustJSON(ph.Answer(e.clock.Now(), "r", 1, push.Approve)), 409, "expired or was already answered"},
		"bad token":       {"enrol", mustJSON(other.Enrolment("made-up")), 400, "set-up code has expired"},
		"bad key":         {"enrol", `{"token":"t","key":"AAAA","sig":""}`, 400, "not a P-256"},
		"unknown action":  {"delete", `{}`, 404, "No such"},
	} {
		status, msg := post(tc.action, tc.body)
		if status != tc.status || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %q", name, status, msg)
		}
	}
	if res, _ := http.Get(e.srv.URL + Prefix + "push/answer"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET answer: %d", res.StatusCode)
	}
	res, _ := http.Get(e.srv.URL + Prefix + "push/config")
	var cfg struct{ VapidKey string }
	json.NewDecoder(res.Body).Decode(&cfg)
	if res.StatusCode != http.StatusOK || len(cfg.VapidKey) != 87 {
		t.Errorf("config: %d %q", res.StatusCode, cfg.VapidKey)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAuthenticatorAppIsServed(t *testing.T) {
	e := newPushEnv(t)
	for path, ctype := range map[string]string{
		"authenticator/":                     "text/html; charset=utf-8",
		"authenticator/app.js":               "text/javascript; charset=utf-8",
		"authenticator/sw.js":                "text/javascript; charset=utf-8",
		"authenticator/manifest.webmanifest": "application/manifest+json",
		"authenticator/icon-192.png":         "image/png",
	} {
		r := e.browser().get(Prefix + path)
		csp := r.header.Get("Content-Security-Policy")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != ctype || !strings.Contains(csp, "worker-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: %d %q %q", path, r.status, r.header.Get("Content-Type"), csp)
		}
	}
	if r := e.browser().get(Prefix + "authenticator/../handlers.go"); r.status != http.StatusNotFound {
		t.Errorf("path outside the app: %d", r.status)
	}
	// Without push, neither the app nor its API exist.
	plain := newEnv(t)
	for _, path := range []string{"authenticator/", "push/config", "register/push"} {
		if r := plain.browser().get(Prefix + path); r.status != http.StatusNotFound {
			t.Errorf("%s without push: %d", path, r.status)
		}
	}
}

func TestPushStrongestByDefault(t *testing.T) {
	e := newPushEnv(t)
	e.setUpPhone(t, "alice")
	// alice also has an app that shows codes: the approval request comes
	// first, the code is "another way".
	e.p.cfg.Store.SetTOTP(context.Background(), "alice", []byte("x"), 0)
	b := e.browser()
	e.requestSignIn(t, b, "alice")
	other := b.get(Prefix + "verify/other")
	if !strings.Contains(other.body, "verification code from my authenticator app") || strings.Contains(other.body, "Stepgate Authenticator (Pixel)") {
		t.Fatalf("other methods: %s", other.body)
	}
}

// FuzzDeviceAPI posts arbitrary bodies to the authenticator API: every
// answer is a clear 4xx (or 200 for a harmless list), never a 500, and
// nothing but a validly signed answer changes a waiting request.
func FuzzDeviceAPI(f *testing.F) {
	e := newPushEnv(f)
	ph, _ := e.setUpPhone(f, "alice")
	b := e.browser()
	e.requestSignIn(f, b, "alice")
	req := e.pending(f, ph)[0]
	now := e.clock.Now()
	f.Add("answer", mustJSON(ph.Answer(now, req.Request, 1, "maybe")))
	f.Add("answer", strings.Replace(mustJSON(ph.Answer(now, req.Request, 42, push.Approve)), `"sig":"`, `"sig":"A`, 1))
	f.Add("answer", `{"device":"`+ph.Device+`","ts":1e99,"request":"`+req.Request+`","number":-1,"decision":"approve","sig":""}`)
	f.Add("pending", mustJSON(ph.Signed(now, "pending", "")))
	f.Add("pending", `{"device":"`+ph.Device+`","subscription":"{\"endpoint\":\"http://169.254.169.254/\"}"}`)
	f.Add("enrol", `{"token":"x","key":"BAAA","subscription":"{}","name":"\u0000","sig":"!"}`)
	f.Add("rename", `{"device":null,"name":[1,2]}`)
	f.Add("config", "")
	f.Add("../verify", "{")
	f.Fuzz(func(t *testing.T, action, body string) {
		b.t = t
		res, err := http.Post(e.srv.URL+Prefix+"push/"+action, "application/json", strings.NewReader(body))
		if err != nil {
			return
		}
		res.Body.Close()
		switch res.StatusCode {
		case 200, 400, 401, 404, 405, 409:
		default:
			t.Fatalf("POST push/%s %q: %d", action, body, res.StatusCode)
		}
		if s := b.pollState(t, "verify/status"); s != "pending" {
			t.Fatalf("POST push/%s %q changed the request to %q", action, body, s)
		}
	})
}

// TestSiteNameOnThePhone: the phone names the site as configured, with
// the port the browser used when it is not the scheme's default.
func TestSiteNameOnThePhone(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Issuer = "Example issuer" })
	for _, tc := range []struct{ site, host, want string }{
		{"localhost", "localhost:8080", "localhost:8080"},
		{"localhost", "localhost:80", "localhost"},
		{"app.example.com", "app.example.com", "app.example.com"},
		{"::1", "[::1]:8080", "[::1]:8080"},
		{"app.example.com", "app.example.com:0080", "app.example.com"},
		{"app.example.com", "app.example.com:99999", "app.example.com"},
		{"app.example.com", "app.example.com:x", "app.example.com"},
		{"", "evil.example:8080", "Example issuer"},
	} {
		r := httptest.NewRequest("GET", "http://placeholder/.stepgate/verify", nil)
		r.Host = tc.host
		if tc.site != "" {
			r = r.WithContext(WithSite(r.Context(), tc.site))
		}
		if got := e.p.siteName(r); got != tc.want {
			t.Errorf("site %q, Host %q: %q, want %q", tc.site, tc.host, got, tc.want)
		}
	}
	// The port a server listens on wins over the one in Host, and over a
	// forwarded one from a client that is no trusted proxy.
	r := httptest.NewRequest("GET", "http://placeholder/.stepgate/verify", nil)
	r.Host = "localhost:1234"
	r.Header.Set("X-Forwarded-Host", "localhost:4321")
	r = r.WithContext(context.WithValue(WithSite(r.Context(), "localhost"), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9080}))
	if got := e.p.siteName(r); got != "localhost:9080" {
		t.Errorf("listening on 9080, Host localhost:1234: %q", got)
	}
	// Behind a trusted proxy (nginx on 443 passing Host without a port to
	// Stepgate on 9080) the proxy's word counts.
	e.p.cfg.TrustedProxy = func(*http.Request) bool { return true }
	r.Host = "app.example.com"
	r = r.WithContext(WithSite(r.Context(), "app.example.com"))
	r.TLS = nil
	r.Header.Del("X-Forwarded-Host")
	r.Header.Set("X-Forwarded-Proto", "https")
	if got := e.p.siteName(r); got != "app.example.com" {
		t.Errorf("behind a trusted proxy that ends TLS: %q", got)
	}
	r.Header.Set("X-Forwarded-Host", "app.example.com:8443")
	if got := e.p.siteName(r); got != "app.example.com:8443" {
		t.Errorf("behind a trusted proxy forwarding port 8443: %q", got)
	}
}

// TestAuthenticatorWithPushOff: the Authenticator's address, kept on a
// phone after push was turned off, says sign-in requests are off instead
// of "page not found".
func TestAuthenticatorWithPushOff(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{Prefix + "authenticator/", Prefix + "authenticator/manifest.webmanifest"} {
		r := e.browser().get(path)
		if r.status != http.StatusNotFound || !strings.Contains(r.body, "Sign-in requests are turned off") || !strings.Contains(r.body, "the help desk") {
			t.Errorf("%s with push off: %d\n%s", path, r.status, r.body)
		}
	}
	if r := e.browser().get(Prefix + "nothing-here"); !strings.Contains(r.body, "Page not found") {
		t.Errorf("another unknown page: %d %s", r.status, r.body)
	}
}
