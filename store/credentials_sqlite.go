package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddCredential implements Store. It is a plain INSERT, never an upsert:
// a credential ID that is already stored (another user's, named by a
// client that chose it) makes it fail rather than take that credential
// over.
func (s *sqlStore) AddCredential(ctx context.Context, c Credential, first bool) error {
	if c.ID == "" || c.Username == "" || c.Method == "" {
		return errors.New("adding credential: id, username and method are required")
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	const insert = `INSERT INTO credentials (id, username, method, name, data, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	args := []any{c.ID, c.Username, c.Method, c.Name, c.Data, c.Created.UnixMilli(), toMilli(c.LastUsed)}
	if first {
		return s.firstMethod(ctx, c.Username, "adding credential", func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, insert, args...)
			return err
		})
	}
	if _, err := s.db.ExecContext(ctx, insert, args...); err != nil {
		return fmt.Errorf("adding credential: %w", err)
	}
	return nil
}

// Credentials implements Store.
func (s *sqlStore) Credentials(ctx context.Context, username, method string) ([]Credential, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+credentialColumns+` FROM credentials
		 WHERE username = ? AND (? = '' OR method = ?) ORDER BY created_at, id`, username, method, method)
	if err != nil {
		return nil, fmt.Errorf("reading credentials: %w", err)
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("reading credentials: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CredentialByID implements Store.
func (s *sqlStore) CredentialByID(ctx context.Context, id string) (Credential, error) {
	c, err := scanCredential(s.db.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Credential{}, ErrNotFound
	}
	if err != nil {
		return Credential{}, fmt.Errorf("reading credential: %w", err)
	}
	return c, nil
}

const credentialColumns = `id, username, method, name, data, created_at, last_used_at`

// scanCredential reads one row of credentialColumns.
func scanCredential(row interface{ Scan(...any) error }) (Credential, error) {
	var c Credential
	var created, lastUsed int64
	if err := row.Scan(&c.ID, &c.Username, &c.Method, &c.Name, &c.Data, &created, &lastUsed); err != nil {
		return Credential{}, err
	}
	c.Created, c.LastUsed = time.UnixMilli(created), fromMilli(lastUsed)
	return c, nil
}

// RenameCredential implements Store.
func (s *sqlStore) RenameCredential(ctx context.Context, username, id, name string) error {
	return s.updateCredential(ctx, `UPDATE credentials SET name = ? WHERE id = ? AND username = ?`, name, id, username)
}

// TouchCredential implements Store.
func (s *sqlStore) TouchCredential(ctx context.Context, username, id string, at time.Time, data []byte) error {
	if data == nil {
		return s.updateCredential(ctx, `UPDATE credentials SET last_used_at = ? WHERE id = ? AND username = ?`,
			toMilli(at), id, username)
	}
	return s.updateCredential(ctx, `UPDATE credentials SET last_used_at = ?, data = ? WHERE id = ? AND username = ?`,
		toMilli(at), data, id, username)
}

// updateCredential runs an UPDATE of one credential, whose WHERE names
// both its id and its user, so that an id of another user's credential
// changes nothing and reads as ErrNotFound.
func (s *sqlStore) updateCredential(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("updating credential: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("updating credential: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
