package gatewaytest

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Settled waits, after a configuration was loaded into a running Caddy,
// until only one socket listens on each of ports. On a reload Caddy opens
// the new server's socket beside the old one (SO_REUSEPORT) and closes the
// old one in the background after the load has returned; a connection the
// kernel queued on the old socket in between is reset, which made tests
// that send their first request at once fail now and then. Off Linux
// (no /proc/net/tcp) it returns at once.
func Settled(t testing.TB, ports ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy := ""
		for _, p := range ports {
			if n, ok := listeners(p); ok && n > 1 {
				busy = fmt.Sprintf("%d sockets listen on port %d", n, p)
				break
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("the old configuration still listens after 5 s (%s); going on", busy)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listeners counts the sockets in the LISTEN state on port, IPv4 and IPv6;
// ok is false where /proc/net/tcp cannot be read.
func listeners(port int) (n int, ok bool) {
	want := fmt.Sprintf(":%04X", port)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		ok = true
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st ...
			fs := strings.Fields(sc.Text())
			if len(fs) > 3 && fs[3] == "0A" && strings.HasSuffix(fs[1], want) {
				n++
			}
		}
		f.Close()
	}
	return n, ok
}
