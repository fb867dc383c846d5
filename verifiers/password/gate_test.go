package password

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeGate is a one-slot gate on a hand-driven clock; releases scheduled
// by run are collected instead of fired.
func fakeGate(share float64) (*gate, *[]time.Duration, *[]func()) {
	g := newGate(share)
	g.slots = make(chan struct{}, 1)
	g.wait = 20 * time.Millisecond
	var rests []time.Duration
	var releases []func()
	g.after = func(d time.Duration, f func()) { rests = append(rests, d); releases = append(releases, f) }
	return g, &rests, &releases
}

func TestGateKeepsHashingToItsShare(t *testing.T) {
	g, rests, releases := fakeGate(0.2)
	clock := time.Unix(1_700_000_000, 0)
	g.now = func() time.Time { return clock }
	hash := func() { clock = clock.Add(100 * time.Millisecond) }

	if err := g.run(context.Background(), hash); err != nil {
		t.Fatal(err)
	}
	// 100 ms of hashing at a 20 % share: the slot rests 400 ms.
	if len(*rests) != 1 || (*rests)[0] != 400*time.Millisecond {
		t.Fatalf("rest after a 100 ms hash at 20%%: %v, want [400ms]", *rests)
	}
	// While it rests, the next sign-in waits and then hears "busy".
	called := false
	if err := g.run(context.Background(), func() { called = true }); !errors.Is(err, ErrBusy) || called {
		t.Fatalf("second hash during the rest: err %v, ran %v; want ErrBusy without running", err, called)
	}
	// A caller that goes away stops waiting with its own error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.run(ctx, func() { called = true }); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("cancelled caller: err %v, ran %v", err, called)
	}
	// After the rest, the slot is free again.
	(*releases)[0]()
	if err := g.run(context.Background(), hash); err != nil {
		t.Fatalf("after the rest: %v", err)
	}
}

func TestGateWithoutCeilingReleasesAtOnce(t *testing.T) {
	g, rests, _ := fakeGate(1)
	for i := range 3 {
		if err := g.run(context.Background(), func() {}); err != nil {
			t.Fatalf("hash %d: %v", i, err)
		}
	}
	if len(*rests) != 0 {
		t.Fatalf("share 1 scheduled rests %v", *rests)
	}
}

func TestAuthenticateWaitsForItsTurn(t *testing.T) {
	d, _, _ := aliceOnly(t)
	d.hashing.slots = make(chan struct{}, 1)
	d.hashing.wait = 10 * time.Millisecond
	d.hashing.slots <- struct{}{} // someone else is hashing
	if _, ok, err := d.Authenticate(context.Background(), "alice", "pw"); !errors.Is(err, ErrBusy) || ok {
		t.Fatalf("Authenticate with no free slot: ok %v, err %v; want ErrBusy", ok, err)
	}
	<-d.hashing.slots
	if _, ok, err := d.Authenticate(context.Background(), "alice", "pw"); err != nil || !ok {
		t.Fatalf("Authenticate with a free slot: ok %v, err %v", ok, err)
	}
}
