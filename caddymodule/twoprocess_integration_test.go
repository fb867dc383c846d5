package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
)

// caddyProcessEnv names the Caddyfile a re-run of the test binary serves
// as a Caddy process (see TestMain).
const caddyProcessEnv = "STEPGATE_TEST_CADDY_CONFIG"

// startCaddyProcess runs the test binary as a Caddy serving caddyfile, and
// waits until addr answers.
func startCaddyProcess(t *testing.T, caddyfile, addr string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	// os.Executable, not os.Args[0]: other tests in this binary run
	// Caddy's command line, which rewrites os.Args.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), caddyProcessEnv+"="+path)
	logFile, _ := os.Create(filepath.Join(t.TempDir(), "caddy.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get("http://" + addr + "/"); err == nil {
			res.Body.Close()
			return
		}
		if time.Since(start) > 60*time.Second {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("the Caddy process at %s did not answer: %s", addr, log)
		}
	}
}

// TestTwoCaddyProcessesOnePostgres: two Caddy processes with Stepgate
// share one PostgreSQL database behind a balancer that sends each request
// to the other in turn. A first sign-in (password, set-up, code) works
// across them; a sign-out on one is refused on both within 5 s; 50 wrong
// codes at once, spread over both, are checked no more than the lockout
// threshold allows.
func TestTwoCaddyProcessesOnePostgres(t *testing.T) {
	pg := gatewaytest.PostgresURL(t)
	users := writeUsers(t, "alice")
	backend := echoBackend(t)
	instances := []string{"127.0.0.1:9181", "127.0.0.1:9182"}
	for _, addr := range instances {
		startCaddyProcess(t, fmt.Sprintf(`{
	admin off
	auto_https off
	grace_period 1ns
	stepgate {
		users_file %s
		secret %s
		store postgres "%s"
		registration first_sign_in
		password_cpu 100%%
	}
}

http://%s {
	stepgate
	reverse_proxy %s
}
`, users, testSecret, pg, addr, backend), addr)
	}
	var n atomic.Int64
	proxies := make([]*httputil.ReverseProxy, len(instances))
	for i, addr := range instances {
		proxies[i] = httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	}
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[n.Add(1)%2].ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)

	c := gatewaytest.NewClient(t, lb.URL)
	_, r := c.Register("alice", testPassword, "/")
	if r.Status != http.StatusSeeOther {
		t.Fatalf("first sign-in across the processes: %d %s", r.Status, r.Body)
	}
	for range 2 {
		if r := c.Get("/reports"); r.Status != http.StatusOK || !strings.Contains(r.Body, "BACKEND /reports") {
			t.Fatalf("the app through both: %d", r.Status)
		}
	}
	cookie := "stepgate=" + c.Cookie("stepgate")
	if r := c.Post("/.stepgate/logout", "/.stepgate/logout", url.Values{}); r.Status != http.StatusOK {
		t.Fatalf("sign-out: %d", r.Status)
	}
	lbHost := strings.TrimPrefix(lb.URL, "http://")
	for _, addr := range instances {
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/reports", nil)
			req.Host, req.Header["Cookie"] = lbHost, []string{cookie}
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("the signed-out session still works on %s after 5 s", addr)
			}
		}
	}

	// 50 wrong codes at once from four sign-ins, over both processes.
	var clients []*gatewaytest.Client
	for range 4 {
		b := gatewaytest.NewClient(t, lb.URL)
		if r := b.Post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.Location != "/.stepgate/verify" {
			t.Fatalf("password step: %d %q", r.Status, r.Location)
		}
		clients = append(clients, b)
	}
	tokens := make([]string, len(clients))
	for i, b := range clients {
		tokens[i] = b.CSRF("/.stepgate/verify")
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := clients[i%len(clients)]
			form := url.Values{"csrf": {tokens[i%len(clients)]}, "code": {"000000"}}
			r := b.Do("POST", "/.stepgate/verify", strings.NewReader(form.Encode()), nil)
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if checked := statuses[http.StatusUnauthorized]; checked > 5 || statuses[http.StatusSeeOther] != 0 {
		t.Fatalf("answers to 50 wrong codes over both processes: %v (at most 5 checked)", statuses)
	}
}
