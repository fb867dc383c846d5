package account

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

// NewUser is a user to Add.
type NewUser struct {
	// Name is the username: lower case letters, digits and . _ @ -, at
	// most 64.
	Name string
	// DisplayName is the full name (optional).
	DisplayName string
	// Email is the email address (optional).
	Email string
	// Groups are the user's groups (optional).
	Groups []string
	// Password is the user's password; it is stored as an argon2id hash.
	Password string
}

// CheckName returns an error when name cannot be a new user's name.
func CheckName(name string) error {
	if password.NormalizeName(name) != name {
		return fmt.Errorf("invalid username %q: use lower case letters, digits and . _ @ - (at most 64)", name)
	}
	return nil
}

// Add adds a user to the users file, creating the file (mode 0600) when
// it does not exist. The file is replaced atomically under the users
// file's lock, so concurrent writers lose none of each other's changes.
func (s *Service) Add(ctx context.Context, u NewUser) error {
	ed, err := s.editor(true)
	if err != nil {
		return err
	}
	if err := CheckName(u.Name); err != nil {
		return err
	}
	if err := password.CheckNewPassword(u.Password, u.Name, u.DisplayName); err != nil {
		return err
	}
	hash, err := password.Hash(u.Password)
	if err != nil {
		return err
	}
	if err := ed.AddUser(ctx, directory.NewUser{Name: u.Name, DisplayName: u.DisplayName, Email: u.Email, Groups: u.Groups, Hash: hash}); err != nil {
		return err
	}
	where := zap.String("directory", ed.Name())
	if f, ok := ed.(*password.Directory); ok {
		where = zap.String("users_file", f.Path())
	}
	s.audit("user-added", u.Name, where, zap.Strings("groups", u.Groups))
	return nil
}

// Unlock clears every failure counter of the user: it ends a lockout, and
// turns phone calls and sign-in requests back on after a fraud report. It
// returns how many counters it cleared.
func (s *Service) Unlock(ctx context.Context, name string) (int, error) {
	name, err := s.checkUser(name)
	if err != nil {
		return 0, err
	}
	n, err := s.cfg.Store.UnlockUser(ctx, name)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.audit("user-unlocked", name, zap.Int("counters_cleared", n))
	}
	return n, nil
}

// Devices lists the user's Stepgate Authenticator devices, oldest first.
func (s *Service) Devices(ctx context.Context, name string) ([]Device, error) {
	name, err := s.checkUser(name)
	if err != nil {
		return nil, err
	}
	devs, err := s.cfg.Store.PushDevices(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s's devices: %w", name, err)
	}
	out := []Device{}
	for _, d := range devs {
		notify := "on"
		switch {
		case d.Gone:
			notify = "stopped"
		case d.Subscription == "":
			notify = "off"
		}
		out = append(out, Device{ID: d.ID, Name: d.Name, Created: d.Created, LastUsed: timeOrNil(d.LastUsed), Notifications: notify})
	}
	return out, nil
}

// NoDeviceError is returned by RemoveDevice when the user has no device
// with that ID.
type NoDeviceError struct {
	// User is the user, ID the device ID asked for.
	User, ID string
}

// Error says which device the user does not have, and how to list theirs.
func (e *NoDeviceError) Error() string {
	return fmt.Sprintf("%s has no device %q (run `stepgate user devices %s` to list them)", e.User, e.ID, e.User)
}

// Credentials lists the user's methods kept as generic credentials
// (passkeys and security keys), oldest first.
func (s *Service) Credentials(ctx context.Context, name string) ([]Credential, error) {
	name, err := s.checkUser(name)
	if err != nil {
		return nil, err
	}
	cs, err := s.cfg.Store.Credentials(ctx, name, "")
	if err != nil {
		return nil, fmt.Errorf("reading %s's credentials: %w", name, err)
	}
	out := []Credential{}
	for _, c := range cs {
		out = append(out, Credential{ID: c.ID, Method: c.Method, Name: c.Name, Created: c.Created, LastUsed: timeOrNil(c.LastUsed)})
	}
	return out, nil
}

// RemoveDevice removes one of the user's devices (a lost phone) or
// credentials (a lost security key), even their last method: its answers
// are refused from then on.
func (s *Service) RemoveDevice(ctx context.Context, name, id string) error {
	name, err := s.checkUser(name)
	if err != nil {
		return err
	}
	err = s.cfg.Store.DeletePushDevice(ctx, name, id)
	if errors.Is(err, store.ErrNotFound) {
		err = s.cfg.Store.RemoveMethod(ctx, name, store.MethodRef{Kind: store.KindCredential, ID: id}, false)
	}
	if errors.Is(err, store.ErrNotFound) {
		return &NoDeviceError{User: name, ID: id}
	} else if err != nil {
		return err
	}
	s.audit("device-removed", name, zap.String("device", id))
	return nil
}
