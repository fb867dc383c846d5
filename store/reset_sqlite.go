package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ResetMethods implements Store. It takes the user's lock (lockUser)
// before counting, as RemoveMethod does, so that a method added or
// removed concurrently is either counted and removed or added after the
// reset; and it removes each kind with RemoveMethod's own helpers, so a
// reset has the side effects removing each method one by one would have.
func (s *sqlStore) ResetMethods(ctx context.Context, username string, grant bool, now time.Time) (_ int, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("resetting methods: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("resetting methods: %w", err)
		}
	}()
	if err = lockUser(ctx, tx, username); err != nil {
		return 0, err
	}
	n, err := countMethods(ctx, tx, username)
	if err != nil {
		return 0, err
	}
	if err = removeTOTP(ctx, tx, username); err != nil {
		return 0, err
	}
	if err = removePhone(ctx, tx, username); err != nil {
		return 0, err
	}
	if _, err = tx.ExecContext(ctx, `DELETE FROM push_devices WHERE username = ?`, username); err != nil {
		return 0, err
	}
	if err = expirePendingPush(ctx, tx, username); err != nil {
		return 0, err
	}
	// A set-up link issued before the reset (perhaps to whoever made the
	// reset necessary) must not enrol a device after it: with no method
	// left, a first-method token would pass lockNoMethod's check.
	if err = dropPushEnrolments(ctx, tx, username); err != nil {
		return 0, err
	}
	if _, err = tx.ExecContext(ctx, `DELETE FROM credentials WHERE username = ?`, username); err != nil {
		return 0, err
	}
	if _, err = tx.ExecContext(ctx, `UPDATE security_info SET default_method = '' WHERE username = ?`, username); err != nil {
		return 0, err
	}
	if grant {
		at := now
		if at.IsZero() {
			at = time.Now()
		}
		if _, err = tx.ExecContext(ctx, `UPDATE security_info SET registration_granted_at = ? WHERE username = ?`,
			at.UnixMilli(), username); err != nil {
			return 0, err
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// RegistrationGranted implements Store.
func (s *sqlStore) RegistrationGranted(ctx context.Context, username string) (bool, error) {
	var granted bool
	err := s.db.QueryRowContext(ctx, `SELECT registration_granted_at != 0 FROM security_info WHERE username = ?`, username).Scan(&granted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading registration grant: %w", err)
	}
	return granted, nil
}

// ClearRegistrationGrant implements Store.
func (s *sqlStore) ClearRegistrationGrant(ctx context.Context, username string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE security_info SET registration_granted_at = 0 WHERE username = ?`, username); err != nil {
		return fmt.Errorf("clearing registration grant: %w", err)
	}
	return nil
}
