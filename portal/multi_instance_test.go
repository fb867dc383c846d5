package portal

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/phone"
)

// pgInstances are two portal instances, each with its own connection pool
// to one PostgreSQL database, sharing a clock, the users file and the
// secret, behind a load balancer that sends each request to the other
// instance in turn.
func pgInstances(t *testing.T, opts ...envOption) (a, b *env, lb *httptest.Server) {
	t.Helper()
	u := gatewaytest.PostgresURL(t)
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(users, []byte(strings.ReplaceAll(usersYAML, "%s", passwordHash(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() store.Store {
		st, err := store.OpenPostgres(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a = newEnvWith(t, users, open(), opts...)
	b = newEnvWith(t, users, open(), append(opts, func(c *Config) { c.Now = a.clock.Now })...)
	var n atomic.Int64
	ha, hb := a.handler(Policy{}), b.handler(Policy{})
	lb = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			ha.ServeHTTP(w, r)
		} else {
			hb.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(lb.Close)
	return a, b, lb
}

// TestTwoInstancesOnePostgres: every step of a sign-in lands on the other
// instance than the one before (set-up, password, code), and works; a
// sign-out on one instance voids the session on the other at its next
// poll of the store.
func TestTwoInstancesOnePostgres(t *testing.T) {
	a, b, lb := pgInstances(t)
	c := a.browser()
	c.base = lb.URL
	secret := c.register("alice")
	if r := c.signIn("alice", secret); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in across instances: %d %s", r.status, r.body)
	}
	session := c.cookie(plainNames.session)
	if session == nil || !a.signedIn(c) || !a.signedIn(c) {
		t.Fatal("not signed in on both instances")
	}
	cookie := plainNames.session + "=" + session.Value
	if r := c.post(Prefix+"logout", Prefix+"logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("sign-out: %d", r.status)
	}
	for _, e := range []*env{a, b} {
		if err := e.p.SyncRevocations(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := e.rawGet("/app", cookie, nil); r.status == http.StatusOK {
			t.Fatalf("the signed-out session still works on an instance: %d", r.status)
		}
	}
}

// TestParallelWrongCodesTwoInstancesPostgres: 300 wrong codes at once,
// from sign-ins on both instances, check no more than the threshold: the
// lockout counter is one count in PostgreSQL.
func TestParallelWrongCodesTwoInstancesPostgres(t *testing.T) {
	lo := Lockout{Threshold: 3, BaseDelay: 60e9, MaxDelay: 240e9, HardLimit: 8}
	a, b, _ := pgInstances(t, func(c *Config) { c.Lockout = lo })
	a.browser().register("alice")
	var browsers []*browser
	for _, e := range []*env{a, b, a, b} {
		br := e.browser()
		if r := br.login("alice", testPassword); r.status != http.StatusSeeOther {
			t.Fatalf("login: %d", r.status)
		}
		browsers = append(browsers, br)
	}
	got := burst(t, browsers, Prefix+"verify", 300, func(int) url.Values { return url.Values{"code": {"000000"}} })
	if n := checked(a, b); n > lo.Threshold || got[http.StatusUnauthorized] != n {
		t.Fatalf("%d wrong codes checked (answers %v), want at most %d", n, got, lo.Threshold)
	}
}

// TestSignOutReachesTheOtherInstanceAtOnce: with PostgreSQL, a sign-out on
// one instance is read by the other when the database notifies it, well
// before its next poll (an hour away here).
func TestSignOutReachesTheOtherInstanceAtOnce(t *testing.T) {
	a, b, _ := pgInstances(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.p.Run(ctx, time.Hour)
	c := a.browser()
	c.register("alice")
	cookie := plainNames.session + "=" + c.cookie(plainNames.session).Value
	if r := b.rawGet("/app", cookie, nil); r.status != http.StatusOK {
		t.Fatalf("the session on the other instance: %d", r.status)
	}
	time.Sleep(300 * time.Millisecond) // b is listening by now
	start := time.Now()
	if r := c.post(Prefix+"logout", Prefix+"logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("sign-out: %d", r.status)
	}
	for b.rawGet("/app", cookie, nil).status == http.StatusOK {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the other instance did not learn of the sign-out within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the other instance refused the session %v after the sign-out", time.Since(start).Round(time.Millisecond))
}

// TestTextCodeAcrossInstances: a code texted by one instance is accepted
// by the other, and the text cooldown is one for both: asking the other
// instance for a new code at once sends nothing.
func TestTextCodeAcrossInstances(t *testing.T) {
	inbox := &phoneInbox{}
	countries, _ := phone.ParseCountries([]string{"+1"})
	a, b, _ := pgInstances(t, func(c *Config) { c.SMS = &SMSConfig{Sender: inbox, Countries: countries} })
	a.st.SetPhone(context.Background(), "bob", bobPhone)
	onA := a.browser()
	if r := onA.login("bob", testPassword); r.header.Get("Location") != Prefix+"verify" {
		t.Fatalf("password step on a: %d %q", r.status, r.header.Get("Location"))
	}
	if inbox.count() != 1 {
		t.Fatalf("%d texts after the password step", inbox.count())
	}
	// The same browser goes on at the other instance (same host, as
	// behind a balancer: the cookies go along).
	onB := b.browser()
	onB.c.Jar = onA.c.Jar
	u, _ := url.Parse(a.srv.URL)
	for _, ck := range onA.c.Jar.Cookies(u) {
		onB.c.Jar.SetCookies(u, []*http.Cookie{ck})
	}
	onB.base = a.srv.URL
	onB.c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, strings.TrimPrefix(b.srv.URL, "http://"))
	}}
	if r := onB.post(Prefix+"verify", Prefix+"verify/method", url.Values{"method": {"sms"}}); inbox.count() != 1 {
		t.Fatalf("a new code at once from the other instance: %d texts (answer %d)", inbox.count(), r.status)
	}
	if r := onB.post(Prefix+"verify", Prefix+"verify", url.Values{"code": {inbox.lastCode(t, bobPhone)}}); r.status != http.StatusSeeOther {
		t.Fatalf("a's code at b: %d %s", r.status, r.body)
	}
}
