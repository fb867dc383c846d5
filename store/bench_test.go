package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
)

// BenchmarkSignInStoreWork is the store's part of one sign-in with a
// password and an authenticator code, as the portal makes its calls: the
// password attempt taken and given back, the user's methods read, the
// code's attempt, its step used, the counter reset, and the events
// recorded. Per backend: SQLite in a file, PostgreSQL on loopback.
func BenchmarkSignInStoreWork(b *testing.B) {
	backends := map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			s, err := store.OpenSQLite(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) store.Store {
			s, err := store.OpenPostgres(context.Background(), gatewaytest.PostgresURL(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s := backends[name](b)
			defer s.Close()
			ctx := context.Background()
			if err := s.SetTOTP(ctx, "alice", []byte("sealed"), 0); err != nil {
				b.Fatal(err)
			}
			backoff := func(store.Failures, time.Time) (time.Duration, bool) { return 0, false }
			step := int64(1)
			for b.Loop() {
				now := time.Now()
				for _, counter := range []string{store.FailuresPassword, store.FailuresCode} {
					if _, err := s.TakeAttempt(ctx, "alice", counter, now, backoff); err != nil {
						b.Fatal(err)
					}
				}
				for range 2 {
					if _, err := s.SecurityInfo(ctx, "alice"); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := s.UseTOTPStep(ctx, "alice", step); err != nil {
					b.Fatal(err)
				}
				step++
				for _, counter := range []string{store.FailuresPassword, store.FailuresCode} {
					if err := s.ResetFailures(ctx, "alice", counter); err != nil {
						b.Fatal(err)
					}
				}
				for _, outcome := range []string{"password-ok", "success"} {
					if err := s.RecordSignInEvent(ctx, store.SignInEvent{Username: "alice", At: now, Method: "totp", Outcome: outcome}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
