package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres is the store in a PostgreSQL database: one truth for several
// Caddy instances. It runs the same SQL as SQLite. Each transaction first
// takes one advisory lock, held until it ends, so transactions run one at
// a time across every instance, as SQLite's do in its file: each of them
// reads, then writes what it read, and no other can come in between.
// Single statements need no lock.
type Postgres struct {
	*sqlStore
	cfg *pgx.ConnConfig
}

// migrationLock is the advisory lock held while the schema is brought up
// to date, so instances starting together migrate once.
const migrationLock = 0x7367_6d69

// postgresMigrations are applied in order; the index+1 is the schema
// version, kept in the stepgate_schema table. They describe the same
// tables as sqliteMigrations, in PostgreSQL's types: times are unix
// milliseconds (BIGINT), flags 0 or 1.
var postgresMigrations = []string{
	`CREATE TABLE security_info (
		username                TEXT PRIMARY KEY,
		totp_secret             BYTEA,
		totp_last_step          BIGINT NOT NULL DEFAULT 0,
		default_method          TEXT NOT NULL DEFAULT '',
		updated_at              BIGINT NOT NULL,
		phone                   TEXT NOT NULL DEFAULT '',
		totp_added_at           BIGINT NOT NULL DEFAULT 0,
		phone_added_at          BIGINT NOT NULL DEFAULT 0,
		registration_granted_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE failures (
		username TEXT NOT NULL,
		method   TEXT NOT NULL,
		count    BIGINT NOT NULL,
		last_at  BIGINT NOT NULL,
		PRIMARY KEY (username, method)
	);
	CREATE TABLE revocations (
		seq        BIGSERIAL PRIMARY KEY,
		session_id TEXT NOT NULL DEFAULT '',
		username   TEXT NOT NULL DEFAULT '',
		not_before BIGINT NOT NULL DEFAULT 0,
		expires_at BIGINT NOT NULL
	);
	CREATE TABLE codes (
		challenge_id TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		method       TEXT NOT NULL,
		code_hash    BYTEA NOT NULL,
		expires_at   BIGINT NOT NULL,
		tries        BIGINT NOT NULL DEFAULT 0,
		used         BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE sends (
		key TEXT NOT NULL,
		at  BIGINT NOT NULL
	);
	CREATE INDEX sends_by_key ON sends (key, at);
	CREATE TABLE calls (
		challenge_id TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		state        TEXT NOT NULL,
		detail       TEXT NOT NULL DEFAULT '',
		expires_at   BIGINT NOT NULL
	);
	CREATE TABLE push_devices (
		id           TEXT PRIMARY KEY,
		username     TEXT NOT NULL,
		name         TEXT NOT NULL,
		public_key   BYTEA NOT NULL,
		subscription TEXT NOT NULL DEFAULT '',
		gone         BIGINT NOT NULL DEFAULT 0,
		created_at   BIGINT NOT NULL,
		last_used_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX push_devices_by_user ON push_devices (username);
	CREATE TABLE push_enrolments (
		token_hash   BYTEA PRIMARY KEY,
		challenge_id TEXT NOT NULL,
		username     TEXT NOT NULL,
		expires_at   BIGINT NOT NULL,
		device_id    TEXT NOT NULL DEFAULT '',
		finished     BIGINT NOT NULL DEFAULT 0,
		first_method BIGINT NOT NULL DEFAULT 1
	);
	CREATE INDEX push_enrolments_by_challenge ON push_enrolments (challenge_id);
	-- rowid orders requests made in the same millisecond, as SQLite's
	-- implicit rowid does.
	CREATE TABLE push_requests (
		rowid        BIGSERIAL,
		id           TEXT PRIMARY KEY,
		challenge_id TEXT NOT NULL,
		username     TEXT NOT NULL,
		number       BIGINT NOT NULL,
		choices      TEXT NOT NULL,
		state        TEXT NOT NULL,
		detail       TEXT NOT NULL DEFAULT '',
		device_id    TEXT NOT NULL DEFAULT '',
		client_ip    TEXT NOT NULL DEFAULT '',
		host         TEXT NOT NULL DEFAULT '',
		created_at   BIGINT NOT NULL,
		expires_at   BIGINT NOT NULL
	);
	CREATE INDEX push_requests_by_user ON push_requests (username, state);
	CREATE INDEX push_requests_by_challenge ON push_requests (challenge_id);
	CREATE TABLE settings (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);
	CREATE TABLE sign_in_events (
		id        BIGSERIAL PRIMARY KEY,
		username  TEXT NOT NULL,
		at        BIGINT NOT NULL,
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
		data         BYTEA,
		created_at   BIGINT NOT NULL,
		last_used_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX credentials_by_user ON credentials (username, method);
	CREATE TABLE access_passes (
		username   TEXT PRIMARY KEY,
		pass_hash  BYTEA NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		reusable   BIGINT NOT NULL,
		used_at    BIGINT NOT NULL DEFAULT 0
	);`,
	// Every committed sign-out notifies the instances listening (see
	// WatchRevocations), once per statement.
	`CREATE FUNCTION stepgate_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_notify('stepgate_revocations', '');
		RETURN NULL;
	END $$;
	CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
		FOR EACH STATEMENT EXECUTE FUNCTION stepgate_revoked();`,
	rememberedDevicesTable,
	eventDetail,
}

// OpenPostgres connects to the database at url (postgres://…) and brings
// its schema up to date; a database whose schema is newer than this
// Stepgate knows is refused.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store: the URL cannot be read: %w", err)
	}
	db := sql.OpenDB(&pgConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres store: connecting to %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	s := &Postgres{sqlStore: &sqlStore{db: db, keyed: true}, cfg: cfg}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return s, nil
}

// migrate applies the missing migrations under migrationLock, each in its
// own transaction with its version.
func (s *Postgres) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, migrationLock); err != nil {
		return fmt.Errorf("waiting for other instances' migrations: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(?)`, migrationLock)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS stepgate_schema (version BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating the schema version table: %w", err)
	}
	var version int
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM stepgate_schema`).Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if version > len(postgresMigrations) {
		return fmt.Errorf("database schema version %d is newer than this Stepgate knows (%d); upgrade Stepgate", version, len(postgresMigrations))
	}
	for v := version; v < len(postgresMigrations); v++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, postgresMigrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO stepgate_schema (version) VALUES (?)`, v+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

// pgConnector makes pgx's database/sql connections speak the shared SQL:
// "?" parameters become $1, $2, … (and bools 0 or 1). Transactions lock
// only what they work on (sqlStore.lockKeys).
type pgConnector struct{ driver.Connector }

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{conn.(*stdlib.Conn)}, nil
}

type pgConn struct{ *stdlib.Conn }

func (c *pgConn) Prepare(query string) (driver.Stmt, error) { return c.Conn.Prepare(numbered(query)) }

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, numbered(query))
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, numbered(query), flags(args))
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, numbered(query), flags(args))
}

// flags passes Go booleans as the 0 or 1 the schema keeps flags in (as
// SQLite's driver does).
func flags(args []driver.NamedValue) []driver.NamedValue {
	for i, a := range args {
		if b, ok := a.Value.(bool); ok {
			args[i].Value = int64(0)
			if b {
				args[i].Value = int64(1)
			}
		}
	}
	return args
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

// numbered rewrites "?" parameters as $1, $2, … outside quoted text.
func numbered(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n, quote := 0, byte(0)
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// Unavailable reports whether err is the store being out of reach (the
// database server down or unreachable) rather than a mistake: the caller
// says "try again in a moment".
func Unavailable(err error) bool {
	var netErr net.Error
	var connErr *pgconn.ConnectError
	return errors.Is(err, driver.ErrBadConn) || errors.As(err, &netErr) || errors.As(err, &connErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED)
}

// RevocationWatcher is implemented by a store that can tell when another
// instance has recorded a sign-out, so that it is read at once rather than
// at the next poll.
type RevocationWatcher interface {
	// WatchRevocations returns a channel that receives (without blocking
	// the watcher: a pending signal is enough) after sign-outs are
	// committed, until ctx ends. It keeps trying to listen while the
	// database is out of reach; polling covers that time.
	WatchRevocations(ctx context.Context) <-chan struct{}
}

// WatchRevocations implements RevocationWatcher with LISTEN on a
// connection of its own.
func (s *Postgres) WatchRevocations(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	go func() {
		for ctx.Err() == nil {
			s.listen(ctx, signal)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return ch
}

// listen holds one LISTEN connection until it fails or ctx ends. After
// (re)connecting it signals once, since sign-outs may have been missed
// meanwhile.
func (s *Postgres) listen(ctx context.Context, signal func()) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.Copy())
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN stepgate_revocations`); err != nil {
		return
	}
	signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return
		}
		signal()
	}
}
