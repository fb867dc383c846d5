package gatewaytest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Outage is a TCP proxy to a server (a database) that a test can take
// down, cutting every connection and refusing new ones, and bring back on
// the same address.
type Outage struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

// NewOutage starts a proxy to target (host:port) on a free loopback port.
func NewOutage(t testing.TB, target string) *Outage {
	o := &Outage{t: t, target: target, conns: map[net.Conn]bool{}}
	o.listen("127.0.0.1:0")
	t.Cleanup(o.Down)
	return o
}

// Addr is the proxy's host:port.
func (o *Outage) Addr() string { return o.addr }

func (o *Outage) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		o.t.Fatal(err)
	}
	o.mu.Lock()
	o.ln, o.addr = ln, ln.Addr().String()
	o.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", o.target)
			if err != nil {
				c.Close()
				continue
			}
			o.mu.Lock()
			o.conns[c], o.conns[s] = true, true
			o.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

// Down cuts every connection and stops accepting new ones.
func (o *Outage) Down() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ln != nil {
		o.ln.Close()
		o.ln = nil
	}
	for c := range o.conns {
		c.Close()
		delete(o.conns, c)
	}
}

// Up accepts connections again, on the same address.
func (o *Outage) Up() { o.listen(o.addr) }
