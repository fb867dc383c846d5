package attack

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
)

// parallelPosts sends n copies of form to path at the same instant, each
// over its own connection, with c's cookies and CSRF token, and tallies
// the answers.
func parallelPosts(t *testing.T, c *client, path string, n int, form url.Values) tally {
	t.Helper()
	form.Set("csrf", c.csrf(path))
	body := form.Encode()
	cookies := c.HTTP.Jar.Cookies(mustURL(t, c.Base))
	seen := tally{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", c.Base+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			req.Header.Set("Origin", c.Base)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			for _, ck := range cookies {
				req.AddCookie(ck)
			}
			// A transport of its own: one connection per request.
			tr := &http.Transport{DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			<-start
			status := 0
			if res, err := (&http.Client{Transport: tr}).Do(req); err != nil {
				t.Error(err)
			} else {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				status = res.StatusCode
			}
			mu.Lock()
			seen[status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return seen
}

func mustURL(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// failuresOf reads an account's failure counter from the gateway's store.
func (g *gateway) failuresOf(user, counter string) int {
	g.t.Helper()
	st, err := store.OpenSQLite(g.db)
	if err != nil {
		g.t.Fatal(err)
	}
	defer st.Close()
	f, err := st.Failures(context.Background(), user, counter)
	if err != nil {
		g.t.Fatal(err)
	}
	return f.Count
}

// TestParallelGuesses sends 300 wrong passwords, then 300 wrong app codes
// for one sign-in, each burst at the same instant over 300 connections: no
// more guesses are checked than the lockout threshold (5), however many
// arrive before the first is counted.
func TestParallelGuesses(t *testing.T) {
	g := start(t, []string{"alice", "bob"}, "")
	secret := newClient(t).register("bob")
	passwords := parallelPosts(t, newClient(t), "/.stepgate/", 300, url.Values{"username": {"alice"}, "password": {"wrong"}})
	if n := g.failuresOf("alice", "password"); n > 5 || passwords[http.StatusUnauthorized] != n || passwords[http.StatusTooManyRequests] != 300-n {
		t.Fatalf("300 parallel wrong passwords: %v, %d counted; want at most 5 checked, the rest refused", passwords, n)
	}
	c := newClient(t)
	if r := c.login("bob", password_); r.location != "/.stepgate/verify" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	wrong := "000000"
	if wrong == code(t, secret, time.Now()) {
		wrong = "000001"
	}
	codes := parallelPosts(t, c, "/.stepgate/verify", 300, url.Values{"code": {wrong}})
	if n := g.failuresOf("bob", "code"); n > 5 || codes[http.StatusUnauthorized] != n || codes[http.StatusTooManyRequests] != 300-n {
		t.Fatalf("300 parallel wrong codes: %v, %d counted; want at most 5 checked, the rest refused", codes, n)
	}
	t.Logf("300 parallel wrong passwords: %v; 300 parallel wrong codes: %v", passwords, codes)
}
