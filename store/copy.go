package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// copiedTables are every table a store keeps, in the order Copy copies
// them (no table refers to another).
var copiedTables = []string{"security_info", "failures", "revocations", "codes", "sends", "calls", "push_devices",
	"push_enrolments", "push_requests", "settings", "sign_in_events", "credentials", "access_passes", "remembered_devices"}

// ErrTargetNotEmpty refuses a copy into a store that holds anything.
var ErrTargetNotEmpty = errors.New("the target store is not empty")

// Copy copies everything in a SQLite store into an empty PostgreSQL store,
// in one transaction: on any error nothing is written. It returns how many
// rows each table had. Copy while no instance uses the SQLite store.
func Copy(ctx context.Context, from *SQLite, to *Postgres) (map[string]int, error) {
	tx, err := to.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, t := range copiedTables {
		var has bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+`)`).Scan(&has); err != nil {
			return nil, fmt.Errorf("reading %s in the target: %w", t, err)
		}
		if has {
			return nil, fmt.Errorf("%w: %s has rows (copy only into a new database)", ErrTargetNotEmpty, t)
		}
	}
	counts := map[string]int{}
	for _, t := range copiedTables {
		// rowid keeps the order rows were written in (push_requests
		// orders by it).
		rows, err := from.db.QueryContext(ctx, `SELECT * FROM `+t+` ORDER BY rowid`)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", t, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return nil, err
		}
		insert := `INSERT INTO ` + t + ` (` + strings.Join(cols, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
		// The source's single connection is held by rows: read them all
		// first.
		var all [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading %s: %w", t, err)
			}
			all = append(all, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", t, err)
		}
		for _, vals := range all {
			if _, err := tx.ExecContext(ctx, insert, vals...); err != nil {
				return nil, fmt.Errorf("writing %s: %w", t, err)
			}
		}
		counts[t] = len(all)
	}
	// The numbered tables go on from the highest number copied.
	for t, col := range map[string]string{"revocations": "seq", "sign_in_events": "id"} {
		if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', '`+col+`'), coalesce(max(`+col+`), 0) + 1, false) FROM `+t); err != nil {
			return nil, fmt.Errorf("numbering %s: %w", t, err)
		}
	}
	return counts, tx.Commit()
}
