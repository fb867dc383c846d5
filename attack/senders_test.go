package attack

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

// outboxSends counts the messages the outbox recorded.
func outboxSends(t *testing.T, path string) int {
	b, _ := os.ReadFile(path) // no file: nothing sent
	return strings.Count(string(b), "\n")
}

// TestSMSPumping: one client sets up phone numbers for many accounts, all
// premium-rate numbers under one prefix, with forged X-Forwarded-For
// headers: the per-IP limit holds (the forged header changes nothing).
func TestSMSPumping(t *testing.T) {
	users := names("pump", 12)
	g := start(t, users, "sms outbox OUTBOX\n\t\tsend_limits {\n\t\t\tper_ip 5\n\t\t}")
	outbox := g.dir + "/sms.jsonl"
	g.cfg = strings.Replace(g.cfg, "OUTBOX", outbox, 1)
	g.restart()
	refused := 0
	for i, u := range users {
		c := newClient(t)
		c.login(u, password_)
		f := url.Values{"phone": {fmt.Sprintf("+1 900 555 %04d", i)}, "csrf": {c.csrf("/.stepgate/register/phone")}}
		r := c.do("POST", "/.stepgate/register/phone", strings.NewReader(f.Encode()), map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)})
		if strings.Contains(r.body, "Too many codes") {
			refused++
		}
	}
	if sent := outboxSends(t, outbox); sent != 5 || refused != len(users)-5 {
		t.Fatalf("%d texts sent, %d refused; want 5 and %d", sent, refused, len(users)-5)
	}
	t.Logf("SMS pumping: 12 numbers from one client, 5 texts sent, %d refused", refused)
}

// TestCallFlooding asks for a call again and again: the cooldown and the
// per-user limit hold.
func TestCallFlooding(t *testing.T) {
	g := start(t, []string{"alice"}, "voice outbox OUTBOX\n\t\tsend_limits {\n\t\t\tcooldown 1ms\n\t\t\tper_user 3\n\t\t}")
	outbox := g.dir + "/voice.jsonl"
	g.cfg = strings.Replace(g.cfg, "OUTBOX", outbox, 1)
	g.restart()
	st, _ := store.OpenSQLite(g.db)
	st.SetPhone(context.Background(), "alice", "+14155552671")
	st.Close()
	c := newClient(t)
	c.login("alice", password_) // the first call
	for range 20 {
		c.post("/.stepgate/verify", "/.stepgate/verify/method", url.Values{"method": {"voice"}})
	}
	if calls := outboxSends(t, outbox); calls != 3 {
		t.Fatalf("%d calls placed for 21 requests, want 3", calls)
	}
	if !strings.Contains(c.get("/.stepgate/verify").body, "Too many calls have been made") {
		t.Fatal("the user is not told why")
	}
}

// TestPushBombing signs in with a stolen password again and again: at most
// max_pending requests are waiting and per_user are sent, then requests
// pause.
func TestPushBombing(t *testing.T) {
	svc := pushtest.NewService(t)
	start(t, []string{"alice"}, fmt.Sprintf("push {\n\t\t\tservice %s\n\t\t\tmax_pending 3\n\t\t\tper_user 5\n\t\t}", svc.Origin()))
	enrolPhone(t, svc, "alice")
	for range 20 {
		newClient(t).login("alice", password_)
	}
	if n := len(svc.Messages()); n != 3 {
		t.Fatalf("20 sign-ins sent %d notifications, want 3 (max_pending)", n)
	}
	t.Logf("push bombing: 20 password sign-ins, %d notifications", len(svc.Messages()))
}
