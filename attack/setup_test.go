package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

var enrolLink = regexp.MustCompile(`#enrol=([A-Za-z0-9_-]+)"`)

// pushSetUpLink runs the password step for user and opens the phone
// set-up page, returning the set-up token its link carries.
func (c *client) pushSetUpLink(user string) string {
	c.t.Helper()
	if r := c.login(user, password_); r.location != "/.stepgate/register" {
		c.t.Fatalf("password step for %s: %d %q", user, r.status, r.location)
	}
	m := enrolLink.FindStringSubmatch(c.get("/.stepgate/register/push").body)
	if m == nil {
		c.t.Fatal("no set-up link")
	}
	return m[1]
}

// enrolWith sends a phone's enrolment with token and returns the status.
func enrolWith(t *testing.T, ph *pushtest.Phone, token string) int {
	t.Helper()
	b, _ := json.Marshal(ph.Enrolment(token))
	res, err := http.Post(base+"/.stepgate/push/enrol", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Device string }
	json.NewDecoder(res.Body).Decode(&out)
	ph.Device = out.Device
	return res.StatusCode
}

// methodsOf counts what user has set up, straight from the store.
func methodsOf(t *testing.T, g *gateway, user string) (devices int, totp, phone bool) {
	t.Helper()
	st, err := store.OpenSQLite(g.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	devs, err := st.PushDevices(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.SecurityInfo(context.Background(), user)
	return len(devs), info.TOTPSecret != nil, info.Phone != ""
}

// TestKeptPushSetUpLink: an attacker with alice's password opens the phone
// set-up page while her account has no method and keeps the link; alice
// then sets up her authenticator app. The kept link must neither enrol the
// attacker's phone nor sign the attacker in. The same holds when the two
// set-ups race.
func TestKeptPushSetUpLink(t *testing.T) {
	svc := pushtest.NewService(t)
	g := start(t, []string{"alice", "bob"}, fmt.Sprintf("push {\n\t\t\tservice %s\n\t\t}", svc.Origin()))
	attacker := newClient(t)
	token := attacker.pushSetUpLink("alice")
	newClient(t).register("alice")

	if status := enrolWith(t, pushtest.NewPhone(t, svc, "Attacker"), token); status == http.StatusOK {
		t.Error("the kept set-up link enrolled the attacker's phone after alice set up her app")
	}
	if r := attacker.post("/.stepgate/register/push", "/.stepgate/register/push", url.Values{}); r.status == http.StatusSeeOther || attacker.cookie("stepgate") != "" {
		t.Errorf("finishing the kept set-up signed the attacker in: %d %q", r.status, r.location)
	}
	if devs, _, _ := methodsOf(t, g, "alice"); devs != 0 {
		t.Errorf("alice has %d phones she never set up", devs)
	}

	// Racing: the attacker's phone enrols with a kept link at the moment
	// bob confirms his authenticator app. At most one becomes his method.
	attacker = newClient(t)
	token = attacker.pushSetUpLink("bob")
	user := newClient(t)
	if r := user.login("bob", password_); r.location != "/.stepgate/register" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	m := secretRe.FindStringSubmatch(user.get("/.stepgate/register").body)
	secret := strings.ReplaceAll(m[1], " ", "")
	csrf := user.csrf("/.stepgate/register")
	ph := pushtest.NewPhone(t, svc, "Attacker")
	wins := race(2, func(i int) bool {
		if i == 0 {
			return enrolWith(t, ph, token) == http.StatusOK
		}
		f := url.Values{"code": {code(t, secret, time.Now())}, "csrf": {csrf}}
		return user.do("POST", "/.stepgate/register", strings.NewReader(f.Encode()), nil).status == http.StatusSeeOther
	})
	devs, totp, _ := methodsOf(t, g, "bob")
	if wins != 1 || (devs == 1) == totp || devs > 1 {
		t.Fatalf("racing set-ups: %d succeeded; bob has %d phones and an app: %v", wins, devs, totp)
	}
}

// TestReplayPushSetUp: finishing the phone set-up is single use. The
// set-up page's cookie, replayed after the user finished and signed out,
// signs nobody in; posted 20 times at once, it signs in once.
func TestReplayPushSetUp(t *testing.T) {
	svc := pushtest.NewService(t)
	start(t, []string{"alice", "bob"}, fmt.Sprintf("push {\n\t\t\tservice %s\n\t\t}", svc.Origin()))
	u, _ := url.Parse(base)

	c := newClient(t)
	if status := enrolWith(t, pushtest.NewPhone(t, svc, "Pixel"), c.pushSetUpLink("alice")); status != http.StatusOK {
		t.Fatalf("enrolment: %d", status)
	}
	kept := c.cookie("stepgate-pending")
	token := c.csrf("/.stepgate/register/push")
	if r := c.post("/.stepgate/register/push", "/.stepgate/register/push", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("set-up: %d", r.status)
	}
	if r := c.post("/.stepgate/logout", "/.stepgate/logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("sign-out: %d", r.status)
	}
	for i := range 3 {
		c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "stepgate-pending", Value: kept, Path: "/"}})
		f := url.Values{"csrf": {token}}
		if r := c.do("POST", "/.stepgate/register/push", strings.NewReader(f.Encode()), nil); r.status == http.StatusSeeOther || c.cookie("stepgate") != "" {
			t.Fatalf("replay %d of the finished set-up signed in: %d %q", i+1, r.status, r.location)
		}
	}

	b := newClient(t)
	if status := enrolWith(t, pushtest.NewPhone(t, svc, "Pixel"), b.pushSetUpLink("bob")); status != http.StatusOK {
		t.Fatalf("enrolment: %d", status)
	}
	token = b.csrf("/.stepgate/register/push")
	// Twenty browsers holding copies of the cookies, so that one finish
	// clearing the cookie in its jar does not stop the others.
	copies := make([]*client, 20)
	for i := range copies {
		copies[i] = newClient(t)
		copies[i].HTTP.Jar.SetCookies(u, []*http.Cookie{
			{Name: "stepgate-pending", Value: b.cookie("stepgate-pending"), Path: "/"},
			{Name: "stepgate-csrf", Value: b.cookie("stepgate-csrf"), Path: "/"},
		})
	}
	wins := race(20, func(i int) bool {
		f := url.Values{"csrf": {token}}
		return copies[i].do("POST", "/.stepgate/register/push", strings.NewReader(f.Encode()), nil).status == http.StatusSeeOther
	})
	if wins != 1 {
		t.Fatalf("one set-up finished %d sign-ins", wins)
	}
}
