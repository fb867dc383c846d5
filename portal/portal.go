// Package portal is the sign-in flow over HTTP: the pages under
// /.stepgate/, the session and pending cookies, return-URL checks, and the
// per-request decision (let through, redirect to sign in, or 401). It does
// not import Caddy; caddymodule wires it into Caddy's handler chain.
package portal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// Prefix is the path under which the portal serves its pages on every
// protected host.
const Prefix = "/.stepgate/"

// Config is what the portal needs; caddymodule fills it from the Caddy app.
type Config struct {
	// Users is the user directory (the users file, LDAP).
	Users directory.Directory
	// Store keeps security info, counters and revocations.
	Store store.Store
	// Secrets derive the cookie and at-rest keys; the first is current,
	// the rest are accepted for decoding only (rotation).
	Secrets []string
	// Lifetime is the absolute session timeout.
	Lifetime time.Duration
	// Idle is the idle session timeout.
	Idle time.Duration
	// Remember, when positive, offers "Stay signed in?" after sign-in: a
	// session that lasts Remember from sign-in, with no idle timeout. It
	// is still checked on every request and ended by every revocation.
	Remember time.Duration
	// RememberDevice, when positive, offers "Don't ask again on this
	// device": for that long, the password alone signs the user in on
	// that browser (a signed cookie naming a stored, revocable device).
	RememberDevice time.Duration
	// CookieDomain shares the session with all subdomains of this domain.
	CookieDomain string
	// PortalURL, when set, is the central portal's origin
	// ("https://auth.example.com", inside CookieDomain): protected sites
	// send people there to sign in, and their own pages under Prefix
	// redirect there.
	PortalURL string
	// Issuer is the name shown in authenticator apps.
	Issuer string
	// FirstSignInRegistration walks users with no method through setting up
	// an authenticator app after their password.
	FirstSignInRegistration bool
	// SMS turns on text-message codes (nil: off).
	SMS *SMSConfig
	// Voice turns on phone calls (nil: off).
	Voice *VoiceConfig
	// Push turns on authenticator app notifications (nil: off).
	Push *PushConfig
	// Passkeys turns on passkeys and security keys (nil: off).
	Passkeys *PasskeyConfig
	// HelpContact is shown to users who cannot complete sign-in on their own.
	HelpContact string
	// Lockout is the failure back-off.
	Lockout Lockout
	// Logger receives one structured entry per sign-in event.
	Logger *zap.Logger
	// ClientIP returns the client's address (Caddy's client_ip, which
	// honours trusted_proxies). Defaults to the connection's remote address.
	ClientIP func(*http.Request) string
	// TrustedProxy reports whether the request comes from a proxy whose
	// X-Forwarded-Proto and X-Forwarded-Host are believed (Caddy's
	// trusted_proxies). Nil trusts nobody.
	TrustedProxy func(*http.Request) bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Reauth is how recent a second step must be before a change on the
	// Security info page (10 minutes when zero; otherwise at least a
	// second).
	Reauth time.Duration
	// Methods are more second-step methods, beside the built-in ones that
	// SMS, Voice and Push turn on.
	Methods []verifiers.Factory
	// PasswordReset offers "Forgot my password?" on the password step: a
	// user who proves who they are with PasswordResetMethods of their
	// methods chooses a new password. Off by default.
	PasswordReset bool
	// PasswordResetMethods is how many different methods a password reset
	// needs: 1 or 2 (2 when zero).
	PasswordResetMethods int
	// Observer is told what the portal counts (nil: nothing).
	Observer Observer
	// Branding is the organisation's name, logo and colour on every page
	// (zero: Stepgate's own look).
	Branding Branding
	// Languages are the languages the pages speak, the one spoken when a
	// browser asks for none of them, and the administrator's wording
	// (zero: every language, English by default, Stepgate's words).
	Languages messages.Config
}

// Portal serves the sign-in pages and decides about every request.
type Portal struct {
	cfg      Config
	keys     []keys
	sessions []securecookie.Codec
	pendings []securecookie.Codec
	// devices encode the remembered-device cookie.
	devices []securecookie.Codec
	// reg is the second-step methods in use.
	reg      *registry
	revoked  *revocations
	verified *verifiedCache // for __Host-/__Secure- session cookies
	// verifiedPlain is for the plain-HTTP (loopback) cookie name.
	verifiedPlain *verifiedCache
	origin        *http.CrossOriginProtection
	pages         *pages
	log           *zap.Logger
	// accounts does the account operations the pages offer (Temporary
	// Access Passes, password changes), as the commands do.
	accounts *account.Service

	insecureWarned sync.Once
	// feedSynced is when (unix nanoseconds) the revocation feed was last
	// read from the store.
	feedSynced atomic.Int64
	// untrustedAuthz logs, once, a forward-auth request from a client
	// that is not a trusted proxy.
	untrustedAuthz sync.Once
	badAuthzQuery  sync.Once
	authzPolicies  authzPolicies
	// central is the central portal (Config.PortalURL), or nil when
	// every site serves its own sign-in pages.
	central *central
	// brand is the checked Branding and its files.
	brand *brand
	// msgs is what the pages speak.
	msgs *messages.Set
	// helpDefault: the configuration named no help contact, so pages say
	// help.default in the user's language (see help).
	helpDefault bool
}

// verifiedCacheSize bounds the verified-cookie cache (about 300 bytes an
// entry: some 3 MB when full).
const verifiedCacheSize = 10000

// maxRemember bounds remember and remember_device: a year.
const maxRemember = 365 * 24 * time.Hour

// longestSession is how long a session can live: the lifetime, or the
// remember time when "Stay signed in" is offered. Revocations of all a
// user's sessions are kept this long.
func (c *Config) longestSession() time.Duration { return max(c.Lifetime, c.Remember) }

// pendingLifetime bounds the time between the password and the second step.
const pendingLifetime = 10 * time.Minute

// New checks the configuration and builds a Portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Users == nil {
		return nil, errors.New("portal: no users file")
	}
	if _, ok := cfg.Users.(directory.Editor); cfg.PasswordReset && !ok {
		return nil, fmt.Errorf("password_reset: the passwords are kept in %s, which Stepgate does not change; point users to its own password tool", cfg.Users.Name())
	}
	if cfg.Store == nil {
		return nil, errors.New("portal: no store")
	}
	if len(cfg.Secrets) == 0 || cfg.Secrets[0] == "" {
		return nil, errors.New("no secret configured: set `secret` (at least 32 bytes) or `secret_file`")
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 12 * time.Hour
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Hour
	}
	if cfg.Idle > cfg.Lifetime {
		cfg.Idle = cfg.Lifetime
	}
	switch {
	case cfg.Remember < 0 || cfg.RememberDevice < 0:
		return nil, errors.New("session: remember and remember_device cannot be negative")
	case cfg.Remember > 0 && cfg.Remember <= cfg.Lifetime:
		return nil, fmt.Errorf("session: remember (%s) must be longer than lifetime (%s), or it would not keep anyone signed in longer", cfg.Remember, cfg.Lifetime)
	case cfg.Remember > maxRemember || cfg.RememberDevice > maxRemember:
		return nil, fmt.Errorf("session: remember and remember_device can be at most %d days", maxRemember/(24*time.Hour))
	}
	// A second step's time is kept in whole seconds (fresh), so a window
	// under a second could never be met.
	switch {
	case cfg.Reauth == 0:
		cfg.Reauth = defaultReauth
	case cfg.Reauth < time.Second:
		return nil, fmt.Errorf("reauth must be at least 1s, not %s", cfg.Reauth)
	}
	switch {
	case !cfg.PasswordReset:
	case cfg.PasswordResetMethods == 0:
		cfg.PasswordResetMethods = 2
	case cfg.PasswordResetMethods != 1 && cfg.PasswordResetMethods != 2:
		return nil, fmt.Errorf("password reset needs 1 or 2 verification methods, not %d", cfg.PasswordResetMethods)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Stepgate"
	}
	cfg.CookieDomain = strings.ToLower(strings.TrimPrefix(cfg.CookieDomain, "."))
	cfg.Lockout = cfg.Lockout.WithDefaults()
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.TrustedProxy == nil {
		cfg.TrustedProxy = func(*http.Request) bool { return false }
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var err error
	p := &Portal{cfg: cfg, revoked: newRevocations(), verified: newVerifiedCache(verifiedCacheSize), verifiedPlain: newVerifiedCache(verifiedCacheSize), origin: http.NewCrossOriginProtection(), log: cfg.Logger}
	p.feedSucceeded()
	if p.brand, err = newBrand(cfg.Branding); err != nil {
		return nil, err
	}
	if p.msgs, err = messages.New(cfg.Languages); err != nil {
		return nil, fmt.Errorf("languages: %w", err)
	}
	if p.cfg.HelpContact == "" {
		// Pages say the default in the user's language (help); what has
		// no request to speak for (a method's own API) says it in the
		// language spoken when a browser asks for none offered.
		p.helpDefault = true
		p.cfg.HelpContact = p.msgs.For("", "").T("portal.help.default")
	}
	if cfg.PortalURL != "" {
		c, err := newCentral(cfg.PortalURL, cfg.CookieDomain)
		if err != nil {
			return nil, err
		}
		p.central = c
	}
	for i, s := range cfg.Secrets {
		k, err := deriveKeys(s)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			return nil, fmt.Errorf("old secret #%d: %w", i, err)
		}
		p.keys = append(p.keys, k)
	}
	p.sessions = newCodecs(p.keys, cfg.longestSession(), sessionSerializer{})
	p.pendings = newCodecs(p.keys, pendingLifetime, securecookie.JSONEncoder{})
	p.devices = newCodecs(p.keys, max(cfg.RememberDevice, time.Hour), securecookie.JSONEncoder{})
	atRest := make([][]byte, len(p.keys))
	for i, k := range p.keys {
		atRest[i] = k.atRest
	}
	sealer, err := store.NewSealer(atRest...)
	if err != nil {
		return nil, err
	}
	passKeys := make([][]byte, len(p.keys))
	for i, k := range p.keys {
		passKeys[i] = k.accessPass
	}
	p.accounts = account.New(account.Config{Users: cfg.Users, Store: cfg.Store, Logger: cfg.Logger, Now: cfg.Now,
		SessionLifetime: cfg.longestSession(), PassKeys: passKeys})
	if p.pages, err = loadPages(); err != nil {
		return nil, err
	}
	env := verifiers.Env{Store: cfg.Store, Sealer: sealer, Key: p.keys[0].codes, Issuer: cfg.Issuer,
		Prefix: Prefix, Now: cfg.Now, Log: cfg.Logger, Host: host{p}, Brand: p.brand.view, Languages: p.msgs}
	ms, err := builtinMethods(cfg, env)
	if err != nil {
		return nil, err
	}
	for _, f := range cfg.Methods {
		m, err := f(env)
		if err != nil {
			return nil, fmt.Errorf("building a sign-in method: %w", err)
		}
		ms = append(ms, m)
	}
	if p.reg, err = newRegistry(ms, p.pages); err != nil {
		return nil, err
	}
	return p, nil
}

// Run keeps the revocation list in step with the store until ctx ends: an
// initial load, then a poll every interval, and a daily prune.
func (p *Portal) Run(ctx context.Context, interval time.Duration) {
	p.syncFeed(ctx)
	poll := time.NewTicker(interval)
	defer poll.Stop()
	prune := time.NewTicker(24 * time.Hour)
	defer prune.Stop()
	// A store that tells when sign-outs are written (PostgreSQL's
	// LISTEN) has them read at once; the poll stays, for when it cannot.
	var notified <-chan struct{}
	if w, ok := p.cfg.Store.(store.RevocationWatcher); ok {
		notified = w.WatchRevocations(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-notified:
			p.syncFeed(ctx)
		case <-poll.C:
			p.syncFeed(ctx)
		case <-prune.C:
			if err := p.cfg.Store.Prune(ctx, p.cfg.Now()); err != nil && ctx.Err() == nil {
				p.log.Error("pruning store", zap.Error(err))
			}
		}
	}
}

// SyncRevocations loads revocations from the store now (for tests and for
// callers that cannot wait for the next poll).
func (p *Portal) SyncRevocations(ctx context.Context) error {
	if err := p.revoked.sync(ctx, p.cfg.Store, p.cfg.Now()); err != nil {
		return err
	}
	p.feedSucceeded()
	return nil
}

// syncFeed reads the store's new sign-outs, logging a failure.
func (p *Portal) syncFeed(ctx context.Context) {
	if err := p.SyncRevocations(ctx); err != nil && ctx.Err() == nil {
		p.feedFailed(err)
	}
}

// IsPortalPath reports whether the request is for the portal's own pages.
func IsPortalPath(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, Prefix) || r.URL.Path == strings.TrimSuffix(Prefix, "/")
}

// isLoopbackHost reports whether host (with or without port) names this
// machine: "localhost", "*.localhost", or a loopback IP.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// names picks the cookie names for the request's security context. On plain
// HTTP the browser would refuse __Host- and __Secure- cookies, so only
// loopback (the demo) gets unprefixed names; the portal refuses to sign in
// anywhere else without TLS.
func (p *Portal) names(r *http.Request) cookieNames { return p.cookieNames(p.isSecure(r)) }

// cookieNames are the cookie names for a request over HTTPS (secure) or
// plain HTTP.
func (p *Portal) cookieNames(secure bool) cookieNames {
	if !secure {
		return plainNames
	}
	n := hostNames
	if p.cfg.CookieDomain != "" {
		n.session = domainSessionName
	}
	return n
}

// insecureOK reports whether a plain-HTTP request may be served (loopback
// only), warning once in the log when it is. Both the Host header and the
// connection's peer must be loopback: the Host header alone is the
// client's to choose.
func (p *Portal) insecureOK(r *http.Request) bool {
	if p.isSecure(r) {
		return true
	}
	if !p.fromThisMachine(r) {
		return false
	}
	p.insecureWarned.Do(func() {
		p.log.Warn("serving sign-in over plain HTTP on loopback: cookies are not marked Secure; use HTTPS for anything but a local demo",
			zap.String("host", p.hostOf(r)))
	})
	return true
}

// fromThisMachine reports whether both the site name and the connecting
// client are loopback: the Host header alone is the client's to choose.
func (p *Portal) fromThisMachine(r *http.Request) bool {
	return isLoopbackHost(p.hostOf(r)) && isLoopbackHost(remoteIP(r))
}

// audience is what a session issued for a request to host (without port,
// lower case) is valid for.
func (p *Portal) audience(host string) string {
	if p.cfg.CookieDomain != "" && inCookieDomain(host, p.cfg.CookieDomain) {
		return "." + p.cfg.CookieDomain
	}
	return host
}

func remoteIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
