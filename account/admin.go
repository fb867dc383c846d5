package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

// Disable marks the user `disabled: true` in the users file and ends their
// sessions: a running gateway refuses them from its next look at the file
// (within a few seconds), and the sessions stay ended when the user is
// enabled again. It reports whether the user was enabled before.
func (s *Service) Disable(ctx context.Context, name string) (bool, error) {
	u, err := s.user(name)
	if err != nil {
		return false, err
	}
	yes := true
	changed, err := s.changeUser(ctx, u.Name, directory.Change{Disabled: &yes})
	if err != nil {
		return false, err
	}
	if _, err := s.endSessions(ctx, u.Name); err != nil {
		return changed, err
	}
	if changed {
		s.remember(ctx, "user-disabled", u.Name)
	}
	return changed, nil
}

// Enable removes `disabled: true` from the user's entry. It reports whether
// the user was disabled before. Sessions ended by Disable stay ended.
func (s *Service) Enable(ctx context.Context, name string) (bool, error) {
	u, err := s.user(name)
	if err != nil {
		return false, err
	}
	no := false
	changed, err := s.changeUser(ctx, u.Name, directory.Change{Disabled: &no})
	if err != nil {
		return false, err
	}
	if changed {
		s.remember(ctx, "user-enabled", u.Name)
	}
	return changed, nil
}

// SignOut ends every session of the user, on every gateway instance that
// shares the store: sessions issued before the next whole second stop
// working within the instances' revocation poll (2 s).
func (s *Service) SignOut(ctx context.Context, name string) error {
	name, err := s.checkUser(name)
	if err != nil {
		return err
	}
	if _, err := s.endSessions(ctx, name); err != nil {
		return err
	}
	s.remember(ctx, "user-signed-out", name)
	return nil
}

// endSessions revokes every session of the user issued before the next
// whole second (a session's issue time is kept in whole seconds), forgets
// the browsers remembered to skip the second step, and returns the
// revocation as stored. The revocation is kept for at least
// store.UserRevocationKept, whatever the session settings. It is kept as long as such a session
// could live.
func (s *Service) endSessions(ctx context.Context, name string) (store.Revocation, error) {
	if s.cfg.Store == nil {
		return store.Revocation{}, errNoStore
	}
	now := s.cfg.Now()
	rv := store.Revocation{Username: name, NotBefore: now.Truncate(time.Second).Add(time.Second), Expires: now.Add(max(s.cfg.SessionLifetime, store.UserRevocationKept) + time.Minute)}
	stored, err := s.cfg.Store.Revoke(ctx, rv)
	if err != nil {
		return store.Revocation{}, fmt.Errorf("ending %s's sessions: %w", name, err)
	}
	// A browser remembered to skip the second step is ended with the
	// sessions: whoever made the user end them may hold one.
	if _, err := s.cfg.Store.ForgetDevices(ctx, name); err != nil {
		return stored, fmt.Errorf("forgetting %s's remembered browsers: %w", name, err)
	}
	return stored, nil
}

// SetPassword sets the user's password in the users file, after the
// password policy (password.CheckNewPassword), and ends the user's
// sessions: a password is changed because it may be known to someone
// else. The users file is written under its lock, so a concurrent change
// of another user is kept. It returns the revocation of the sessions: a
// session issued from its NotBefore on survives it (the portal reissues
// the session of a user who changes their own password so).
func (s *Service) SetPassword(ctx context.Context, name, pw string) (store.Revocation, error) {
	u, err := s.user(name)
	if err != nil {
		return store.Revocation{}, err
	}
	if err := password.CheckNewPassword(pw, u.Name, u.DisplayName); err != nil {
		return store.Revocation{}, err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return store.Revocation{}, err
	}
	if _, err := s.changeUser(ctx, u.Name, directory.Change{Hash: &hash}); err != nil {
		return store.Revocation{}, err
	}
	rv, err := s.endSessions(ctx, u.Name)
	if err != nil {
		return rv, err
	}
	s.remember(ctx, "password-set", u.Name)
	return rv, nil
}

// changeUser changes the user in the directory.
func (s *Service) changeUser(ctx context.Context, name string, c directory.Change) (bool, error) {
	ed, err := s.editor(false)
	if err != nil {
		return false, err
	}
	changed, err := ed.ChangeUser(ctx, name, c)
	if errors.Is(err, directory.ErrNoSuchUser) {
		return false, &UnknownUserError{Name: name, Directory: ed.Name()}
	}
	return changed, err
}

// ResetMethods removes every sign-in method of the user (authenticator
// app, phone, devices, other credentials), ends their sessions, and lets
// them set up one method at their next sign-in, also where first-sign-in
// registration is off. It returns how many methods it removed.
func (s *Service) ResetMethods(ctx context.Context, name string) (int, error) {
	name, err := s.checkUser(name)
	if err != nil {
		return 0, err
	}
	if s.cfg.Store == nil {
		return 0, errNoStore
	}
	n, err := s.cfg.Store.ResetMethods(ctx, name, true, s.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("removing %s's methods: %w", name, err)
	}
	if _, err := s.endSessions(ctx, name); err != nil {
		return n, err
	}
	s.remember(ctx, "methods-reset", name, zap.Int("removed", n))
	return n, nil
}
