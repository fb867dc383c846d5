package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/stepgate/stepgate/directory"
)

// pool holds the connections to the servers: at most MaxConnections at
// once, idle ones kept for the next sign-in. A connection is bound as the
// service account whenever it is handed out; one a user bound on is bound
// back first.
type pool struct {
	cfg  Config
	tls  *tls.Config // nil: the system's CAs
	sem  chan struct{}
	mu   sync.Mutex
	idle []*conn
	// next is the server tried first: the last one that answered, so
	// after a fail-over every connection goes to the one that works.
	next atomic.Int32
	// dial is net.Dialer.DialContext (tests count dials).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

type conn struct {
	*goldap.Conn
	server  int
	service bool // bound as the service account
}

func newPool(cfg Config) (*pool, error) {
	p := &pool{cfg: cfg, sem: make(chan struct{}, cfg.MaxConnections)}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
		p.tls = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	d := &net.Dialer{Timeout: cfg.Timeout}
	p.dial = d.DialContext
	return p, nil
}

// get returns a connection bound as the service account, waiting for a
// free one until ctx ends. Every server is tried, the last good one first;
// when none answers the error wraps directory.ErrUnavailable.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: every connection to it is busy (max_connections %d)", directory.ErrUnavailable, p.cfg.MaxConnections)
	}
	for {
		p.mu.Lock()
		var c *conn
		if n := len(p.idle); n > 0 {
			c, p.idle = p.idle[n-1], p.idle[:n-1]
		}
		p.mu.Unlock()
		if c == nil {
			break
		}
		if c.IsClosing() {
			c.Close()
			continue
		}
		if c.service {
			return c, nil
		}
		if err := c.bindService(p.cfg); err == nil {
			return c, nil
		}
		// A connection the server dropped while idle: a fresh one.
		c.Close()
	}
	c, err := p.connect(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return c, nil
}

// put gives a connection back: kept for the next one when it is still
// good, closed otherwise.
func (p *pool) put(c *conn, good bool) {
	if good && !c.IsClosing() {
		p.mu.Lock()
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	} else {
		c.Close()
	}
	<-p.sem
}

// connect dials the servers in turn, from the last good one, and binds as
// the service account.
func (p *pool) connect(ctx context.Context) (*conn, error) {
	n := len(p.cfg.URLs)
	first := int(p.next.Load())
	var errs []error
	for i := range n {
		server := (first + i) % n
		c, err := p.dialOne(ctx, server)
		if err == nil {
			err = c.bindService(p.cfg)
			if err != nil {
				c.Close()
				var le *goldap.Error
				if errors.As(err, &le) && le.ResultCode == goldap.LDAPResultInvalidCredentials {
					// The server answered: the configuration is wrong,
					// and the other servers will say the same.
					return nil, fmt.Errorf("%w: %s refused bind_dn %s: wrong bind_password?", directory.ErrUnavailable, p.cfg.URLs[server], p.cfg.BindDN)
				}
			}
		}
		if err == nil {
			p.next.Store(int32(server))
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.cfg.URLs[server], err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", directory.ErrUnavailable, errors.Join(errs...))
}

func (p *pool) dialOne(ctx context.Context, server int) (*conn, error) {
	u, err := url.Parse(p.cfg.URLs[server])
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		port := "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	raw, err := p.dial(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	tc := p.tlsFor(u.Hostname())
	if u.Scheme == "ldaps" {
		t := tls.Client(raw, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		raw = t
	}
	lc := goldap.NewConn(raw, u.Scheme == "ldaps")
	lc.SetTimeout(p.cfg.Timeout)
	lc.Start()
	if u.Scheme == "ldap" && p.cfg.StartTLS {
		if err := lc.StartTLS(tc); err != nil {
			lc.Close()
			return nil, fmt.Errorf("start_tls: %w", err)
		}
	}
	return &conn{Conn: lc, server: server}, nil
}

func (p *pool) tlsFor(host string) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.tls != nil {
		tc = p.tls.Clone()
	}
	tc.ServerName = host
	return tc
}

// close closes the idle connections.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

func (c *conn) bindService(cfg Config) error {
	if err := c.Bind(cfg.BindDN, cfg.BindPassword); err != nil {
		return err
	}
	c.service = true
	return nil
}

// unavailable reports whether err is the server being unreachable (the
// connection failed or timed out), not an answer.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, directory.ErrUnavailable) {
		return true
	}
	var le *goldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case goldap.ErrorNetwork, goldap.LDAPResultTimeout, goldap.ErrorUnexpectedResponse,
			goldap.LDAPResultUnavailable, goldap.LDAPResultBusy, goldap.LDAPResultServerDown,
			goldap.LDAPResultConnectError, goldap.LDAPResultUnwillingToPerform:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
}

// timeoutCtx is ctx bounded by d.
func timeoutCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
