package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
)

// fill writes one record of every kind a store keeps.
func fill(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetTOTP(ctx, "alice", []byte("sealed"), 7))
	must(s.SetPhone(ctx, "alice", "+14155552671"))
	must(s.SetDefaultMethod(ctx, "alice", "totp"))
	_, err := s.AddFailure(ctx, "alice", store.FailuresPassword, now)
	must(err)
	_, err = s.Revoke(ctx, store.Revocation{SessionID: "sess", Username: "alice", Expires: now.Add(time.Hour)})
	must(err)
	must(s.PutCode(ctx, store.Code{ChallengeID: "ch1", Username: "alice", Method: "sms", Hash: []byte{1, 2}, Expires: now}))
	_, _, err = s.TakeSend(ctx, []store.Limit{{Key: "user:alice", Max: 5, Window: time.Hour}}, now)
	must(err)
	must(s.PutCall(ctx, "ch2", "alice", now))
	must(s.PutPushEnrolment(ctx, []byte("tok"), "ch3", "bob", now.Add(time.Minute), false))
	_, _, err = s.EnrolPushDevice(ctx, []byte("tok"), store.PushDevice{ID: "dev", Name: "Pixel", PublicKey: []byte{4, 5}}, now)
	must(err)
	for i := range 3 {
		must(s.PutPushRequest(ctx, store.PushRequest{ID: fmt.Sprint("r", i), ChallengeID: "ch4", Username: "bob", Number: 42,
			ClientIP: "192.0.2.1", Host: "app.example.com", Created: now, Expires: now.Add(time.Minute)}, 5))
	}
	_, err = s.InitSetting(ctx, "vapid", "keys")
	must(err)
	must(s.RecordSignInEvent(ctx, store.SignInEvent{Username: "alice", At: now, Method: "totp", ClientIP: "192.0.2.1", Site: "app", Outcome: "success", Detail: "YubiKey"}))
	must(s.AddCredential(ctx, store.Credential{ID: "pk", Username: "carol", Method: "passkey", Name: "Key", Data: []byte(`{"h":"x"}`)}, false))
	must(s.PutAccessPass(ctx, store.AccessPass{Username: "dave", Hash: []byte{9}, Created: now, Expires: now.Add(time.Hour), Reusable: true}))
	_, err = s.ResetMethods(ctx, "erin", true, now)
	must(err)
	_, err = s.RememberDevice(ctx, store.RememberedDevice{ID: "dev", Username: "frank", Name: "Firefox on Linux", Created: now, Expires: now.Add(time.Hour), LastUsed: now}, 10)
	must(err)
}

// dump is every table's rows as text, in a fixed order, leaving out
// PostgreSQL's own rowid column.
func dump(t *testing.T, db *sql.DB, tables []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range tables {
		rows, err := db.Query(`SELECT * FROM ` + tb)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var row []string
			for i, c := range cols {
				if c != "rowid" {
					row = append(row, fmt.Sprintf("%s=%v", c, vals[i]))
				}
			}
			out[tb] = append(out[tb], strings.Join(row, " "))
		}
		rows.Close()
	}
	return out
}

// TestCopySQLiteToPostgres: every kind of record comes over as it was;
// the copy is refused into a store that has anything in it, and then
// writes nothing.
func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	from, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	fill(t, from)
	u := gatewaytest.PostgresURL(t)
	to, err := store.OpenPostgres(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	counts, err := store.Copy(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	tables := []string{"security_info", "failures", "revocations", "codes", "sends", "calls", "push_devices",
		"push_enrolments", "push_requests", "settings", "sign_in_events", "credentials", "access_passes", "remembered_devices"}
	for _, tb := range tables {
		if counts[tb] == 0 {
			t.Errorf("nothing copied from %s: fill writes no record of it", tb)
		}
	}
	sqliteDB, _ := sql.Open("sqlite", path)
	defer sqliteDB.Close()
	pgDB, _ := sql.Open("pgx", u)
	defer pgDB.Close()
	want, got := dump(t, sqliteDB, tables), dump(t, pgDB, tables)
	for _, tb := range tables {
		w, g := strings.Join(want[tb], "\n"), strings.Join(got[tb], "\n")
		if w != g {
			t.Errorf("%s:\nSQLite:\n%s\nPostgreSQL:\n%s", tb, w, g)
		}
	}
	// The copy works as a store: the next revocation and event go on
	// from the copied numbers, and the requests keep their order.
	r, err := to.Revoke(ctx, store.Revocation{SessionID: "next", Expires: time.Now().Add(time.Hour)})
	if err != nil || r.Seq != 2 {
		t.Fatalf("the next revocation after the copy: %+v, %v", r, err)
	}
	if latest, err := to.LatestPushRequest(ctx, "ch4", "bob", time.Now()); err != nil || latest.ID != "r2" {
		t.Fatalf("the latest request after the copy: %+v, %v", latest, err)
	}
	if _, err := store.Copy(ctx, from, to); !errors.Is(err, store.ErrTargetNotEmpty) {
		t.Fatalf("a copy into a store with rows: %v", err)
	}
}
