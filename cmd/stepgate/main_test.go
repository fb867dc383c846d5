package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestRewriteArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"stepgate", "hash-password", "--password-stdin"}, []string{"stepgate", "user", "hash-password", "--password-stdin"}},
		{[]string{"stepgate", "run", "--config", "Caddyfile"}, []string{"stepgate", "run", "--config", "Caddyfile"}},
		{[]string{"stepgate"}, []string{"stepgate"}},
		{[]string{"stepgate", "user", "hash-password"}, []string{"stepgate", "user", "hash-password"}},
	} {
		if got := rewriteArgs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("rewriteArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestModulesRegistered is what `stepgate list-modules` shows for us.
func TestModulesRegistered(t *testing.T) {
	for _, id := range []string{"stepgate", "http.handlers.stepgate", "http.handlers.reverse_proxy"} {
		if _, err := caddy.GetModule(id); err != nil {
			t.Errorf("module %s not registered: %v", id, err)
		}
	}
}

// TestAnnounce: with `announce`, `stepgate run` reads the sites'
// addresses, refuses to start while one answers already, and prints the
// line once they are served; without it, nothing is read.
func TestAnnounce(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	freeL, _ := net.Listen("tcp", "127.0.0.1:0")
	freeAddr := freeL.Addr().String()
	freeL.Close()
	_, freePort, _ := net.SplitHostPort(freeAddr)

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	site := func(port string) string {
		return "{\n\tadmin off\n\tstepgate {\n\t\tusers_file users.yaml\n\t\tannounce \"Demo: open http://localhost:" + port + "\"\n\t}\n}\n\nhttp://localhost:" + port + " {\n\tbind 127.0.0.1\n\trespond ok\n}\n"
	}

	a, err := configFor([]string{"stepgate", "run", "--config", write("busy.caddyfile", site(busyPort)), "--adapter", "caddyfile"})
	if err != nil || a.Message != "Demo: open http://localhost:"+busyPort || !slices.Equal(a.Addrs, []string{busy.Addr().String()}) {
		t.Fatalf("configFor: %+v %v", a, err)
	}
	if err := a.free(); err == nil || !strings.Contains(err.Error(), busy.Addr().String()+" is already in use") {
		t.Fatalf("a port in use: %v", err)
	}

	a, err = configFor([]string{"stepgate", "run", "--config=" + write("Caddyfile", site(freePort))})
	if err != nil || len(a.Addrs) != 1 || a.Addrs[0] != freeAddr {
		t.Fatalf("configFor: %+v %v", a, err)
	}
	if err := a.free(); err != nil {
		t.Fatalf("a free port: %v", err)
	}
	var out strings.Builder
	done := make(chan struct{})
	go func() { a.announceWhenServed(&out, 10*time.Second); close(done) }()
	time.Sleep(300 * time.Millisecond)
	if out.Len() != 0 {
		t.Fatalf("announced before the site was served: %q", out.String())
	}
	l, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	<-done
	if got := out.String(); got != "\nDemo: open http://localhost:"+freePort+"\n\n" {
		t.Fatalf("announced %q", got)
	}

	// Without announce, or for other commands, nothing is read.
	for _, args := range [][]string{
		{"stepgate", "run", "--config", write("plain.caddyfile", "http://localhost:"+busyPort+" {\n\trespond ok\n}\n")},
		{"stepgate", "validate", "--config", filepath.Join(dir, "busy.caddyfile")},
		{"stepgate", "run"},
	} {
		if a, err := configFor(args); err != nil || a.Message != "" || a.free() != nil {
			t.Errorf("%q: %+v %v", args, a, err)
		}
	}
}
