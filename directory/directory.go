// Package directory is where Stepgate's users come from: the interface the
// portal and the account service use to authenticate, look up and list
// users, and, where the directory lets Stepgate write to it, to add users
// and change them. The users file (verifiers/password) is one
// implementation; an LDAP or Active Directory server (directory/ldap) is
// another.
//
// Every implementation keeps its users in memory: Lookup, LookupWithGroups
// and Users never do I/O, because the per-request path calls them. Only
// Authenticate (a sign-in) and Reload (in the background) may talk to
// something outside the process.
package directory

import (
	"context"
	"errors"
	"time"

	"github.com/stepgate/stepgate/verifiers"
)

// Directory is a source of users.
type Directory interface {
	// Name says which directory this is, for messages and logs: "the
	// users file /etc/stepgate/users.yaml", "the LDAP directory
	// ldaps://dc1.example.com".
	Name() string

	// Lookup returns the user with the given (normalised) name, from
	// memory.
	Lookup(name string) (verifiers.User, bool)
	// LookupWithGroups is Lookup plus the user's groups joined with
	// commas (the Remote-Groups value): one map lookup for the
	// per-request path.
	LookupWithGroups(name string) (verifiers.User, string, bool)
	// Users returns every user, sorted by name.
	Users() []verifiers.User
	// Len is the number of users.
	Len() int

	// Authenticate checks a username and password for a client whose
	// network is source (verifiers.SourceKey of its address). It returns
	// the user (which may be disabled: the caller decides what to say)
	// and whether the password matched. A name nobody has must take as
	// long as a known one. Errors: a *TooManyAttemptsError (from the
	// password package) when source used its budget of failed attempts,
	// ErrUnavailable (wrapped) when the directory cannot be reached, ctx's
	// error when it ended, or a *PasswordError when the directory refuses
	// a right password for a reason the user must hear (expired).
	Authenticate(ctx context.Context, source, name, password string) (verifiers.User, bool, error)
	// CheckSource reports whether source may have a password checked now
	// without using its budget (see password.Directory.CheckSource).
	CheckSource(ctx context.Context, source string) error
	// TakeSourceAttempt uses one attempt of source's budget for a check
	// that needs no password (a Temporary Access Pass).
	TakeSourceAttempt(ctx context.Context, source string) (giveBack func(), err error)

	// Reload reads the users again now, reporting whether they changed.
	// On error the users in memory stay in force.
	Reload() (bool, error)
	// Watch reloads every interval until ctx ends, reporting each change
	// (with the number of users) and each new error.
	Watch(ctx context.Context, interval time.Duration, reloaded func(n int), failed func(error))
}

// Aliaser is a Directory where a person may sign in under several names
// (Active Directory's sAMAccountName and userPrincipalName). Canonical
// maps a typed, normalised name to the username it signs in as, from
// memory, so that every name of one account shares its lockout; a name it
// does not know is returned as it is.
type Aliaser interface {
	Canonical(name string) string
}

// Canonical is name as d's users are counted: d's Canonical when it has
// one, else name.
func Canonical(d Directory, name string) string {
	if a, ok := d.(Aliaser); ok && name != "" {
		return a.Canonical(name)
	}
	return name
}

// PasswordHelper is a Directory that keeps its users' passwords and says
// where to change them: PasswordHelp finishes "Change it …" ("at
// https://passwords.example.com").
type PasswordHelper interface {
	PasswordHelp() string
}

// Editor is a Directory Stepgate may write to: `stepgate user add`,
// disable, enable, and password changes and resets. A directory that is
// not an Editor (LDAP) is managed with its own tools.
type Editor interface {
	Directory
	// AddUser adds a user.
	AddUser(ctx context.Context, u NewUser) error
	// ChangeUser changes one user, reporting whether anything changed
	// (false when it already was so). A name the directory does not have
	// is an error wrapping ErrNoSuchUser.
	ChangeUser(ctx context.Context, name string, c Change) (bool, error)
}

// NewUser is a user to add.
type NewUser struct {
	Name        string
	DisplayName string
	Email       string
	Groups      []string
	// Hash is the password hash (password.Hash).
	Hash string
}

// Change is what ChangeUser changes in one user; nil fields stay.
type Change struct {
	// Hash replaces the password hash (password.Hash).
	Hash *string
	// Disabled disables or enables the user.
	Disabled *bool
}

// ErrNoSuchUser is wrapped by ChangeUser for a name the directory does not
// have.
var ErrNoSuchUser = errors.New("no such user")

// ErrUnavailable is wrapped by Authenticate when the directory cannot be
// reached: the sign-in is refused with "temporarily unavailable" (503),
// never as a wrong password.
var ErrUnavailable = errors.New("the user directory is unavailable")

// PasswordError is a right password the directory will not accept now,
// with what to tell the user ("Your password has expired: …").
type PasswordError struct {
	// Reason is said to the user as it is.
	Reason string
}

func (e *PasswordError) Error() string { return e.Reason }
