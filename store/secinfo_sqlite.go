package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// signInEventMemory is how long sign-in events are kept.
const signInEventMemory = 90 * 24 * time.Hour

// RecordSignInEvent implements Store. The insert and the trim are one
// transaction: however many attempts an attacker makes on one account,
// that account keeps no more than MaxSignInEvents rows.
func (s *sqlStore) RecordSignInEvent(ctx context.Context, e SignInEvent) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording sign-in event: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("recording sign-in event: %w", err)
		}
	}()
	if err = s.lockKeys(ctx, tx, "events:"+e.Username); err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx,
		`INSERT INTO sign_in_events (username, at, method, client_ip, site, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.Username, e.At.UnixMilli(), e.Method, e.ClientIP, e.Site, e.Outcome, e.Detail); err != nil {
		return err
	}
	// The subquery finds the newest event past the ones kept (none, NULL,
	// while the user has no more than MaxSignInEvents); it and every
	// older event go.
	if _, err = tx.ExecContext(ctx,
		`DELETE FROM sign_in_events WHERE username = ? AND id <= (
		   SELECT id FROM sign_in_events WHERE username = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
		e.Username, e.Username, MaxSignInEvents); err != nil {
		return err
	}
	return tx.Commit()
}

// RecentSignInEvents implements Store. Events are ordered by when they
// were recorded (their id), not by At, so that the list and the trim in
// RecordSignInEvent agree on which are newest even if clocks of several
// instances differ.
func (s *sqlStore) RecentSignInEvents(ctx context.Context, username string, n int) ([]SignInEvent, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT username, at, method, client_ip, site, outcome, detail FROM sign_in_events
		 WHERE username = ? ORDER BY id DESC LIMIT ?`, username, n)
	if err != nil {
		return nil, fmt.Errorf("reading sign-in events: %w", err)
	}
	defer rows.Close()
	var out []SignInEvent
	for rows.Next() {
		var e SignInEvent
		var at int64
		if err := rows.Scan(&e.Username, &at, &e.Method, &e.ClientIP, &e.Site, &e.Outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("reading sign-in events: %w", err)
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// countMethods counts the user's methods: one for an authenticator
// secret, one for a phone number, one per push device, one per credential.
// q is the database or a transaction.
func countMethods(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, username string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM security_info WHERE username = ? AND totp_secret IS NOT NULL)
		      + (SELECT count(*) FROM security_info WHERE username = ? AND phone != '')
		      + (SELECT count(*) FROM push_devices WHERE username = ?)
		      + (SELECT count(*) FROM credentials WHERE username = ?)`,
		username, username, username, username).Scan(&n)
	return n, err
}

// MethodCount implements Store.
func (s *sqlStore) MethodCount(ctx context.Context, username string) (int, error) {
	n, err := countMethods(ctx, s.db, username)
	if err != nil {
		return 0, fmt.Errorf("counting methods: %w", err)
	}
	return n, nil
}

// RemoveMethod implements Store. The user's security_info row is touched
// (lockUser) before anything is counted: two removals of one user's last
// two methods, in this process or another, then run one after the other
// and the second sees the first's result, also on a database that locks
// rows rather than the whole file. (A refused removal rolls back, so a
// user without a row is not given one.) Every statement names the user,
// so an ID of another user's device or credential reads as ErrNotFound
// and changes nothing.
func (s *sqlStore) RemoveMethod(ctx context.Context, username string, m MethodRef, keepOne bool) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("removing method: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrLastMethod) {
				err = fmt.Errorf("removing method: %w", err)
			}
		}
	}()
	if err = lockUser(ctx, tx, username); err != nil {
		return err
	}
	n, err := countMethods(ctx, tx, username)
	if err != nil {
		return err
	}

	found := false
	credMethod := ""
	switch m.Kind {
	case KindTOTP:
		err = tx.QueryRowContext(ctx, `SELECT totp_secret IS NOT NULL FROM security_info WHERE username = ?`, username).Scan(&found)
	case KindPhone:
		err = tx.QueryRowContext(ctx, `SELECT phone != '' FROM security_info WHERE username = ?`, username).Scan(&found)
	case KindPushDevice:
		err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM push_devices WHERE id = ? AND username = ?)`, m.ID, username).Scan(&found)
	case KindCredential:
		err = tx.QueryRowContext(ctx, `SELECT method FROM credentials WHERE id = ? AND username = ?`, m.ID, username).Scan(&credMethod)
		found = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	default:
		return fmt.Errorf("unknown method kind %q", m.Kind)
	}
	if err != nil {
		return err
	}
	if !found {
		return ErrNotFound
	}
	if keepOne && n <= 1 {
		return ErrLastMethod
	}

	// gone lists the values of default_method that name a method the user
	// no longer has after this removal.
	var gone []string
	switch m.Kind {
	case KindTOTP:
		err = removeTOTP(ctx, tx, username)
		gone = []string{"totp"}
	case KindPhone:
		err = removePhone(ctx, tx, username)
		gone = []string{"sms", "voice"}
	case KindPushDevice:
		if _, err = tx.ExecContext(ctx, `DELETE FROM push_devices WHERE id = ? AND username = ?`, m.ID, username); err != nil {
			return err
		}
		var left bool
		if err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM push_devices WHERE username = ?)`, username).Scan(&left); err != nil {
			return err
		}
		if !left {
			err = expirePendingPush(ctx, tx, username)
			gone = []string{"push"}
		}
	case KindCredential:
		if _, err = tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ? AND username = ?`, m.ID, username); err != nil {
			return err
		}
		var left bool
		if err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM credentials WHERE username = ? AND method = ?)`,
			username, credMethod).Scan(&left); err != nil {
			return err
		}
		if !left {
			gone = []string{credMethod}
		}
	}
	if err != nil {
		return err
	}
	for _, method := range gone {
		if _, err = tx.ExecContext(ctx, `UPDATE security_info SET default_method = '' WHERE username = ? AND default_method = ?`,
			username, method); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// removeTOTP forgets the user's authenticator secret and when it was
// added. totp_last_step stays: forgetting which time steps were used
// could only ever let a code be used twice.
func removeTOTP(ctx context.Context, tx *sql.Tx, username string) error {
	_, err := tx.ExecContext(ctx, `UPDATE security_info SET totp_secret = NULL, totp_added_at = 0 WHERE username = ?`, username)
	return err
}

// removePhone forgets the user's phone number and when it was added, and
// fails the calls still ringing on it: a call to a removed phone (it may
// be lost) must not be able to approve a sign-in any more.
func removePhone(ctx context.Context, tx *sql.Tx, username string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE security_info SET phone = '', phone_added_at = 0 WHERE username = ?`, username); err != nil {
		return err
	}
	return failPendingCalls(ctx, tx, username, "phone removed")
}

// failPendingCalls moves the user's pending calls to CallFailed with
// detail, so that no answer to them can approve a sign-in.
func failPendingCalls(ctx context.Context, tx *sql.Tx, username, detail string) error {
	_, err := tx.ExecContext(ctx, `UPDATE calls SET state = ?, detail = ? WHERE username = ? AND state = ?`,
		CallFailed, detail, username, CallPending)
	return err
}

// expirePendingPush marks the user's pending approval requests
// PushExpired. It is called when the user's last device goes: no device
// is left to answer them, so they end now rather than at their expiry.
func expirePendingPush(ctx context.Context, tx *sql.Tx, username string) error {
	_, err := tx.ExecContext(ctx, `UPDATE push_requests SET state = ? WHERE username = ? AND state = ?`,
		PushExpired, username, PushPending)
	return err
}

// SetDefaultMethod implements Store.
func (s *sqlStore) SetDefaultMethod(ctx context.Context, username, method string) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO security_info (username, default_method, updated_at) VALUES (?, ?, ?)
		 ON CONFLICT (username) DO UPDATE SET default_method = excluded.default_method, updated_at = excluded.updated_at`,
		username, method, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("storing default method: %w", err)
	}
	return nil
}
