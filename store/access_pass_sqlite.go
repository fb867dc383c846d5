package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutAccessPass implements Store. The upsert on the username key replaces
// the user's earlier pass together with its use.
func (s *sqlStore) PutAccessPass(ctx context.Context, p AccessPass) error {
	// An empty hash would match an empty one in UseAccessPass
	// (ConstantTimeCompare of two empty slices is 1): refuse to store it.
	if p.Username == "" || len(p.Hash) == 0 {
		return errors.New("storing access pass: username and hash are required")
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO access_passes (username, pass_hash, created_at, expires_at, reusable, used_at) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (username) DO UPDATE SET pass_hash = excluded.pass_hash, created_at = excluded.created_at,
		   expires_at = excluded.expires_at, reusable = excluded.reusable, used_at = excluded.used_at`,
		p.Username, p.Hash, p.Created.UnixMilli(), p.Expires.UnixMilli(), p.Reusable, toMilli(p.Used))
	if err != nil {
		return fmt.Errorf("storing access pass: %w", err)
	}
	return nil
}

// UseAccessPass implements Store. The read, the checks and the update are
// one IMMEDIATE transaction (see _txlock in OpenSQLite), and the UPDATE is
// guarded as well: of racing uses of a single-use pass, in this process or
// another one on the same file, exactly one records its use.
func (s *sqlStore) UseAccessPass(ctx context.Context, username string, hash []byte, now time.Time) (_ AccessPass, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return AccessPass{}, fmt.Errorf("using access pass: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			if !errors.Is(err, ErrNoAccessPass) {
				err = fmt.Errorf("using access pass: %w", err)
			}
		}
	}()
	if err = s.lockKeys(ctx, tx, "access-pass:"+username); err != nil {
		return AccessPass{}, err
	}
	p, err := scanAccessPass(tx.QueryRowContext(ctx, `SELECT `+accessPassColumns+` FROM access_passes WHERE username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return AccessPass{}, ErrNoAccessPass
	}
	if err != nil {
		return AccessPass{}, err
	}
	// The hash is compared whatever the other checks find, and every
	// failure is the same error, so a guesser learns nothing about the
	// pass but that it did not work.
	match := len(hash) > 0 && subtle.ConstantTimeCompare(p.Hash, hash) == 1
	if !match || !now.Before(p.Expires) || (!p.Reusable && !p.Used.IsZero()) {
		return AccessPass{}, ErrNoAccessPass
	}
	res, err := tx.ExecContext(ctx,
		`UPDATE access_passes SET used_at = ? WHERE username = ? AND pass_hash = ? AND (reusable != 0 OR used_at = 0)`,
		now.UnixMilli(), username, p.Hash)
	if err != nil {
		return AccessPass{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return AccessPass{}, err
	} else if n != 1 {
		return AccessPass{}, ErrNoAccessPass
	}
	if err = tx.Commit(); err != nil {
		return AccessPass{}, err
	}
	p.Used = time.UnixMilli(now.UnixMilli())
	return p, nil
}

// AccessPassOf implements Store.
func (s *sqlStore) AccessPassOf(ctx context.Context, username string) (AccessPass, error) {
	p, err := scanAccessPass(s.db.QueryRowContext(ctx, `SELECT `+accessPassColumns+` FROM access_passes WHERE username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return AccessPass{}, ErrNotFound
	}
	if err != nil {
		return AccessPass{}, fmt.Errorf("reading access pass: %w", err)
	}
	return p, nil
}

// DeleteAccessPass implements Store.
func (s *sqlStore) DeleteAccessPass(ctx context.Context, username string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM access_passes WHERE username = ?`, username); err != nil {
		return fmt.Errorf("deleting access pass: %w", err)
	}
	return nil
}

const accessPassColumns = `username, pass_hash, created_at, expires_at, reusable, used_at`

func scanAccessPass(row interface{ Scan(...any) error }) (AccessPass, error) {
	var p AccessPass
	var created, expires, used int64
	err := row.Scan(&p.Username, &p.Hash, &created, &expires, &p.Reusable, &used)
	p.Created, p.Expires, p.Used = time.UnixMilli(created), time.UnixMilli(expires), fromMilli(used)
	return p, err
}
