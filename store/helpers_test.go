package store

import (
	"context"
	"testing"
	"time"
)

// Helpers of the SQLite-only tests; storetest has its own for the
// contract.

// enrol enrols a device named id for user with a fresh token that is not
// for a first method.
func enrol(t *testing.T, s *SQLite, user, id string, now time.Time) error {
	t.Helper()
	tok := []byte("tok-" + id)
	if err := s.PutPushEnrolment(context.Background(), tok, "ch-"+id, user, now.Add(time.Minute), false); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.EnrolPushDevice(context.Background(), tok, PushDevice{ID: id, Name: id, PublicKey: []byte{4}}, now)
	return err
}

// testBackoff lets 5 attempts through, then one a minute, and locks at 8.
func testBackoff(f Failures, now time.Time) (time.Duration, bool) {
	switch {
	case f.Count >= 8:
		return 0, true
	case f.Count >= 5:
		return max(0, f.Last.Add(time.Minute).Sub(now)), false
	}
	return 0, false
}
