// Package account does what administrators (and, later, users on the
// portal's pages) do to an account: list and show users, add a user,
// unlock an account, list and remove a user's devices. Each operation
// that changes something logs its audit event and makes its change in the
// users file or the store; the `stepgate user` commands only parse their
// arguments, call a Service and print what it returns.
package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/password"
)

// ErrNoUsersFile is returned by operations that need the users file when
// the Service has none.
var ErrNoUsersFile = errors.New("no users file: pass --config with the Caddyfile that names users_file, or --users-file PATH")

// UnknownUserError is returned when a name is not in the directory.
type UnknownUserError struct {
	// Name is the name asked for.
	Name string
	// Directory names the directory it is not in ("the users file …").
	Directory string
}

// Error says which name is not in which directory.
func (e *UnknownUserError) Error() string {
	return fmt.Sprintf("no user %q in %s (`stepgate user list` lists them)", e.Name, e.Directory)
}

// ReadOnlyError is returned by operations that change users (add, disable,
// enable, set a password) when the users come from a directory Stepgate
// does not write to.
type ReadOnlyError struct {
	// Directory names it ("the LDAP directory …").
	Directory string
}

func (e *ReadOnlyError) Error() string {
	return fmt.Sprintf("the users come from %s: add, disable and change them there", e.Directory)
}

// Config is what a Service works on.
type Config struct {
	// Users is the user directory (the gateway's, kept up to date in
	// memory). Nil: UsersFile is read at each operation.
	Users directory.Directory
	// UsersFile is the path of the users file, read afresh by each
	// operation (the `stepgate user` commands), when Users is nil. Both
	// empty: operations that need users fail with ErrNoUsersFile, and
	// those that only touch the store (Unlock, Devices, RemoveDevice) do
	// not check that the user exists.
	UsersFile string
	// Store holds the users' methods, counters and activity.
	Store store.Store
	// Logger receives the audit events (nil: none are logged).
	Logger *zap.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Backoff is the lockout policy the gateway applies (portal.Lockout's
	// Wait), used to tell whether an account is locked now. Nil: no
	// account is reported locked (the failure counts are still shown).
	Backoff store.Backoff
	// PassKeys are the keys Temporary Access Passes are hashed with: the
	// current one first (new passes), then older ones (still accepted).
	// portal.AccessPassKeys derives them from the gateway's secrets.
	PassKeys [][]byte
	// PassKeyErr is why there are no PassKeys (the config's secret could
	// not be read), for IssueAccessPass to say.
	PassKeyErr error
	// SessionLifetime is the gateway's session lifetime: how long a
	// revocation of a user's sessions must be kept (default 12h).
	SessionLifetime time.Duration
	// PhoneMethods are the names a phone number is listed under ("sms",
	// "voice": the ones the gateway offers). Empty: "phone".
	PhoneMethods []string
}

// Service does account operations on one users file and store.
type Service struct {
	cfg Config
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 12 * time.Hour
	}
	if len(cfg.PhoneMethods) == 0 {
		cfg.PhoneMethods = []string{"phone"}
	}
	return &Service{cfg: cfg}
}

// UsersFile is the users file the Service works on ("" when none).
func (s *Service) UsersFile() string {
	if f, ok := s.cfg.Users.(*password.Directory); ok {
		return f.Path()
	}
	return s.cfg.UsersFile
}

// DirectoryName names where the users come from: "the users file …",
// "the LDAP directory …".
func (s *Service) DirectoryName() string {
	if s.cfg.Users != nil {
		return s.cfg.Users.Name()
	}
	return "the users file " + s.cfg.UsersFile
}

// hasUsers reports whether the Service has a directory of users.
func (s *Service) hasUsers() bool { return s.cfg.Users != nil || s.cfg.UsersFile != "" }

// directory returns the user directory: the configured one, or the users
// file as it is now.
func (s *Service) directory() (directory.Directory, error) {
	switch {
	case s.cfg.Users != nil:
		return s.cfg.Users, nil
	case s.cfg.UsersFile == "":
		return nil, ErrNoUsersFile
	}
	return password.Open(s.cfg.UsersFile)
}

// CheckEditable reports whether users can be added and changed: nil, or
// ErrNoUsersFile, or a *ReadOnlyError (the users come from LDAP).
func (s *Service) CheckEditable() error {
	_, err := s.editor(true)
	return err
}

// editor returns the user directory to change users in: an error when
// there is none or Stepgate does not write to it. With missingOK a users
// file that does not exist yet is an empty one (AddUser creates it).
func (s *Service) editor(missingOK bool) (directory.Editor, error) {
	var d directory.Directory
	var err error
	if s.cfg.Users == nil && missingOK && s.cfg.UsersFile != "" {
		if d, err = password.OpenOrEmpty(s.cfg.UsersFile); err != nil {
			return nil, fmt.Errorf("%w (not changed)", err)
		}
	} else {
		d, err = s.directory()
	}
	if err != nil {
		return nil, err
	}
	ed, ok := d.(directory.Editor)
	if !ok {
		return nil, &ReadOnlyError{Directory: d.Name()}
	}
	return ed, nil
}

// Lookup returns the user called name from the users file, or an
// *UnknownUserError.
func (s *Service) Lookup(name string) (verifiers.User, error) { return s.user(name) }

// user returns the user called name from the users file.
func (s *Service) user(name string) (verifiers.User, error) {
	d, err := s.directory()
	if err != nil {
		return verifiers.User{}, err
	}
	u, ok := d.Lookup(password.NormalizeName(name))
	if !ok {
		return verifiers.User{}, &UnknownUserError{Name: name, Directory: d.Name()}
	}
	return u, nil
}

// checkUser returns the normalised name of a user who must exist when
// the Service has a users file; without one it returns name as given.
func (s *Service) checkUser(name string) (string, error) {
	if !s.hasUsers() {
		return name, nil
	}
	u, err := s.user(name)
	return u.Name, err
}

// audit logs an account event: what was done, to whom, and the details.
func (s *Service) audit(event, user string, fields ...zap.Field) {
	s.cfg.Logger.Info("account event", append([]zap.Field{zap.String("event", event), zap.String("user", user)}, fields...)...)
}

// remember logs an account event and keeps it in the user's Recent
// activity, where they see what was done to their account.
func (s *Service) remember(ctx context.Context, event, user string, fields ...zap.Field) {
	s.audit(event, user, fields...)
	if s.cfg.Store == nil {
		return
	}
	if err := s.cfg.Store.RecordSignInEvent(ctx, store.SignInEvent{Username: user, At: s.cfg.Now(), Outcome: event}); err != nil {
		s.cfg.Logger.Error("recording an account event for Recent activity", zap.String("event", event), zap.String("user", user), zap.Error(err))
	}
}
