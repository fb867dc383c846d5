// Package caddymodule plugs Stepgate into Caddy: the `stepgate` app (global
// option), the `http.handlers.stepgate` handler (site directive), their
// Caddyfile syntax, and the `stepgate user` commands. It is the only package
// that imports Caddy; all logic lives in portal, account, verifiers and
// store.
package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/portal"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `stepgate` Caddy app: the users directory, the secrets, the
// store and the sign-in portal shared by every site that uses the
// `stepgate` handler.
type App struct {
	// UsersFile is the path of the YAML users file (identities, groups,
	// password hashes). Changes are picked up without a restart.
	UsersFile string `json:"users_file,omitempty"`

	// Directory takes the users from an LDAP server instead of a users
	// file (one or the other).
	Directory *DirectoryConfig `json:"directory,omitempty"`

	// Secret derives the cookie, CSRF and at-rest encryption keys. At least
	// 32 bytes; use a placeholder such as {env.STEPGATE_SECRET}. Every
	// instance serving the same sites needs the same secret.
	Secret string `json:"secret,omitempty"`

	// SecretFile reads the secret from a file instead. If the file does not
	// exist, Stepgate creates it with 32 random bytes (mode 0600).
	SecretFile string `json:"secret_file,omitempty"`

	// OldSecrets are previous secrets, still accepted when reading cookies
	// and stored secrets, so a rotation does not sign everyone out.
	OldSecrets []string `json:"old_secrets,omitempty"`

	// Store is where security info, failure counters and revocations live.
	Store *StoreConfig `json:"store,omitempty"`

	// Session sets the session cookie's timeouts and domain.
	Session *SessionConfig `json:"session,omitempty"`

	// MethodsRaw are more second-step methods, as modules in the
	// stepgate.methods namespace (see MethodModule).
	MethodsRaw []json.RawMessage `json:"methods,omitempty" caddy:"namespace=stepgate.methods inline_key=method"`

	// SecurityInfo configures the Security info page, where users manage
	// their own sign-in methods.
	SecurityInfo *SecurityInfoConfig `json:"security_info,omitempty"`

	// TOTP configures authenticator app codes.
	TOTP *TOTPConfig `json:"totp,omitempty"`

	// Registration configures what users may set up during sign-in.
	Registration *RegistrationConfig `json:"registration,omitempty"`

	// PasswordReset turns on self-service password reset: "Forgot my
	// password?" on the password step. Off when absent.
	PasswordReset *PasswordResetConfig `json:"password_reset,omitempty"`

	// Branding shows the organisation's name, logo and colour on every
	// page and in the Stepgate Authenticator. Without it the pages show
	// Stepgate's own.
	Branding *BrandingConfig `json:"branding,omitempty"`
	// Languages chooses the languages offered, the default one and the
	// administrator's own wording.
	Languages *LanguagesConfig `json:"languages,omitempty"`

	// HelpContact tells users who to contact when they cannot sign in, e.g.
	// "IT help desk, extension 4357".
	HelpContact string `json:"help_contact,omitempty"`
	// Announce is a line the stepgate command prints once every site is
	// served ("Stepgate demo: open http://localhost:8080 …"); with it, the
	// command also refuses to start when a site's port already answers.
	// For development set-ups such as the demo; the module ignores it.
	Announce string `json:"announce,omitempty"`
	// PortalURL is a central portal's origin (https://auth.example.com),
	// a site with `stepgate portal` inside the session's cookie_domain:
	// protected sites send people there to sign in.
	PortalURL string `json:"portal_url,omitempty"`

	// Lockout configures the back-off after failed attempts.
	Lockout *LockoutConfig `json:"lockout,omitempty"`

	// SMS turns on text-message codes.
	SMS *SMSConfig `json:"sms,omitempty"`
	// Voice turns on phone calls.
	Voice *VoiceConfig `json:"voice,omitempty"`
	// Push turns on authenticator app notifications.
	Push *PushConfig `json:"push,omitempty"`
	// Passkeys turns on passkeys and security keys.
	Passkeys *PasskeysConfig `json:"passkeys,omitempty"`
	// PublicURL is the https address of a protected site as Twilio reaches
	// it: press-# calls post their answers to PublicURL/.stepgate/twilio/….
	PublicURL string `json:"public_url,omitempty"`
	// AllowedCountries are the country calling codes ("+1", "+44") phone
	// numbers may have. Default: the country of the Twilio from number.
	AllowedCountries []string `json:"allowed_countries,omitempty"`
	// SendLimits are the abuse limits on sending codes.
	SendLimits *SendLimitsConfig `json:"send_limits,omitempty"`
	// OutboxAllowed lets the development outbox serve clients that are not
	// on this machine (a shared test deployment). Never with real users.
	OutboxAllowed bool `json:"outbox_allowed,omitempty"`

	// PasswordCPU is the percentage of the machine's CPU time password
	// hashing may take in the long run (default 10; 100 removes the
	// ceiling). It keeps a flood of password attempts from many addresses
	// from starving the proxied traffic.
	PasswordCPU float64 `json:"password_cpu,omitempty"`
	// PasswordCPUBurst is how much hashing time (of one core) may be spent
	// beyond PasswordCPU after a quiet spell, so that many people signing
	// in at the same moment are not held to the long-run share
	// (default 10s).
	PasswordCPUBurst caddy.Duration `json:"password_cpu_burst,omitempty"`
	// PasswordAttempts is the budget of failed password attempts per
	// client network (default 20 per minute).
	PasswordAttempts *PasswordAttemptsConfig `json:"password_attempts,omitempty"`
	// PasswordHash sets the argon2id parameters of password hashes
	// (default 19 MiB, 2 passes, 1 lane). Stored hashes with other
	// parameters, and bcrypt hashes, are replaced at the user's next
	// successful sign-in.
	PasswordHash *PasswordHashConfig `json:"password_hash,omitempty"`

	portal   *portal.Portal
	store    store.Store
	users    directory.Directory
	gateHeld bool // this app holds a reference to the shared hashing gate
	logger   *zap.Logger
	cancel   context.CancelFunc
}

// PasswordAttemptsConfig is the budget of failed password attempts per
// client network: an IPv4 address, or an IPv6 /64 (the address is Caddy's
// client_ip, which honours trusted_proxies).
type PasswordAttemptsConfig struct {
	// Count is how many failed attempts a network may make in a row before
	// its next attempt is refused (429, "Too many sign-in attempts from
	// your network") without checking the password. A correct password
	// gives its attempt back. Default 20.
	Count int `json:"count,omitempty"`
	// Per is how long a network takes to regain all Count attempts
	// (default 1m).
	Per caddy.Duration `json:"per,omitempty"`
}

// PasswordHashConfig sets the argon2id parameters of password hashes.
type PasswordHashConfig struct {
	// MemoryKiB is the memory one password check uses, in KiB (default
	// 19456, 19 MiB). At most half the cores check passwords at once, so
	// hashing holds at most that many times this much memory.
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	// Passes is the number of passes over the memory (default 2).
	Passes uint32 `json:"passes,omitempty"`
	// Lanes is the number of lanes, each of which can use a core (default 1).
	Lanes uint8 `json:"lanes,omitempty"`
}

// hashingGates holds the process's password hashing gate while any
// configuration uses it (Caddy's way of keeping state across reloads).
var hashingGates = caddy.NewUsagePool()

const hashingGateKey = "stepgate.password"

// sharedGate is the hashing gate in hashingGates.
type sharedGate struct{ *password.Gate }

// Destruct has nothing to release: the gate holds no resources.
func (sharedGate) Destruct() error { return nil }

// StoreConfig selects the persistent store.
type StoreConfig struct {
	// Type is the store's kind: "sqlite" (the default) or "postgres".
	Type string `json:"type,omitempty"`
	// Path is the SQLite database file. Default: stepgate/state.db in
	// Caddy's data directory.
	Path string `json:"path,omitempty"`
	// URL is the PostgreSQL database (postgres://user:password@host/db),
	// placeholders allowed: {env.STEPGATE_PG_URL}.
	URL string `json:"url,omitempty"`
}

// openStore opens the store the config names.
func (a *App) openStore(repl *caddy.Replacer) (store.Store, error) {
	if a.Store != nil && a.Store.Type == "postgres" {
		return openPostgres(repl.ReplaceKnown(a.Store.URL, ""))
	}
	path, err := a.sqlitePath(repl)
	if err != nil {
		return nil, err
	}
	return store.OpenSQLite(path)
}

// openPostgres opens the PostgreSQL store at url, waiting at most 15 s
// for the server.
func openPostgres(url string) (store.Store, error) {
	if url == "" {
		return nil, errors.New("store postgres: the URL is empty (is its environment variable set?)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return store.OpenPostgres(ctx, url)
}

// SecurityInfoConfig configures the Security info page.
type SecurityInfoConfig struct {
	// Reauth is how recent a second step must be before a user changes
	// their sign-in methods (default 10m, at least 1s).
	Reauth caddy.Duration `json:"reauth,omitempty"`
}

// SessionConfig sets session timeouts and scope.
type SessionConfig struct {
	// Lifetime is the absolute session timeout (default 12h).
	Lifetime caddy.Duration `json:"lifetime,omitempty"`
	// Idle signs the user out after this long without a request (default 1h).
	Idle caddy.Duration `json:"idle,omitempty"`
	// CookieDomain shares the session with every subdomain of this domain
	// (single sign-on). Empty: the session belongs to one host.
	CookieDomain string `json:"cookie_domain,omitempty"`
	// Remember offers "Stay signed in?" after sign-in: a session that
	// lasts this long, with no idle timeout (off when zero).
	Remember caddy.Duration `json:"remember,omitempty"`
	// RememberDevice offers "Don't ask again on this device": the second
	// step is skipped on that browser for this long (off when zero).
	RememberDevice caddy.Duration `json:"remember_device,omitempty"`
}

// TOTPConfig configures authenticator app codes.
type TOTPConfig struct {
	// Issuer is the account name's label in authenticator apps.
	Issuer string `json:"issuer,omitempty"`
}

// RegistrationConfig configures set-up during sign-in.
type RegistrationConfig struct {
	// FirstSignIn walks a user who has no verification method through
	// setting up an authenticator app right after their password. Off by
	// default: then such users must ask an administrator.
	FirstSignIn bool `json:"first_sign_in,omitempty"`
}

// PasswordResetConfig configures self-service password reset: a user who
// forgot their password verifies it's them with Methods different
// verification methods of theirs and chooses a new one, which ends
// every session they had.
type PasswordResetConfig struct {
	// Methods is how many different verification methods a reset needs:
	// 1 or 2 (default 2).
	Methods int `json:"methods,omitempty"`
}

// LanguagesConfig is the languages the pages speak.
type LanguagesConfig struct {
	// Offer are the languages offered (BCP 47 tags of the ones Stepgate
	// speaks: en de fr es pt-BR it nl pl ja zh-Hans); none: all of them.
	// One language alone shows no language switcher.
	Offer []string `json:"offer,omitempty"`
	// Default is spoken when a browser asks for none offered; default en.
	Default string `json:"default,omitempty"`
	// Overrides is a directory of <language>.toml files whose messages
	// replace Stepgate's words (any message ID of the catalogues).
	Overrides string `json:"overrides,omitempty"`
}

// BrandingConfig is the organisation's look on the sign-in pages and in
// the Stepgate Authenticator.
type BrandingConfig struct {
	// Name is the organisation's name ("Example Corp"), at most 60
	// characters: shown in every page's header, in page titles ("Sign in ·
	// Example Corp") and in the Authenticator's name ("Example Corp
	// Authenticator").
	Name string `json:"name,omitempty"`
	// Logo is the organisation's logo, shown in every page's header beside
	// Name (which it needs): the path of a PNG, JPEG, WebP or SVG file of
	// at most 256 KiB, read when the config loads and served by the portal,
	// or an https:// URL the browser loads it from.
	Logo string `json:"logo,omitempty"`
	// Color is the colour of buttons and links, "#rgb" or "#rrggbb". White
	// text on it must have a contrast of at least 4.5:1 (WCAG AA), so a
	// lighter colour is refused. Default "#0067b8".
	Color string `json:"color,omitempty"`
}

// LockoutConfig is the back-off after failed attempts, per account and
// method.
type LockoutConfig struct {
	// Threshold is the number of failures in a row allowed before back-off
	// (default 5).
	Threshold int `json:"threshold,omitempty"`
	// BaseDelay is the first wait (default 1m); it doubles per failure.
	BaseDelay caddy.Duration `json:"base_delay,omitempty"`
	// MaxDelay caps the wait (default 1h).
	MaxDelay caddy.Duration `json:"max_delay,omitempty"`
	// HardLimit locks the method until an administrator unlocks it
	// (default 50, at most 100).
	HardLimit int `json:"hard_limit,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepgate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision loads the users file, the secret and the store, and builds the
// portal. Every failure names what is wrong and how to fix it.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	if err := a.openDirectory(repl); err != nil {
		return err
	}
	// One hashing gate per process, kept across config reloads: the old
	// configuration's sign-ins in flight and the new one's share its
	// slots (and so its memory bound) and its per-network budgets.
	g, _, err := hashingGates.LoadOrNew(hashingGateKey, func() (caddy.Destructor, error) {
		return sharedGate{password.NewGate()}, nil
	})
	if err != nil {
		return err
	}
	a.gateHeld = true
	a.users.(interface{ UseGate(*password.Gate) }).UseGate(g.(sharedGate).Gate)

	secrets, err := a.secrets(repl)
	if err != nil {
		return err
	}

	st, err := a.openStore(repl)
	if err != nil {
		return err
	}
	a.store = st

	cfg := portal.Config{
		Users:       a.users,
		Store:       a.store,
		Secrets:     secrets,
		HelpContact: a.HelpContact,
		PortalURL:   a.PortalURL,
		Logger:      a.logger,
		ClientIP: func(r *http.Request) string {
			if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
				return ip
			}
			return r.RemoteAddr
		},
		// Caddy marks a request whose peer is in the server's
		// trusted_proxies; only then are X-Forwarded-Proto and
		// X-Forwarded-Host believed.
		TrustedProxy: func(r *http.Request) bool {
			trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
			return trusted
		},
	}
	if a.Session != nil {
		cfg.Lifetime = time.Duration(a.Session.Lifetime)
		cfg.Remember = time.Duration(a.Session.Remember)
		cfg.RememberDevice = time.Duration(a.Session.RememberDevice)
		cfg.Idle = time.Duration(a.Session.Idle)
		cfg.CookieDomain = a.Session.CookieDomain
	}
	if a.SecurityInfo != nil {
		// A second step's time is kept in whole seconds, so a window
		// under a second could never be met: every change would ask to
		// verify again, forever.
		switch reauth := time.Duration(a.SecurityInfo.Reauth); {
		case reauth < 0:
			return fmt.Errorf("security_info: reauth must not be negative")
		case reauth > 0 && reauth < time.Second:
			return fmt.Errorf("security_info: reauth must be at least 1s, not %s", reauth)
		}
		cfg.Reauth = time.Duration(a.SecurityInfo.Reauth)
	}
	if a.TOTP != nil {
		cfg.Issuer = a.TOTP.Issuer
	}
	if a.Registration != nil {
		cfg.FirstSignInRegistration = a.Registration.FirstSignIn
	}
	if a.PasswordReset != nil {
		if n := a.PasswordReset.Methods; n != 0 && n != 1 && n != 2 {
			a.store.Close()
			return fmt.Errorf("password_reset: methods must be 1 or 2, not %d", n)
		}
		cfg.PasswordReset, cfg.PasswordResetMethods = true, a.PasswordReset.Methods
	}
	if b := a.Branding; b != nil {
		logo := repl.ReplaceKnown(b.Logo, "")
		if logo == "" && b.Logo != "" {
			a.store.Close()
			return fmt.Errorf("branding: logo %q is empty after replacing placeholders: is the environment variable set?", b.Logo)
		}
		cfg.Branding = portal.Branding{Name: b.Name, Logo: logo, Color: b.Color}
	}
	if l := a.Languages; l != nil {
		dir := repl.ReplaceKnown(l.Overrides, "")
		if dir == "" && l.Overrides != "" {
			a.store.Close()
			return fmt.Errorf("languages: overrides %q is empty after replacing placeholders: is the environment variable set?", l.Overrides)
		}
		cfg.Languages = messages.Config{Offer: l.Offer, Fallback: l.Default, Overrides: dir}
	}
	cfg.Lockout = a.lockout()
	if err = a.phonePortalConfig(repl, &cfg); err != nil {
		a.store.Close()
		return err
	}
	if err = a.pushPortalConfig(repl, &cfg); err != nil {
		a.store.Close()
		return err
	}
	if err = a.passkeyPortalConfig(&cfg); err != nil {
		a.store.Close()
		return err
	}
	if cfg.Methods, err = a.loadMethods(ctx); err != nil {
		a.store.Close()
		return err
	}
	var built atomic.Pointer[portal.Portal]
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		m, err := newMetrics(reg, func() float64 {
			if p := built.Load(); p != nil {
				return p.RevocationFeedAge().Seconds()
			}
			return 0
		})
		if err != nil {
			a.store.Close()
			return fmt.Errorf("registering metrics: %w", err)
		}
		cfg.Observer = m
		cfg.Store = store.Timed(cfg.Store, m.storeOp)
	}
	p, err := portal.New(cfg)
	if err != nil {
		a.store.Close()
		return err
	}
	a.portal = p
	built.Store(p)
	return nil
}

// usersFilePath is users_file with its placeholders replaced. The
// `stepgate user` commands read the same value from the config.
func (a *App) usersFilePath(repl *caddy.Replacer) string {
	return repl.ReplaceKnown(a.UsersFile, "")
}

// defaultSQLitePath is the SQLite store used when the config names none:
// stepgate/state.db in Caddy's data directory.
func defaultSQLitePath() string {
	return filepath.Join(caddy.AppDataDir(), "stepgate", "state.db")
}

// sqlitePath is the SQLite database the store config names (placeholders
// replaced), or defaultSQLitePath. The `stepgate user` commands open the
// same file.
func (a *App) sqlitePath(repl *caddy.Replacer) (string, error) {
	sc := StoreConfig{Type: "sqlite"}
	if a.Store != nil {
		sc = *a.Store
	}
	switch sc.Type {
	case "postgres":
		return "", errors.New("the store is PostgreSQL, not a SQLite file")
	case "", "sqlite":
		path := repl.ReplaceKnown(sc.Path, "")
		if path == "" {
			path = defaultSQLitePath()
		}
		return path, nil
	default:
		return "", fmt.Errorf("unknown store %q: the supported stores are sqlite and postgres", sc.Type)
	}
}

// lockout is the portal's lockout policy from the lockout option (unset
// fields are filled by the portal).
func (a *App) lockout() portal.Lockout {
	if a.Lockout == nil {
		return portal.Lockout{}
	}
	return portal.Lockout{
		Threshold: a.Lockout.Threshold, BaseDelay: time.Duration(a.Lockout.BaseDelay),
		MaxDelay: time.Duration(a.Lockout.MaxDelay), HardLimit: a.Lockout.HardLimit,
	}
}

// openDirectory opens the users file or the LDAP directory, with the
// password_* options applied.
func (a *App) openDirectory(repl *caddy.Replacer) error {
	switch {
	case a.Directory != nil && a.UsersFile != "":
		return errors.New("both users_file and directory are configured: the users come from one or the other")
	case a.Directory != nil:
		if a.PasswordHash != nil {
			return errors.New("password_hash applies to the users file; with `directory ldap` the directory keeps the passwords")
		}
		d, err := openLDAP(a.Directory, repl, a.logger.Named("directory"))
		if err != nil {
			return err
		}
		a.users = d
		return a.passwordLimits(d, nil)
	case a.UsersFile == "":
		return errors.New("no users_file configured: add `stepgate { users_file /path/to/users.yaml … }` (or `directory ldap { … }`) to the Caddyfile's global options")
	}
	users, err := password.Open(a.usersFilePath(repl))
	if err != nil {
		return err
	}
	a.users = users
	users.SetLogger(a.logger)
	return a.passwordLimits(users, users)
}

// passwordLimits applies the password_* options to the users directory
// (and password_hash to the users file, when it is one).
func (a *App) passwordLimits(users interface{ SetLimits(password.Limits) }, file *password.Directory) error {
	var lim password.Limits
	switch {
	case a.PasswordCPU == 0:
	case a.PasswordCPU < 1 || a.PasswordCPU > 100:
		return fmt.Errorf("password_cpu %g%%: must be between 1%% and 100%%", a.PasswordCPU)
	default:
		lim.CPUShare = a.PasswordCPU / 100
	}
	if a.PasswordCPUBurst < 0 {
		return fmt.Errorf("password_cpu_burst %s: must not be negative", time.Duration(a.PasswordCPUBurst))
	}
	lim.CPUBurst = time.Duration(a.PasswordCPUBurst)
	if pa := a.PasswordAttempts; pa != nil {
		if pa.Count < 0 || pa.Per < 0 {
			return fmt.Errorf("password_attempts %d per %s: must not be negative", pa.Count, time.Duration(pa.Per))
		}
		lim.Attempts, lim.Per = pa.Count, time.Duration(pa.Per)
	}
	users.SetLimits(lim)
	if ph := a.PasswordHash; ph != nil && file != nil {
		p := password.DefaultParams
		if ph.MemoryKiB != 0 {
			p.Memory = ph.MemoryKiB
		}
		if ph.Passes != 0 {
			p.Time = ph.Passes
		}
		if ph.Lanes != 0 {
			p.Threads = ph.Lanes
		}
		if err := file.SetParams(p); err != nil {
			return fmt.Errorf("password_hash: %w", err)
		}
	}
	return nil
}

// secrets returns the current secret followed by the old ones.
func (a *App) secrets(repl *caddy.Replacer) ([]string, error) {
	secret := repl.ReplaceKnown(a.Secret, "")
	switch {
	case a.Secret != "" && a.SecretFile != "":
		return nil, errors.New("set either secret or secret_file, not both")
	case a.SecretFile != "":
		var err error
		if secret, err = readOrCreateSecret(repl.ReplaceKnown(a.SecretFile, ""), a.logger); err != nil {
			return nil, err
		}
	case secret == "" && a.Secret != "":
		return nil, fmt.Errorf("secret %q is empty after replacing placeholders: is the environment variable set?", a.Secret)
	case secret == "":
		return nil, errors.New("no secret configured: set `secret {env.STEPGATE_SECRET}` (at least 32 bytes) or `secret_file PATH`")
	}
	// portal.New checks every secret's length.
	out := []string{secret}
	for _, old := range a.OldSecrets {
		out = append(out, repl.ReplaceKnown(old, ""))
	}
	return out, nil
}

// readOrCreateSecret reads a secret file, creating it with a random secret
// when it does not exist yet.
func readOrCreateSecret(path string, log *zap.Logger) (string, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(raw)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading secret_file: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("creating secret_file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating secret_file: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("writing secret_file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing secret_file: %w", err)
	}
	log.Warn("created a new random secret; every instance serving these sites needs the same one", zap.String("secret_file", path))
	return secret, nil
}

// Start begins watching the users file and syncing revocations.
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go a.users.Watch(ctx, 2*time.Second,
		func(n int) {
			a.logger.Info("users reloaded", zap.String("directory", a.users.Name()), zap.Int("users", n))
		},
		func(err error) {
			a.logger.Error("users not reloaded; still using the last good version", zap.String("directory", a.users.Name()), zap.Error(err))
		})
	go a.portal.Run(ctx, 2*time.Second)
	if a.users.Len() == 0 {
		a.logger.Warn("no users; nobody can sign in", zap.String("directory", a.users.Name()))
	}
	return nil
}

// Stop ends the background work.
func (a *App) Stop() error {
	if a.cancel != nil {
		a.cancel()
	}
	return nil
}

// Cleanup closes the store and lets go of the hashing gate.
func (a *App) Cleanup() error {
	if a.gateHeld {
		a.gateHeld = false
		hashingGates.Delete(hashingGateKey)
	}
	if a.store != nil {
		return a.store.Close()
	}
	return nil
}

// Portal returns the app's portal (for the handler).
func (a *App) Portal() *portal.Portal { return a.portal }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
