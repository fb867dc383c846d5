package gatewaytest

import (
	"context"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Two sockets on one port, as during a Caddy reload: Settled returns only
// once the old one is closed.
func TestSettledWaitsForTheOldSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/tcp")
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return err
	}}
	old, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := old.Addr().(*net.TCPAddr).Port
	cur, err := lc.Listen(context.Background(), "tcp", old.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if n, _ := listeners(port); n != 2 {
		t.Fatalf("listeners(%d) = %d, want 2", port, n)
	}
	closed := make(chan time.Time, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		closed <- time.Now()
		old.Close()
	}()
	Settled(t, port)
	returned := time.Now()
	if at := <-closed; returned.Before(at) {
		t.Fatal("Settled returned while two sockets listened")
	}
	if n, _ := listeners(port); n != 1 {
		t.Fatalf("listeners(%d) = %d after the close, want 1", port, n)
	}
}
