package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutPushEnrolment implements Store.
func (s *sqlStore) PutPushEnrolment(ctx context.Context, tokenHash []byte, challengeID, username string, expires time.Time, firstMethod bool) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO push_enrolments (token_hash, challenge_id, username, expires_at, first_method) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, challengeID, username, expires.UnixMilli(), firstMethod)
	if err != nil {
		return fmt.Errorf("storing enrolment token: %w", err)
	}
	return nil
}

// DropPushEnrolments implements Store.
func (s *sqlStore) DropPushEnrolments(ctx context.Context, username string) error {
	if err := dropPushEnrolments(ctx, s.db, username); err != nil {
		return fmt.Errorf("dropping enrolment tokens: %w", err)
	}
	return nil
}

// dropPushEnrolments deletes the user's unused enrolment tokens, so that
// none can enrol a device any more. q is the database or a transaction.
func dropPushEnrolments(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, username string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM push_enrolments WHERE username = ? AND device_id = ''`, username)
	return err
}

// EnrolPushDevice implements Store: the token's conditional UPDATE, the
// check that the user has no method yet, the device limit and the
// device's INSERT commit together or not at all.
func (s *sqlStore) EnrolPushDevice(ctx context.Context, tokenHash []byte, d PushDevice, now time.Time) (_ PushDevice, challengeID string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return d, "", fmt.Errorf("enrolling device: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrAlreadySetUp) && !errors.Is(err, ErrTooManyDevices) {
				err = fmt.Errorf("enrolling device: %w", err)
			}
		}
	}()
	var first bool
	err = tx.QueryRowContext(ctx,
		`UPDATE push_enrolments SET device_id = ? WHERE token_hash = ? AND device_id = '' AND expires_at > ?
		 RETURNING username, challenge_id, first_method`, d.ID, tokenHash, now.UnixMilli()).Scan(&d.Username, &challengeID, &first)
	if errors.Is(err, sql.ErrNoRows) {
		return d, "", ErrNotFound
	}
	if err != nil {
		return d, "", err
	}
	// A kept set-up link must not add a phone to an account that has
	// since been set up (by its owner, or by this link's other uses).
	if first {
		err = lockNoMethod(ctx, tx, d.Username)
	} else {
		err = lockUser(ctx, tx, d.Username)
	}
	if err != nil {
		return d, "", err
	}
	// Counted under the user's lock, so that enrolments racing with
	// different tokens cannot each see room for one more. A refusal rolls
	// back the token's use: the user can remove a device and try again.
	var n int
	if err = tx.QueryRowContext(ctx, `SELECT count(*) FROM push_devices WHERE username = ?`, d.Username).Scan(&n); err != nil {
		return d, "", err
	}
	if n >= MaxPushDevices {
		return d, "", ErrTooManyDevices
	}
	d.Created = now
	if _, err = tx.ExecContext(ctx,
		`INSERT INTO push_devices (id, username, name, public_key, subscription, gone, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)`,
		d.ID, d.Username, d.Name, d.PublicKey, d.Subscription, now.UnixMilli()); err != nil {
		return d, "", err
	}
	return d, challengeID, tx.Commit()
}

// PushEnrolled implements Store.
func (s *sqlStore) PushEnrolled(ctx context.Context, challengeID string) (PushDevice, error) {
	var id string
	err := s.db.QueryRowContext(ctx,
		`SELECT device_id FROM push_enrolments WHERE challenge_id = ? AND device_id != '' AND finished = 0 LIMIT 1`, challengeID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return PushDevice{}, ErrNotFound
	}
	if err != nil {
		return PushDevice{}, fmt.Errorf("reading enrolment: %w", err)
	}
	return s.PushDevice(ctx, id)
}

// FinishPushEnrolment implements Store. The guarded UPDATE is the
// check-and-set: of racing finishes (a replayed pending cookie), one sees
// a row.
func (s *sqlStore) FinishPushEnrolment(ctx context.Context, challengeID, username string) (PushDevice, error) {
	var id string
	err := s.db.QueryRowContext(ctx,
		`UPDATE push_enrolments SET finished = 1
		 WHERE challenge_id = ? AND username = ? AND device_id != '' AND finished = 0
		   AND EXISTS (SELECT 1 FROM push_devices WHERE id = push_enrolments.device_id AND username = ?)
		 RETURNING device_id`, challengeID, username, username).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return PushDevice{}, ErrNotFound
	}
	if err != nil {
		return PushDevice{}, fmt.Errorf("finishing enrolment: %w", err)
	}
	return s.PushDevice(ctx, id)
}

const pushDeviceColumns = `id, username, name, public_key, subscription, gone, created_at, last_used_at`

func scanPushDevice(row interface{ Scan(...any) error }) (PushDevice, error) {
	var d PushDevice
	var gone int
	var created, lastUsed int64
	err := row.Scan(&d.ID, &d.Username, &d.Name, &d.PublicKey, &d.Subscription, &gone, &created, &lastUsed)
	d.Gone, d.Created, d.LastUsed = gone != 0, time.UnixMilli(created), fromMilli(lastUsed)
	return d, err
}

// PushDevices implements Store.
func (s *sqlStore) PushDevices(ctx context.Context, username string) ([]PushDevice, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+pushDeviceColumns+` FROM push_devices WHERE username = ? ORDER BY created_at, id`, username)
	if err != nil {
		return nil, fmt.Errorf("reading devices: %w", err)
	}
	defer rows.Close()
	var out []PushDevice
	for rows.Next() {
		d, err := scanPushDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("reading devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PushDevice implements Store.
func (s *sqlStore) PushDevice(ctx context.Context, id string) (PushDevice, error) {
	d, err := scanPushDevice(s.db.QueryRowContext(ctx, `SELECT `+pushDeviceColumns+` FROM push_devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("reading device: %w", err)
	}
	return d, nil
}

// RenamePushDevice implements Store.
func (s *sqlStore) RenamePushDevice(ctx context.Context, id, name string) error {
	return s.updateDevice(ctx, `UPDATE push_devices SET name = ? WHERE id = ?`, name, id)
}

// DeletePushDevice implements Store.
func (s *sqlStore) DeletePushDevice(ctx context.Context, username, id string) error {
	return s.RemoveMethod(ctx, username, MethodRef{Kind: KindPushDevice, ID: id}, false)
}

// SetPushSubscription implements Store.
func (s *sqlStore) SetPushSubscription(ctx context.Context, id, subscription string, gone bool) error {
	return s.updateDevice(ctx, `UPDATE push_devices SET subscription = ?, gone = ? WHERE id = ?`, subscription, gone, id)
}

func (s *sqlStore) updateDevice(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("updating device: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ErrNotFound
	}
	return nil
}

// PutPushRequest implements Store.
func (s *sqlStore) PutPushRequest(ctx context.Context, r PushRequest, maxPending int) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing approval request: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			if !errors.Is(err, ErrTooManyPending) {
				err = fmt.Errorf("storing approval request: %w", err)
			}
		}
	}()
	if err = s.lockKeys(ctx, tx, "push:"+r.Username); err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx, `UPDATE push_requests SET state = ? WHERE challenge_id = ? AND state = ?`,
		PushReplaced, r.ChallengeID, PushPending); err != nil {
		return err
	}
	var n int
	if err = tx.QueryRowContext(ctx, `SELECT count(*) FROM push_requests WHERE username = ? AND state = ? AND expires_at > ?`,
		r.Username, PushPending, r.Created.UnixMilli()).Scan(&n); err != nil {
		return err
	}
	if n >= maxPending {
		return ErrTooManyPending
	}
	if _, err = tx.ExecContext(ctx,
		`INSERT INTO push_requests (id, challenge_id, username, number, choices, state, client_ip, host, created_at, expires_at)
		 VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?)`,
		r.ID, r.ChallengeID, r.Username, r.Number, PushPending, r.ClientIP, r.Host,
		r.Created.UnixMilli(), r.Expires.UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// The column choices is no longer used (the phone once offered three
// numbers to pick from); new rows store ”.
const pushRequestColumns = `id, challenge_id, username, number, state, detail, device_id, client_ip, host, created_at, expires_at`

func scanPushRequest(row interface{ Scan(...any) error }, now time.Time) (PushRequest, error) {
	var r PushRequest
	var created, expires int64
	if err := row.Scan(&r.ID, &r.ChallengeID, &r.Username, &r.Number, &r.State, &r.Detail, &r.Device,
		&r.ClientIP, &r.Host, &created, &expires); err != nil {
		return r, err
	}
	r.Created, r.Expires = time.UnixMilli(created), time.UnixMilli(expires)
	if r.State == PushPending && !now.Before(r.Expires) {
		r.State = PushExpired
	}
	return r, nil
}

// PendingPushRequests implements Store.
func (s *sqlStore) PendingPushRequests(ctx context.Context, username string, now time.Time) ([]PushRequest, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+pushRequestColumns+` FROM push_requests WHERE username = ? AND state = ? AND expires_at > ?
		 ORDER BY created_at DESC, id`, username, PushPending, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("reading approval requests: %w", err)
	}
	defer rows.Close()
	var out []PushRequest
	for rows.Next() {
		r, err := scanPushRequest(rows, now)
		if err != nil {
			return nil, fmt.Errorf("reading approval requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LatestPushRequest implements Store.
func (s *sqlStore) LatestPushRequest(ctx context.Context, challengeID, username string, now time.Time) (PushRequest, error) {
	r, err := scanPushRequest(s.db.QueryRowContext(ctx,
		`SELECT `+pushRequestColumns+` FROM push_requests WHERE challenge_id = ? AND username = ?
		 ORDER BY created_at DESC, rowid DESC LIMIT 1`, challengeID, username), now)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("reading approval request: %w", err)
	}
	return r, nil
}

// SetPushState implements Store.
func (s *sqlStore) SetPushState(ctx context.Context, id, username, from, to, detail, device string, now time.Time) (_ bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("updating approval request: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("updating approval request: %w", err)
		}
	}()
	// Only a pending request can expire: an approval already given stays
	// good for the sign-in waiting on it.
	res, err := tx.ExecContext(ctx,
		`UPDATE push_requests SET state = ?, detail = ?, device_id = CASE WHEN ? = '' THEN device_id ELSE ? END
		 WHERE id = ? AND username = ? AND state = ? AND (state != ? OR expires_at > ?)`,
		to, detail, device, device, id, username, from, PushPending, now.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n != 1 {
		return false, tx.Rollback()
	}
	if to == PushApproved && device != "" {
		// The username condition keeps a request from marking another
		// user's device as used.
		if _, err = tx.ExecContext(ctx, `UPDATE push_devices SET last_used_at = ? WHERE id = ? AND username = ?`,
			now.UnixMilli(), device, username); err != nil {
			return false, err
		}
	}
	if err = tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}

// ExpirePushRequests implements Store.
func (s *sqlStore) ExpirePushRequests(ctx context.Context, username string, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE push_requests SET state = ? WHERE username = ? AND state = ? AND expires_at <= ?`,
		PushExpired, username, PushPending, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("expiring approval requests: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Setting implements Store.
func (s *sqlStore) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("reading setting %s: %w", key, err)
	}
	return v, nil
}

// InitSetting implements Store.
func (s *sqlStore) InitSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", fmt.Errorf("storing setting %s: %w", key, err)
	}
	return s.Setting(ctx, key)
}
