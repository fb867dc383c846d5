package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// SQLite is the embedded default store: one database file, safe for one
// Caddy instance (and for several processes on one host, through SQLite's
// file locking).
type SQLite struct {
	*sqlStore
}

// sqlStore is the store over database/sql, in the SQL that SQLite and
// PostgreSQL share ("?" parameters are rewritten for PostgreSQL by its
// driver, see postgres.go). Every transaction in it reads and then writes
// what it read: it relies on transactions running one at a time (SQLite's
// write lock, taken at BEGIN; a lock taken at BEGIN in PostgreSQL).
type sqlStore struct {
	db *sql.DB
	// keyed: transactions that read, then write what they read, take an
	// advisory lock on what they work on (lockKeys). SQLite needs none: a
	// transaction there holds the whole database (_txlock=immediate).
	keyed bool
}

// lockKeys serialises the transactions that work on the same keys (a
// user's failure counter, a send limit, …) where the database would
// otherwise let them interleave (PostgreSQL under READ COMMITTED):
// transaction-scoped advisory locks, taken in sorted order so two
// transactions never wait for each other. Transactions on other keys go
// on in parallel. Call it first in the transaction, before any row lock.
func (s *sqlStore) lockKeys(ctx context.Context, tx *sql.Tx, keys ...string) error {
	if !s.keyed {
		return nil
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, k); err != nil {
			return fmt.Errorf("locking %s: %w", k, err)
		}
	}
	return nil
}

// OpenSQLite opens (creating if needed) the database at path and brings its
// schema up to date.
func OpenSQLite(path string) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("sqlite store: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite store: creating directory: %w", err)
	}
	// The database holds sealed secrets and counters: create it readable by
	// Caddy's user only (SQLite gives its -wal and -shm files the same mode).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	f.Close()
	// busy_timeout makes concurrent writers wait instead of failing at once;
	// WAL lets readers proceed while one writer writes.
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: opening %s: %w", path, err)
	}
	// One connection serialises writers in-process, which is what SQLite
	// does anyway, and makes every check-and-update below trivially atomic.
	db.SetMaxOpenConns(1)
	s := &SQLite{&sqlStore{db: db}}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	return s, nil
}

// sqliteMigrations are applied in order; the index+1 is the schema version.
// Never edit a released migration: append a new one.
var sqliteMigrations = []string{
	`CREATE TABLE security_info (
		username       TEXT PRIMARY KEY,
		totp_secret    BLOB,
		totp_last_step INTEGER NOT NULL DEFAULT 0,
		default_method TEXT NOT NULL DEFAULT '',
		updated_at     INTEGER NOT NULL
	);
	CREATE TABLE failures (
		username TEXT NOT NULL,
		method   TEXT NOT NULL,
		count    INTEGER NOT NULL,
		last_at  INTEGER NOT NULL,
		PRIMARY KEY (username, method)
	);
	CREATE TABLE revocations (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		session_id TEXT NOT NULL DEFAULT '',
		username   TEXT NOT NULL DEFAULT '',
		not_before INTEGER NOT NULL DEFAULT 0,
		expires_at INTEGER NOT NULL
	);`,
	`ALTER TABLE security_info ADD COLUMN phone TEXT NOT NULL DEFAULT '';
	CREATE TABLE codes (
		challenge_id TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		method       TEXT NOT NULL,
		code_hash    BLOB NOT NULL,
		expires_at   INTEGER NOT NULL,
		tries        INTEGER NOT NULL DEFAULT 0,
		used         INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE sends (
		key TEXT NOT NULL,
		at  INTEGER NOT NULL
	);
	CREATE INDEX sends_by_key ON sends (key, at);`,
	`CREATE TABLE calls (
		challenge_id TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		state        TEXT NOT NULL,
		detail       TEXT NOT NULL DEFAULT '',
		expires_at   INTEGER NOT NULL
	);`,
	`CREATE TABLE push_devices (
		id           TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		name         TEXT NOT NULL,
		public_key   BLOB NOT NULL,
		subscription TEXT NOT NULL DEFAULT '',
		gone         INTEGER NOT NULL DEFAULT 0,
		created_at   INTEGER NOT NULL
	);
	CREATE INDEX push_devices_by_user ON push_devices (username);
	CREATE TABLE push_enrolments (
		token_hash   BLOB PRIMARY KEY,
		challenge_id TEXT NOT NULL,
		username     TEXT NOT NULL,
		expires_at   INTEGER NOT NULL,
		device_id    TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX push_enrolments_by_challenge ON push_enrolments (challenge_id);
	CREATE TABLE push_requests (
		id           TEXT PRIMARY KEY,
		challenge_id TEXT NOT NULL,
		username     TEXT NOT NULL,
		number       INTEGER NOT NULL,
		choices      TEXT NOT NULL,
		state        TEXT NOT NULL,
		detail       TEXT NOT NULL DEFAULT '',
		device_id    TEXT NOT NULL DEFAULT '',
		client_ip    TEXT NOT NULL DEFAULT '',
		host         TEXT NOT NULL DEFAULT '',
		created_at   INTEGER NOT NULL,
		expires_at   INTEGER NOT NULL
	);
	CREATE INDEX push_requests_by_user ON push_requests (username, state);
	CREATE INDEX push_requests_by_challenge ON push_requests (challenge_id);
	CREATE TABLE settings (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,
	`ALTER TABLE push_enrolments ADD COLUMN finished INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE push_enrolments ADD COLUMN first_method INTEGER NOT NULL DEFAULT 1;`,
	// Times are unix milliseconds; 0 in an *_added_at or last_used_at
	// column means unknown (set before the column existed) or never.
	`ALTER TABLE security_info ADD COLUMN totp_added_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE security_info ADD COLUMN phone_added_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE push_devices ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE sign_in_events (
		id        INTEGER PRIMARY KEY AUTOINCREMENT,
		username  TEXT NOT NULL,
		at        INTEGER NOT NULL,
		method    TEXT NOT NULL DEFAULT '',
		client_ip TEXT NOT NULL DEFAULT '',
		site      TEXT NOT NULL DEFAULT '',
		outcome   TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX sign_in_events_by_user ON sign_in_events (username, id);
	CREATE TABLE credentials (
		id           TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		method       TEXT NOT NULL,
		name         TEXT NOT NULL DEFAULT '',
		data         BLOB,
		created_at   INTEGER NOT NULL,
		last_used_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX credentials_by_user ON credentials (username, method);`,
	// One Temporary Access Pass per user (username is the key, so a new
	// pass replaces the old); used_at is 0 until the pass is first used.
	// registration_granted_at is when ResetMethods granted the user a
	// registration; 0 when the user holds no grant.
	`CREATE TABLE access_passes (
		username   TEXT PRIMARY KEY,
		pass_hash  BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		reusable   INTEGER NOT NULL,
		used_at    INTEGER NOT NULL DEFAULT 0
	);
	ALTER TABLE security_info ADD COLUMN registration_granted_at INTEGER NOT NULL DEFAULT 0;`,
	rememberedDevicesTable,
	eventDetail,
}

func (s *SQLite) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if version > len(sqliteMigrations) {
		return fmt.Errorf("database schema version %d is newer than this Stepgate knows (%d); upgrade Stepgate", version, len(sqliteMigrations))
	}
	for v := version; v < len(sqliteMigrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

// toMilli is t in unix milliseconds, or 0 for the zero time: the columns
// that may be unset store 0 for "unknown" or "never".
func toMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMilli is the inverse of toMilli: 0 reads as the zero time.
func fromMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// SecurityInfo implements Store.
func (s *sqlStore) SecurityInfo(ctx context.Context, username string) (SecurityInfo, error) {
	info := SecurityInfo{Username: username}
	var totpAdded, phoneAdded int64
	err := s.db.QueryRowContext(ctx,
		`SELECT totp_secret, totp_last_step, default_method, phone, totp_added_at, phone_added_at
		 FROM security_info WHERE username = ?`, username).
		Scan(&info.TOTPSecret, &info.TOTPLastStep, &info.DefaultMethod, &info.Phone, &totpAdded, &phoneAdded)
	if errors.Is(err, sql.ErrNoRows) {
		return info, ErrNotFound
	}
	if err != nil {
		return info, fmt.Errorf("reading security info: %w", err)
	}
	info.TOTPAdded, info.PhoneAdded = fromMilli(totpAdded), fromMilli(phoneAdded)
	return info, nil
}

// SetTOTP implements Store.
func (s *sqlStore) SetTOTP(ctx context.Context, username string, sealed []byte, lastStep int64) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO security_info (username, totp_secret, totp_last_step, totp_added_at, updated_at) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (username) DO UPDATE SET totp_secret = excluded.totp_secret,
		   totp_last_step = excluded.totp_last_step, totp_added_at = excluded.totp_added_at,
		   updated_at = excluded.updated_at`,
		username, sealed, lastStep, time.Now().UnixMilli(), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("storing authenticator secret: %w", err)
	}
	return nil
}

// SetFirstTOTP implements Store.
func (s *sqlStore) SetFirstTOTP(ctx context.Context, username string, sealed []byte, lastStep int64) error {
	return s.firstMethod(ctx, username, "storing authenticator secret", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE security_info SET totp_secret = ?, totp_last_step = ?, totp_added_at = ? WHERE username = ?`,
			sealed, lastStep, time.Now().UnixMilli(), username)
		return err
	})
}

// SetFirstPhone implements Store.
func (s *sqlStore) SetFirstPhone(ctx context.Context, username, phone string) error {
	return s.firstMethod(ctx, username, "storing phone number", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE security_info SET phone = ?, phone_added_at = ? WHERE username = ?`,
			phone, addedAt(phone), username)
		return err
	})
}

// firstMethod runs add in a transaction when the user has no method yet,
// and otherwise returns ErrAlreadySetUp.
func (s *sqlStore) firstMethod(ctx context.Context, username, what string, add func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			if !errors.Is(err, ErrAlreadySetUp) {
				err = fmt.Errorf("%s: %w", what, err)
			}
		}
	}()
	if err = lockNoMethod(ctx, tx, username); err != nil {
		return err
	}
	if err = add(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// lockNoMethod locks the user's security_info row (creating it) and
// returns ErrAlreadySetUp when the user has any method. Every write that
// adds a first method goes through it, so two first-sign-in registrations
// of one user racing (an attacker's phone, the user's authenticator app,
// a passkey) are serialised on that row, also on a database that locks
// rows rather than the whole file.
//
// It also clears the user's registration grant (ResetMethods): the first
// method the grant let the user register uses it up. The clearing is part
// of tx, so it takes effect only when the method is stored; a refused or
// failed registration rolls it back and the grant stays.
func lockNoMethod(ctx context.Context, tx *sql.Tx, username string) error {
	if err := lockUser(ctx, tx, username); err != nil {
		return err
	}
	n, err := countMethods(ctx, tx, username)
	if err != nil {
		return err
	}
	if n > 0 {
		return ErrAlreadySetUp
	}
	_, err = tx.ExecContext(ctx, `UPDATE security_info SET registration_granted_at = 0 WHERE username = ?`, username)
	return err
}

// lockUser touches the user's security_info row (creating it), which
// locks it until tx ends. The writes that count a user's methods or
// devices before changing them take this lock first, so that two of them
// for one user cannot both act on the same count.
func lockUser(ctx context.Context, tx *sql.Tx, username string) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO security_info (username, updated_at) VALUES (?, ?)
		 ON CONFLICT (username) DO UPDATE SET updated_at = excluded.updated_at`,
		username, time.Now().Unix())
	return err
}

// UseTOTPStep implements Store. The conditional UPDATE is the atomic
// check-and-set: of two requests racing with the same code, only one sees a
// row affected.
func (s *sqlStore) UseTOTPStep(ctx context.Context, username string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`UPDATE security_info SET totp_last_step = ?, updated_at = ? WHERE username = ? AND totp_last_step < ?`,
		step, time.Now().Unix(), username, step)
	if err != nil {
		return false, fmt.Errorf("recording used code: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("recording used code: %w", err)
	}
	return n == 1, nil
}

// addedAt is the added time to store with phone: now, or 0 (none) when
// phone is "" (removed).
func addedAt(phone string) int64 {
	if phone == "" {
		return 0
	}
	return time.Now().UnixMilli()
}

// SetPhone implements Store. The user's row is locked (lockUser) while the
// old number is read and replaced, so the calls failed are exactly those
// placed to the number being replaced.
func (s *sqlStore) SetPhone(ctx context.Context, username, phone string) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing phone number: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("storing phone number: %w", err)
		}
	}()
	if err = lockUser(ctx, tx, username); err != nil {
		return err
	}
	var old string
	if err = tx.QueryRowContext(ctx, `SELECT phone FROM security_info WHERE username = ?`, username).Scan(&old); err != nil {
		return err
	}
	if _, err = tx.ExecContext(ctx, `UPDATE security_info SET phone = ?, phone_added_at = ? WHERE username = ?`,
		phone, addedAt(phone), username); err != nil {
		return err
	}
	if old != "" && old != phone {
		// A call still ringing on the old number (it may be lost, or
		// given away with the number) must not be able to approve a
		// sign-in any more, as when the phone is removed (RemoveMethod).
		detail := "phone changed"
		if phone == "" {
			detail = "phone removed"
		}
		if err = failPendingCalls(ctx, tx, username, detail); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// PutCode implements Store.
func (s *sqlStore) PutCode(ctx context.Context, c Code) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO codes (challenge_id, username, method, code_hash, expires_at) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (challenge_id) DO UPDATE SET username = excluded.username, method = excluded.method,
		   code_hash = excluded.code_hash, expires_at = excluded.expires_at, tries = 0, used = 0`,
		c.ChallengeID, c.Username, c.Method, c.Hash, c.Expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("storing code: %w", err)
	}
	return nil
}

// UseCode implements Store. The store has one connection and the check and
// the update run in one transaction, so racing callers are serialised.
func (s *sqlStore) UseCode(ctx context.Context, challengeID, username, method string, hash []byte, now time.Time, maxTries int) (res CodeResult, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return CodeGone, fmt.Errorf("checking code: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("checking code: %w", err)
		}
	}()
	if err = s.lockKeys(ctx, tx, "code:"+challengeID); err != nil {
		return CodeGone, err
	}
	var stored []byte
	var expires int64
	var tries, used int
	err = tx.QueryRowContext(ctx,
		`SELECT code_hash, expires_at, tries, used FROM codes WHERE challenge_id = ? AND username = ? AND method = ?`,
		challengeID, username, method).Scan(&stored, &expires, &tries, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return CodeGone, tx.Rollback()
	}
	if err != nil {
		return CodeGone, err
	}
	if used != 0 || expires <= now.UnixMilli() || tries >= maxTries {
		return CodeGone, tx.Rollback()
	}
	// Each update repeats the conditions the read found true, and names
	// the code it compared with: it changes nothing if a concurrent check
	// used the code or its last try, or a new code replaced it, in
	// between. Then the check found no live code. So the statement alone
	// decides, also where a transaction does not lock what it read.
	const live = ` WHERE challenge_id = ? AND code_hash = ? AND used = 0 AND tries < ? AND expires_at > ?`
	res, update := CodeWrong, `UPDATE codes SET tries = tries + 1`+live
	if subtle.ConstantTimeCompare(stored, hash) == 1 {
		res, update = CodeAccepted, `UPDATE codes SET used = 1`+live
	}
	r, err := tx.ExecContext(ctx, update, challengeID, stored, maxTries, now.UnixMilli())
	if err != nil {
		return CodeGone, err
	}
	if n, err := r.RowsAffected(); err != nil || n != 1 {
		return CodeGone, errors.Join(err, tx.Rollback())
	}
	if err = tx.Commit(); err != nil {
		return CodeGone, err
	}
	return res, nil
}

// PutCall implements Store.
func (s *sqlStore) PutCall(ctx context.Context, challengeID, username string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO calls (challenge_id, username, state, expires_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (challenge_id) DO UPDATE SET username = excluded.username, state = excluded.state,
		   detail = '', expires_at = excluded.expires_at`,
		challengeID, username, CallPending, expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("storing call: %w", err)
	}
	return nil
}

// SetCallState implements Store.
func (s *sqlStore) SetCallState(ctx context.Context, challengeID, from, to, detail string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`UPDATE calls SET state = ?, detail = ? WHERE challenge_id = ? AND state = ? AND expires_at > ?`,
		to, detail, challengeID, from, now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("updating call: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CallState implements Store.
func (s *sqlStore) CallState(ctx context.Context, challengeID, username string, now time.Time) (string, string, error) {
	var state, detail string
	var expires int64
	err := s.db.QueryRowContext(ctx, `SELECT state, detail, expires_at FROM calls WHERE challenge_id = ? AND username = ?`,
		challengeID, username).Scan(&state, &detail, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("reading call: %w", err)
	}
	if state == CallPending && expires <= now.UnixMilli() {
		return CallFailed, "expired", nil
	}
	return state, detail, nil
}

// TakeSend implements Store.
func (s *sqlStore) TakeSend(ctx context.Context, limits []Limit, now time.Time) (blocked *Limit, retry time.Time, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("checking send limits: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("checking send limits: %w", err)
		}
	}()
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = "send:" + l.Key
	}
	if err = s.lockKeys(ctx, tx, keys...); err != nil {
		return nil, time.Time{}, err
	}
	for i, l := range limits {
		since := now.Add(-l.Window).UnixMilli()
		var n int
		var oldest sql.NullInt64
		if err = tx.QueryRowContext(ctx, `SELECT count(*), min(at) FROM (SELECT at FROM sends WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?) AS recent`,
			l.Key, since, l.Max).Scan(&n, &oldest); err != nil {
			return nil, time.Time{}, err
		}
		if n >= l.Max {
			// The send becomes possible when the oldest of the last Max
			// sends leaves the window.
			return &limits[i], time.UnixMilli(oldest.Int64).Add(l.Window), tx.Rollback()
		}
	}
	for _, l := range limits {
		if _, err = tx.ExecContext(ctx, `INSERT INTO sends (key, at) VALUES (?, ?)`, l.Key, now.UnixMilli()); err != nil {
			return nil, time.Time{}, err
		}
	}
	return nil, time.Time{}, tx.Commit()
}

// Failures implements Store.
func (s *sqlStore) Failures(ctx context.Context, username, method string) (Failures, error) {
	var f Failures
	var last int64
	err := s.db.QueryRowContext(ctx,
		`SELECT count, last_at FROM failures WHERE username = ? AND method = ?`, username, method).
		Scan(&f.Count, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return Failures{}, nil
	}
	if err != nil {
		return f, fmt.Errorf("reading failure counter: %w", err)
	}
	f.Last = time.UnixMilli(last)
	return f, nil
}

// AddFailure implements Store.
func (s *sqlStore) AddFailure(ctx context.Context, username, method string, at time.Time) (Failures, error) {
	var f Failures
	var last int64
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO failures (username, method, count, last_at) VALUES (?, ?, 1, ?)
		 ON CONFLICT (username, method) DO UPDATE SET count = failures.count + 1, last_at = excluded.last_at
		 RETURNING count, last_at`,
		username, method, at.UnixMilli()).Scan(&f.Count, &last)
	if err != nil {
		return f, fmt.Errorf("counting failure: %w", err)
	}
	f.Last = time.UnixMilli(last)
	return f, nil
}

// TakeAttempt implements Store. The read and the write are one IMMEDIATE
// transaction (see _txlock in OpenSQLite): SQLite's write lock is taken
// before the counter is read, so concurrent attempts, in this process or
// another one on the same file, see each other's counts.
func (s *sqlStore) TakeAttempt(ctx context.Context, username, method string, now time.Time, backoff Backoff) (_ Attempt, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Attempt{}, fmt.Errorf("taking an attempt: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = s.lockKeys(ctx, tx, "failures:"+username+":"+method); err != nil {
		return Attempt{}, fmt.Errorf("taking an attempt: %w", err)
	}
	var a Attempt
	var last int64
	err = tx.QueryRowContext(ctx, `SELECT count, last_at FROM failures WHERE username = ? AND method = ?`, username, method).
		Scan(&a.Failures.Count, &last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Attempt{}, fmt.Errorf("taking an attempt: %w", err)
	default:
		a.Failures.Last = time.UnixMilli(last)
		a.Prev = a.Failures.Last
	}
	if a.Wait, a.Locked = backoff(a.Failures, now); a.Wait > 0 || a.Locked {
		return a, tx.Rollback()
	}
	err = tx.QueryRowContext(ctx,
		`INSERT INTO failures (username, method, count, last_at) VALUES (?, ?, 1, ?)
		 ON CONFLICT (username, method) DO UPDATE SET count = failures.count + 1, last_at = excluded.last_at
		 RETURNING count, last_at`,
		username, method, now.UnixMilli()).Scan(&a.Failures.Count, &last)
	if err != nil {
		return Attempt{}, fmt.Errorf("taking an attempt: %w", err)
	}
	a.Failures.Last = time.UnixMilli(last)
	a.Taken = true
	if err = tx.Commit(); err != nil {
		return Attempt{}, fmt.Errorf("taking an attempt: %w", err)
	}
	return a, nil
}

// ReturnAttempt implements Store.
func (s *sqlStore) ReturnAttempt(ctx context.Context, username, method string, a Attempt) error {
	if !a.Taken {
		return nil
	}
	var prev int64
	if !a.Prev.IsZero() {
		prev = a.Prev.UnixMilli()
	}
	_, err := s.db.ExecContext(ctx,
		`UPDATE failures SET count = count - 1,
		   last_at = CASE WHEN count = ? AND last_at = ? THEN ? ELSE last_at END
		 WHERE username = ? AND method = ? AND count >= ? AND count > 0`,
		a.Failures.Count, a.Failures.Last.UnixMilli(), prev, username, method, a.Failures.Count)
	if err != nil {
		return fmt.Errorf("returning an attempt: %w", err)
	}
	return nil
}

// ResetFailures implements Store.
func (s *sqlStore) ResetFailures(ctx context.Context, username, method string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM failures WHERE username = ? AND method = ?`, username, method)
	if err != nil {
		return fmt.Errorf("resetting failure counter: %w", err)
	}
	return nil
}

// UnlockUser implements Store.
func (s *sqlStore) UnlockUser(ctx context.Context, username string) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM failures WHERE username = ?`, username)
	if err != nil {
		return 0, fmt.Errorf("unlocking %s: %w", username, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Revoke implements Store.
func (s *sqlStore) Revoke(ctx context.Context, r Revocation) (Revocation, error) {
	var nb int64
	if !r.NotBefore.IsZero() {
		nb = r.NotBefore.UnixMilli()
	}
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO revocations (session_id, username, not_before, expires_at) VALUES (?, ?, ?, ?) RETURNING seq`,
		r.SessionID, r.Username, nb, r.Expires.UnixMilli()).Scan(&r.Seq)
	if err != nil {
		return r, fmt.Errorf("recording revocation: %w", err)
	}
	return r, nil
}

// RevocationsAfter implements Store.
func (s *sqlStore) RevocationsAfter(ctx context.Context, after int64, now time.Time) ([]Revocation, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT seq, session_id, username, not_before, expires_at FROM revocations
		 WHERE seq > ? AND expires_at > ? ORDER BY seq`, after, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("reading revocations: %w", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		var nb, exp int64
		if err := rows.Scan(&r.Seq, &r.SessionID, &r.Username, &nb, &exp); err != nil {
			return nil, fmt.Errorf("reading revocations: %w", err)
		}
		if nb != 0 {
			r.NotBefore = time.UnixMilli(nb)
		}
		r.Expires = time.UnixMilli(exp)
		out = append(out, r)
	}
	return out, rows.Err()
}

// failureMemory is how long an untouched failure counter is kept. It is far
// longer than any lockout back-off, so pruning never shortens a lockout.
const failureMemory = 30 * 24 * time.Hour

// Prune implements Store.
func (s *sqlStore) Prune(ctx context.Context, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM revocations WHERE expires_at <= ?`, now.UnixMilli()); err != nil {
		return fmt.Errorf("pruning revocations: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM failures WHERE last_at <= ?`, now.Add(-failureMemory).UnixMilli()); err != nil {
		return fmt.Errorf("pruning failure counters: %w", err)
	}
	day := now.Add(-24 * time.Hour).UnixMilli()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM codes WHERE expires_at <= ?`, day); err != nil {
		return fmt.Errorf("pruning codes: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sends WHERE at <= ?`, day); err != nil {
		return fmt.Errorf("pruning send records: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM calls WHERE expires_at <= ?`, day); err != nil {
		return fmt.Errorf("pruning calls: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM push_requests WHERE expires_at <= ?`, day); err != nil {
		return fmt.Errorf("pruning approval requests: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM push_enrolments WHERE expires_at <= ?`, day); err != nil {
		return fmt.Errorf("pruning enrolment tokens: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM access_passes WHERE expires_at <= ?`, day); err != nil {
		return fmt.Errorf("pruning access passes: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM remembered_devices WHERE expires_at <= ?`, now.UnixMilli()); err != nil {
		return fmt.Errorf("pruning remembered devices: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sign_in_events WHERE at <= ?`, now.Add(-signInEventMemory).UnixMilli()); err != nil {
		return fmt.Errorf("pruning sign-in events: %w", err)
	}
	return nil
}

// Close implements Store.
func (s *sqlStore) Close() error { return s.db.Close() }

var _ Store = (*SQLite)(nil)
var _ Store = (*Postgres)(nil)
