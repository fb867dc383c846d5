package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
)

// A Temporary Access Pass lets a user who lost their methods sign in once
// (or, reusable, until it expires) without a password or a second step,
// to set up new methods. These are its limits.
const (
	DefaultPassLength   = 16
	MinPassLength       = 8
	MaxPassLength       = 48
	DefaultPassLifetime = time.Hour
	MinPassLifetime     = 10 * time.Minute
	MaxPassLifetime     = 30 * 24 * time.Hour
)

// passAlphabet has capital letters and digits, without those that look
// alike in common fonts (0 O Q D, 1 I, 2 Z, 5 S, 8 B) and none that needs
// escaping in a shell or a URL. Typed passes are read without regard to
// case, spaces or dashes, so a user who reads one aloud or types it in
// lower case still gets in: 8 characters carry 36 bits, the default 16
// carry 73.
const passAlphabet = "34679ACEFGHJKLMNPRTUVWXY"

// PassOptions are how IssueAccessPass makes a pass; zero fields are the
// defaults.
type PassOptions struct {
	// Length in characters (8–48, default 16).
	Length int
	// Lifetime from now (10m–30d, default 1h).
	Lifetime time.Duration
	// Reusable passes can be used until they expire; others once.
	Reusable bool
}

// IssuedPass is a pass as IssueAccessPass made it. The pass itself is
// shown once: only its hash is kept.
type IssuedPass struct {
	// Pass is what the user types.
	Pass string `json:"pass"`
	// Expires is when it stops working.
	Expires time.Time `json:"expires"`
	// Reusable: it works until Expires, not only once.
	Reusable bool `json:"reusable"`
}

// ErrBadPass is what UseAccessPass returns for a pass that does not work:
// wrong, expired, already used, or no pass at all (the same error for
// each, so a page cannot tell them apart).
var ErrBadPass = errors.New("that Temporary Access Pass isn't valid: it may be mistyped, used, or expired")

// IssueAccessPass makes a new Temporary Access Pass for the user,
// replacing any pass they had, and returns it. Only a keyed hash of it is
// stored.
func (s *Service) IssueAccessPass(ctx context.Context, name string, o PassOptions) (IssuedPass, error) {
	if o.Length == 0 {
		o.Length = DefaultPassLength
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultPassLifetime
	}
	if o.Length < MinPassLength || o.Length > MaxPassLength {
		return IssuedPass{}, fmt.Errorf("a Temporary Access Pass has %d to %d characters, not %d", MinPassLength, MaxPassLength, o.Length)
	}
	if o.Lifetime < MinPassLifetime || o.Lifetime > MaxPassLifetime {
		return IssuedPass{}, fmt.Errorf("a Temporary Access Pass lasts from %s to %s (720h), not %s", MinPassLifetime, "30 days", o.Lifetime)
	}
	if len(s.cfg.PassKeys) == 0 {
		why := "pass --config with the Caddyfile the server runs"
		if s.cfg.PassKeyErr != nil {
			why = s.cfg.PassKeyErr.Error()
		}
		return IssuedPass{}, fmt.Errorf("Temporary Access Passes are hashed with a key from the gateway's secret: %s", why)
	}
	name, err := s.checkUser(name)
	if err != nil {
		return IssuedPass{}, err
	}
	if s.cfg.Store == nil {
		return IssuedPass{}, errNoStore
	}
	pass := make([]byte, o.Length)
	for i := range pass {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passAlphabet))))
		if err != nil {
			return IssuedPass{}, err
		}
		pass[i] = passAlphabet[n.Int64()]
	}
	now := s.cfg.Now()
	p := store.AccessPass{Username: name, Hash: passHash(s.cfg.PassKeys[0], name, string(pass)), Created: now, Expires: now.Add(o.Lifetime), Reusable: o.Reusable}
	if err := s.cfg.Store.PutAccessPass(ctx, p); err != nil {
		return IssuedPass{}, fmt.Errorf("storing %s's Temporary Access Pass: %w", name, err)
	}
	s.remember(ctx, "access-pass-issued", name, zap.Time("expires", p.Expires), zap.Bool("reusable", p.Reusable), zap.Int("length", o.Length))
	return IssuedPass{Pass: string(pass), Expires: p.Expires, Reusable: p.Reusable}, nil
}

// UseAccessPass checks the user's pass and uses it up (a single-use pass
// works once, also when tried twice at the same moment). It returns the
// pass as stored, or ErrBadPass. It does not check that the user exists:
// the caller does, so that it can spend the same time on unknown names.
func (s *Service) UseAccessPass(ctx context.Context, name, pass string) (store.AccessPass, error) {
	if s.cfg.Store == nil {
		return store.AccessPass{}, errNoStore
	}
	pass = NormalizePass(pass)
	now := s.cfg.Now()
	// Passes issued under an old secret still work until they expire.
	for _, key := range s.cfg.PassKeys {
		p, err := s.cfg.Store.UseAccessPass(ctx, name, passHash(key, name, pass), now)
		if errors.Is(err, store.ErrNoAccessPass) {
			continue
		}
		if err != nil {
			return store.AccessPass{}, err
		}
		s.audit("access-pass-used", name, zap.Time("expires", p.Expires), zap.Bool("reusable", p.Reusable))
		return p, nil
	}
	return store.AccessPass{}, ErrBadPass
}

// NormalizePass is a typed pass as it was issued: upper case, without
// spaces, tabs or dashes, and cut at MaxPassLength+1 characters (longer
// is wrong anyway).
func NormalizePass(typed string) string {
	b := make([]byte, 0, MaxPassLength+1)
	for i := 0; i < len(typed) && len(b) <= MaxPassLength; i++ {
		c := typed[i]
		switch {
		case c == ' ' || c == '\t' || c == '-':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// passHash is the keyed hash a pass is stored as, bound to its user.
func passHash(key []byte, user, pass string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(pass))
	return m.Sum(nil)
}

var errNoStore = errors.New("no store: pass --config with the Caddyfile that names the store, or --store PATH")
