package caddymodule_test

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nginxPath finds Debian's nginx; without it the test fails in CI and is
// skipped elsewhere.
func nginxPath(t *testing.T) string {
	return findTool(t, "nginx", "apt-get install -y nginx-light", os.Getenv("NGINX"), "/usr/sbin/nginx", "nginx")
}

// startNginx runs nginx in the foreground with testdata's auth_request
// configuration in front of app, and stops it when the test ends.
func startNginx(t *testing.T, app string) {
	bin := nginxPath(t)
	dir := t.TempDir()
	conf, err := os.ReadFile("testdata/nginx-auth-request.conf")
	if err != nil {
		t.Fatal(err)
	}
	appConf, err := os.ReadFile("testdata/nginx-stepgate-app.conf")
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{{dir}}", dir, "{{app}}", app)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(fill.Replace(string(conf))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stepgate-app.conf"), appConf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	out := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx: %s\n%s", out, log)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:9180"); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s\n%s", out, log)
		}
	}
}

// startStepgateForProxy starts Stepgate as README sets it up for another
// proxy (its own site on 127.0.0.1:9091, trusting 127.0.0.1), with alice
// and root (an admin) and an 8 s idle timeout, and returns the echo app's
// address.
func startStepgateForProxy(t *testing.T) string {
	t.Helper()
	backend := echoBackend(t)
	block, _ := stepgateBlock(t, usersWithAnAdmin(t), `session {
			idle 8s
		}`)
	startCaddyfileWith(t, `servers 127.0.0.1:9091 {
		trusted_proxies static 127.0.0.1/32
	}`, block, `
http://:9091 {
	stepgate
}
`)
	return backend
}

// TestAuthRequestThroughNginx puts Stepgate behind a real nginx with
// README's auth_request set-up in front of the echo app.
func TestAuthRequestThroughNginx(t *testing.T) {
	backend := startStepgateForProxy(t)
	startNginx(t, backend)
	const site = "http://localhost:9180"
	c := newClientAt(t, site)

	if r := c.get("/reports?x=1"); r.status != http.StatusFound || r.location != site+"/.stepgate/?rd=%2Freports%3Fx%3D1" || strings.Contains(r.body, "BACKEND") {
		t.Fatalf("unauthenticated: %d %q %s", r.status, r.location, r.body)
	}
	if r := c.do("GET", site+"/reports", nil, map[string]string{"Accept": "application/json"}); r.status != http.StatusUnauthorized || strings.Contains(r.body, "BACKEND") {
		t.Fatalf("unauthenticated API client: %d %s", r.status, r.body)
	}
	if _, r := c.register("alice", "/reports?x=1"); r.status != http.StatusSeeOther || r.location != "/reports?x=1" {
		t.Fatalf("sign-in: %d %q", r.status, r.location)
	}
	appSeesOnlyAlice(t, c, site)
	pathRulesHold(t, c, site)
	// After a quarter of the idle time, the answer carries the session
	// with its idle timer moved on, and nginx passes it to the browser.
	time.Sleep(2100 * time.Millisecond)
	r := c.Do("GET", site+"/reports", nil, nil)
	if sc := r.Header.Get("Set-Cookie"); r.Status != http.StatusOK || !strings.HasPrefix(sc, "stepgate=") {
		t.Fatalf("the idle refresh through nginx: %d %q", r.Status, sc)
	}

	cookie := c.cookie("stepgate")
	if r := c.post("/.stepgate/logout", "/.stepgate/logout", url.Values{}); r.status != http.StatusOK {
		t.Fatalf("sign-out: %d", r.status)
	}
	if r := c.do("GET", site+"/reports", nil, map[string]string{"Cookie": "stepgate=" + cookie}); r.status != http.StatusFound {
		t.Fatalf("the old cookie after sign-out: %d", r.status)
	}
}

// readmeBlock is the part of a testdata file between "# README begin" and
// "# README end", with README's values in place of the test's, as lines
// without their indentation.
func readmeBlock(t *testing.T, path string, values ...string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := strings.Index(s, "# README begin\n"), strings.Index(s, "# README end")
	if start < 0 || end < start {
		t.Fatalf("%s: no README block", path)
	}
	s = strings.NewReplacer(values...).Replace(s[start+len("# README begin\n") : end])
	return trimmedLines(s)
}

func trimmedLines(s string) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// TestReadmeShowsTheTestedConfigs: README's nginx and forward_auth set-ups
// are the ones the integration tests run, line for line.
func TestReadmeShowsTheTestedConfigs(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := "\n" + strings.Join(trimmedLines(string(readme)), "\n") + "\n"
	for _, tc := range []struct {
		path   string
		values []string
	}{
		{"testdata/nginx-auth-request.conf", []string{"{{dir}}", "/etc/nginx"}},
		{"testdata/nginx-stepgate-app.conf", nil},
		{"testdata/forward-auth.Caddyfile", []string{"{{site}}", "app.example.com", "{{stepgate}}", "127.0.0.1:9091",
			"{{authz}}", "127.0.0.1:9091", "{{app}}", "127.0.0.1:3000"}},
		{"testdata/adapt/portal.caddyfiletest", nil},
	} {
		block := "\n" + strings.Join(readmeBlock(t, tc.path, tc.values...), "\n") + "\n"
		if !strings.Contains(text, block) {
			t.Errorf("README.md does not show %s as tested:\n%s", tc.path, block)
		}
	}
}
