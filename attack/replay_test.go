package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

// race runs try from n goroutines at once and counts the successes.
func race(n int, try func(i int) bool) int {
	var wins atomic.Int32
	var wg sync.WaitGroup
	startGun := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGun
			if try(i) {
				wins.Add(1)
			}
		}()
	}
	close(startGun)
	wg.Wait()
	return int(wins.Load())
}

// TestReplayAppCode uses one authenticator code twice in a row, then in
// 20 sign-ins at once: exactly one sign-in succeeds each time.
func TestReplayAppCode(t *testing.T) {
	start(t, []string{"alice", "bob"}, "")
	s := newClient(t).register("alice")
	next := code(t, s, time.Now().Add(30*time.Second))
	a, b := newClient(t), newClient(t)
	a.login("alice", password_)
	b.login("alice", password_)
	if r := a.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {next}}); r.status != http.StatusSeeOther {
		t.Fatalf("first use: %d", r.status)
	}
	if r := b.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {next}}); r.status == http.StatusSeeOther {
		t.Fatal("the same code signed in twice")
	}
	// 20 sign-ins of bob waiting for a code; the same code posted to all
	// at once.
	sb := newClient(t).register("bob")
	clients := make([]*client, 20)
	tokens := make([]string, 20)
	for i := range clients {
		clients[i] = newClient(t)
		clients[i].login("bob", password_)
		tokens[i] = clients[i].csrf("/.stepgate/verify")
	}
	// The next step's code: newer than the one used at registration.
	later := code(t, sb, time.Now().Add(30*time.Second))
	wins := race(20, func(i int) bool {
		f := url.Values{"code": {later}, "csrf": {tokens[i]}}
		return clients[i].do("POST", "/.stepgate/verify", strings.NewReader(f.Encode()), nil).status == http.StatusSeeOther
	})
	if wins != 1 {
		t.Fatalf("one code signed in %d times", wins)
	}
	t.Logf("20 concurrent uses of one app code: %d sign-in", wins)
}

var outboxCode = regexp.MustCompile(`\b(\d{6})\b`)

// TestReplayTextCode posts one texted code 20 times at once for its
// sign-in, then again afterwards: exactly one succeeds.
func TestReplayTextCode(t *testing.T) {
	g := start(t, []string{"alice"}, "sms outbox "+"OUTBOX")
	g.cfg = strings.Replace(g.cfg, "OUTBOX", g.dir+"/outbox.jsonl", 1)
	g.restart()
	st, _ := store.OpenSQLite(g.db)
	st.SetPhone(context.Background(), "alice", "+14155552671")
	st.Close()
	c := newClient(t)
	c.login("alice", password_)
	raw, err := os.ReadFile(g.dir + "/outbox.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := string(raw)
	m := outboxCode.FindAllString(lines, -1)
	if len(m) == 0 {
		t.Fatalf("no code in the outbox: %s", lines)
	}
	sent := m[len(m)-1]
	token := c.csrf("/.stepgate/verify")
	wins := race(20, func(int) bool {
		f := url.Values{"code": {sent}, "csrf": {token}}
		return c.do("POST", "/.stepgate/verify", strings.NewReader(f.Encode()), nil).status == http.StatusSeeOther
	})
	if wins != 1 {
		t.Fatalf("one text code signed in %d times", wins)
	}
	t.Logf("20 concurrent uses of one text code: %d sign-in", wins)
}

// TestReplayPushApproval answers one request from 20 goroutines and
// continues the sign-in 20 times at once: one approval, one sign-in.
func TestReplayPushApproval(t *testing.T) {
	svc := pushtest.NewService(t)
	start(t, []string{"alice"}, fmt.Sprintf("push {\n\t\t\tservice %s\n\t\t}", svc.Origin()))
	ph := enrolPhone(t, svc, "alice")
	c := newClient(t)
	c.login("alice", password_)
	page := c.get("/.stepgate/verify").body
	m := regexp.MustCompile(`id="number"[^>]*>(\d\d)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no number on the sign-in page: %s", page)
	}
	number := m[1]
	n, _ := strconv.Atoi(number)
	req := svc.Messages()[len(svc.Messages())-1].Payload.Request
	answer, _ := json.Marshal(ph.Answer(time.Now(), req, n, push.Approve))
	approvals := race(20, func(int) bool {
		res, err := http.Post(base+"/.stepgate/push/answer", "application/json", bytes.NewReader(answer))
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	token := c.csrf("/.stepgate/verify")
	signIns := race(20, func(int) bool {
		f := url.Values{"csrf": {token}}
		return c.do("POST", "/.stepgate/verify", strings.NewReader(f.Encode()), nil).status == http.StatusSeeOther
	})
	if approvals != 1 || signIns != 1 {
		t.Fatalf("%d approvals and %d sign-ins from one request", approvals, signIns)
	}
}

// enrolPhone runs user's first sign-in with the authenticator app.
func enrolPhone(t *testing.T, svc *pushtest.Service, user string) *pushtest.Phone {
	t.Helper()
	c := newClient(t)
	c.login(user, password_)
	m := regexp.MustCompile(`#enrol=([A-Za-z0-9_-]+)"`).FindStringSubmatch(c.get("/.stepgate/register/push").body)
	if m == nil {
		t.Fatal("no set-up link")
	}
	ph := pushtest.NewPhone(t, svc, "Pixel")
	b, _ := json.Marshal(ph.Enrolment(m[1]))
	res, err := http.Post(base+"/.stepgate/push/enrol", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Device string }
	json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	ph.Device = out.Device
	if r := c.post("/.stepgate/register/push", "/.stepgate/register/push", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("set-up: %d", r.status)
	}
	return ph
}
