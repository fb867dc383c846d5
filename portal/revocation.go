package portal

import (
	"context"
	"sync"
	"time"

	"github.com/stepgate/stepgate/store"
)

// revocations is the in-memory deny list the hot path consults: revoked
// session IDs and per-user "not before" times. It is filled at once by this
// instance's own logouts and refreshed from the store in the background, so
// a logout on another instance takes effect here within one poll interval.
type revocations struct {
	mu       sync.RWMutex
	sessions map[string]time.Time // session ID → when the entry can be dropped
	users    map[string]time.Time // username → sessions issued before are void
	lastSeq  int64
	// marks are the highest sequence number seen at each sync, oldest
	// first, for the last revocationOverlap (and one before).
	marks []seqMark
}

type seqMark struct {
	at  time.Time
	seq int64
}

// revocationOverlap is how far back each sync reads again. A shared store
// numbers revocations when they are written, and in PostgreSQL a
// transaction that took a number may commit after one that took a higher
// number: reading only past the highest number seen would skip it for
// ever. Every sync reads again what was written since the highest number
// seen revocationOverlap ago, so a revocation is missed only if its
// write took longer than that to commit.
const revocationOverlap = 30 * time.Second

func newRevocations() *revocations {
	return &revocations{sessions: map[string]time.Time{}, users: map[string]time.Time{}}
}

// revoked reports whether a session is void.
func (rv *revocations) revoked(id, user string, issued int64) bool {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	if _, ok := rv.sessions[id]; ok {
		return true
	}
	if nb, ok := rv.users[user]; ok && issued < cutOff(nb) {
		return true
	}
	return false
}

// cutOff is the first whole second whose sessions a "not before" time
// leaves alone. A session's issue time is kept in whole seconds, so one
// issued at 12:00:00.4 reads 12:00:00: a not-before of 12:00:00.9 must
// void it, and therefore every session of that second, also one issued
// later in it.
func cutOff(nb time.Time) int64 {
	s := nb.Unix()
	if nb.Nanosecond() != 0 {
		s++
	}
	return s
}

func (rv *revocations) add(r store.Revocation) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.addLocked(r)
}

func (rv *revocations) addLocked(r store.Revocation) {
	if r.SessionID != "" {
		rv.sessions[r.SessionID] = r.Expires
	}
	if r.Username != "" && !r.NotBefore.IsZero() {
		if cur, ok := rv.users[r.Username]; !ok || r.NotBefore.After(cur) {
			rv.users[r.Username] = r.NotBefore
		}
	}
	if r.Seq > rv.lastSeq {
		rv.lastSeq = r.Seq
	}
}

// sync loads revocations newer than the last one seen, and forgets expired
// ones.
func (rv *revocations) sync(ctx context.Context, st store.RevocationStore, now time.Time) error {
	rv.mu.RLock()
	after := rv.readFrom(now)
	rv.mu.RUnlock()
	list, err := st.RevocationsAfter(ctx, after, now)
	if err != nil {
		return err
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, r := range list {
		rv.addLocked(r)
	}
	rv.marks = append(rv.marks, seqMark{at: now, seq: rv.lastSeq})
	// Keep the marks of the overlap and the newest one before it.
	for len(rv.marks) > 1 && !rv.marks[1].at.After(now.Add(-revocationOverlap)) {
		rv.marks = rv.marks[1:]
	}
	for id, exp := range rv.sessions {
		if !exp.After(now) {
			delete(rv.sessions, id)
		}
	}
	return nil
}

// readFrom is the sequence number a sync at now reads after: the highest
// seen revocationOverlap ago (0 before that: everything).
func (rv *revocations) readFrom(now time.Time) int64 {
	var after int64
	for _, m := range rv.marks {
		if m.at.After(now.Add(-revocationOverlap)) {
			break
		}
		after = m.seq
	}
	return after
}

// storeRevocation is the revocation of one session, kept until the session
// would have expired anyway: until its own recorded expiry, which no later
// change of the lifetime can extend (see Portal.expiry), or, for a session
// issued before expiries were recorded, one current lifetime after issue,
// whichever is later.
func storeRevocation(s session, lifetime time.Duration) store.Revocation {
	exp := time.Unix(s.Issued, 0).Add(lifetime)
	if e := time.Unix(s.Expires, 0); s.Expires != 0 && e.After(exp) {
		exp = e
	}
	return store.Revocation{SessionID: s.ID, Username: s.User, Expires: exp}
}
