package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

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

// signInEventMemory is how long sign-in events are kept.
const signInEventMemory = 90 * 24 * time.Hour

// RecordSignInEvent implements Store. The insert and the trim are one
// transaction: however many attempts an attacker makes on one account,
// that account keeps no more than MaxSignInEvents rows.
func (s *SQLite) RecordSignInEvent(ctx context.Context, e SignInEvent) (err error) {
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
	if _, err = tx.ExecContext(ctx,
		`INSERT INTO sign_in_events (username, at, method, client_ip, site, outcome) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Username, e.At.UnixMilli(), e.Method, e.ClientIP, e.Site, e.Outcome); err != nil {
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
func (s *SQLite) RecentSignInEvents(ctx context.Context, username string, n int) ([]SignInEvent, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT username, at, method, client_ip, site, outcome FROM sign_in_events
		 WHERE username = ? ORDER BY id DESC LIMIT ?`, username, n)
	if err != nil {
		return nil, fmt.Errorf("reading sign-in events: %w", err)
	}
	defer rows.Close()
	var out []SignInEvent
	for rows.Next() {
		var e SignInEvent
		var at int64
		if err := rows.Scan(&e.Username, &at, &e.Method, &e.ClientIP, &e.Site, &e.Outcome); err != nil {
			return nil, fmt.Errorf("reading sign-in events: %w", err)
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
