package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// eventDetail is the same migration on both backends: the name of the
// credential a Recent activity entry was about.
const eventDetail = `ALTER TABLE sign_in_events ADD COLUMN detail TEXT NOT NULL DEFAULT ''`

// rememberedDevicesTable is the same migration on both backends: every
// column is a plain type both understand. Times are unix milliseconds.
const rememberedDevicesTable = `CREATE TABLE remembered_devices (
		id           TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		name         TEXT NOT NULL DEFAULT '',
		created_at   BIGINT NOT NULL,
		expires_at   BIGINT NOT NULL,
		last_used_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX remembered_devices_by_user ON remembered_devices (username, created_at);`

const rememberedColumns = `id, username, name, created_at, expires_at, last_used_at`

// RememberDevice implements Store. The insert and the trim run in one
// transaction under the user's lock, so parallel sign-ins cannot leave
// the user with more than max devices.
func (s *sqlStore) RememberDevice(ctx context.Context, d RememberedDevice, max int) (bool, error) {
	if d.ID == "" || d.Username == "" || max < 1 {
		return false, errors.New("remembering device: id, username and a positive limit are required")
	}
	created, err := func() (bool, error) {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return false, err
		}
		defer tx.Rollback()
		if err := lockUser(ctx, tx, d.Username); err != nil {
			return false, err
		}
		var owner string
		switch err := tx.QueryRowContext(ctx, `SELECT username FROM remembered_devices WHERE id = ?`, d.ID).Scan(&owner); {
		case err == nil && owner == d.Username:
			return false, nil
		case err == nil:
			return false, errors.New("the device ID belongs to another user")
		case !errors.Is(err, sql.ErrNoRows):
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO remembered_devices (`+rememberedColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			d.ID, d.Username, d.Name, d.Created.UnixMilli(), d.Expires.UnixMilli(), toMilli(d.LastUsed)); err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM remembered_devices WHERE username = ? AND id NOT IN
			(SELECT id FROM remembered_devices WHERE username = ? ORDER BY created_at DESC, id DESC LIMIT ?)`,
			d.Username, d.Username, max); err != nil {
			return false, err
		}
		return true, tx.Commit()
	}()
	if err != nil {
		return false, fmt.Errorf("remembering device: %w", err)
	}
	return created, nil
}

// RememberedDevice implements Store.
func (s *sqlStore) RememberedDevice(ctx context.Context, username, id string, now time.Time) (RememberedDevice, error) {
	d, err := scanRemembered(s.db.QueryRowContext(ctx, `SELECT `+rememberedColumns+` FROM remembered_devices
		WHERE id = ? AND username = ? AND expires_at > ?`, id, username, now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return RememberedDevice{}, ErrNotFound
	}
	if err != nil {
		return RememberedDevice{}, fmt.Errorf("reading remembered device: %w", err)
	}
	return d, nil
}

// RememberedDevices implements Store.
func (s *sqlStore) RememberedDevices(ctx context.Context, username string, now time.Time) ([]RememberedDevice, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+rememberedColumns+` FROM remembered_devices
		WHERE username = ? AND expires_at > ? ORDER BY created_at DESC, id DESC`, username, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("reading remembered devices: %w", err)
	}
	defer rows.Close()
	var out []RememberedDevice
	for rows.Next() {
		d, err := scanRemembered(rows)
		if err != nil {
			return nil, fmt.Errorf("reading remembered devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// TouchRememberedDevice implements Store.
func (s *sqlStore) TouchRememberedDevice(ctx context.Context, username, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE remembered_devices SET last_used_at = ? WHERE id = ? AND username = ?`,
		at.UnixMilli(), id, username); err != nil {
		return fmt.Errorf("recording use of remembered device: %w", err)
	}
	return nil
}

// ForgetDevice implements Store.
func (s *sqlStore) ForgetDevice(ctx context.Context, username, id string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM remembered_devices WHERE id = ? AND username = ?`, id, username)
	if err != nil {
		return false, fmt.Errorf("forgetting device: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ForgetDevices implements Store.
func (s *sqlStore) ForgetDevices(ctx context.Context, username string) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM remembered_devices WHERE username = ?`, username)
	if err != nil {
		return 0, fmt.Errorf("forgetting devices: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func scanRemembered(row interface{ Scan(...any) error }) (RememberedDevice, error) {
	var d RememberedDevice
	var created, expires, used int64
	if err := row.Scan(&d.ID, &d.Username, &d.Name, &created, &expires, &used); err != nil {
		return RememberedDevice{}, err
	}
	d.Created, d.Expires, d.LastUsed = time.UnixMilli(created), time.UnixMilli(expires), fromMilli(used)
	return d, nil
}
