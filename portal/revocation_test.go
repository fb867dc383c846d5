package portal

import (
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
