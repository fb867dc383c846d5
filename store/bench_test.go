package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
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
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s := benchBackends[name](b)
			defer s.Close()
			if err := s.SetTOTP(context.Background(), "alice", []byte("sealed"), 0); err != nil {
				b.Fatal(err)
			}
			step := int64(1)
			for b.Loop() {
				signInWork(b, s, "alice", step)
				step++
			}
		})
	}
}

// BenchmarkSignInStoreWorkParallel is BenchmarkSignInStoreWork with many
// sign-ins at once (8 per core), each goroutine for its own user: what
// the store lets through when many people sign in together. On
// PostgreSQL, transactions of different users take different locks.
func BenchmarkSignInStoreWorkParallel(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s := benchBackends[name](b)
			defer s.Close()
			var n atomic.Int32
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				user := fmt.Sprint("user", n.Add(1))
				if err := s.SetTOTP(context.Background(), user, []byte("sealed"), 0); err != nil {
					b.Error(err)
					return
				}
				step := int64(1)
				for pb.Next() {
					signInWork(b, s, user, step)
					step++
				}
			})
		})
	}
}

// signInWork is a sign-in's store calls: the password and code attempts
// taken, security info read twice, the TOTP step used, the counters reset,
// two Recent activity events.
func signInWork(b *testing.B, s store.Store, user string, step int64) {
	ctx := context.Background()
	now := time.Now()
	backoff := func(store.Failures, time.Time) (time.Duration, bool) { return 0, false }
	for _, counter := range []string{store.FailuresPassword, store.FailuresCode} {
		if _, err := s.TakeAttempt(ctx, user, counter, now, backoff); err != nil {
			b.Fatal(err)
		}
	}
	for range 2 {
		if _, err := s.SecurityInfo(ctx, user); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.UseTOTPStep(ctx, user, step); err != nil {
		b.Fatal(err)
	}
	for _, counter := range []string{store.FailuresPassword, store.FailuresCode} {
		if err := s.ResetFailures(ctx, user, counter); err != nil {
			b.Fatal(err)
		}
	}
	for _, outcome := range []string{"password-ok", "success"} {
		if err := s.RecordSignInEvent(ctx, store.SignInEvent{Username: user, At: now, Method: "totp", Outcome: outcome}); err != nil {
			b.Fatal(err)
		}
	}
}

var benchBackends = map[string]func(b *testing.B) store.Store{
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
