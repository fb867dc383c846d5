package portal

import (
	"context"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
)

// TestNotBeforeVoidsTheWholeSecond: sessions keep their issue time in
// whole seconds, so a "not before" part-way through a second voids every
// session of that second (one issued 0.4 s into it reads as its start),
// and none of the next.
func TestNotBeforeVoidsTheWholeSecond(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		nb      time.Time
		issued  int64
		revoked bool
	}{
		{base.Add(900 * time.Millisecond), base.Unix() - 1, true},
		{base.Add(900 * time.Millisecond), base.Unix(), true}, // issued at .4 of the same second
		{base.Add(900 * time.Millisecond), base.Unix() + 1, false},
		{base, base.Unix() - 1, true},
		{base, base.Unix(), false}, // a whole-second cut-off: that second's sessions came after it
	} {
		rv := newRevocations()
		rv.add(store.Revocation{Username: "alice", NotBefore: tc.nb})
		if got := rv.revoked("s1", "alice", tc.issued); got != tc.revoked {
			t.Errorf("not before %s, issued %d: revoked %v, want %v", tc.nb.Format("15:04:05.000"), tc.issued, got, tc.revoked)
		}
		if rv.revoked("s1", "bob", tc.issued) {
			t.Errorf("bob's session revoked by alice's cut-off")
		}
	}
}

// committedStore is a revocation feed whose rows become visible in an
// order of its choosing, as PostgreSQL's do when the transaction that
// took a lower sequence number commits later.
type committedStore struct {
	store.RevocationStore
	visible []store.Revocation
	asked   []int64
}

func (c *committedStore) RevocationsAfter(_ context.Context, after int64, _ time.Time) ([]store.Revocation, error) {
	c.asked = append(c.asked, after)
	var out []store.Revocation
	for _, r := range c.visible {
		if r.Seq > after {
			out = append(out, r)
		}
	}
	return out, nil
}

// TestRevocationCommittedOutOfOrder: revocation 2 is seen first, 1 commits
// two seconds later; the next sync still finds 1, and once the overlap has
// passed, syncs read only past what they had seen by then.
func TestRevocationCommittedOutOfOrder(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	far := now.Add(time.Hour)
	st := &committedStore{visible: []store.Revocation{{Seq: 2, SessionID: "b", Expires: far}}}
	rv := newRevocations()
	if err := rv.sync(ctx, st, now); err != nil {
		t.Fatal(err)
	}
	st.visible = append(st.visible, store.Revocation{Seq: 1, SessionID: "a", Expires: far})
	rv.sync(ctx, st, now.Add(2*time.Second))
	if !rv.revoked("a", "alice", now.Unix()) || !rv.revoked("b", "bob", now.Unix()) {
		t.Fatal("the revocation committed late was skipped")
	}
	rv.sync(ctx, st, now.Add(revocationOverlap+time.Second))
	if got := st.asked[len(st.asked)-1]; got != 2 {
		t.Fatalf("after the overlap, read after %d, want 2 (asked %v)", got, st.asked)
	}
}
