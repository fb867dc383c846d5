package password

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// heapPeak samples the heap's object bytes while f runs and returns the
// highest sample above the heap after a GC before f.
func heapPeak(f func()) (growth uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	peak := base
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				peak = max(peak, read())
			}
		}
	}()
	f()
	close(stop)
	<-done
	peak = max(peak, read())
	return peak - base
}

// TestMemoryDoesNotGrowWithAttackers: 200 concurrent sign-ins for unknown
// names, right after Open and right after a reload that brings a new hash
// kind, grow the heap by no more than the hashing slots' memory (with Go's
// garbage-collector headroom) plus a margin: dummy hashes are prepared
// when the file loads and every hash runs in a slot. Before the fix each
// of these sign-ins computed its own dummy hash until the first one was
// cached, and the cache started empty after every reload.
func TestMemoryDoesNotGrowWithAttackers(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 400 times")
	}
	// 2 MiB, 12 passes: long enough that concurrent hashes interleave
	// (as 64 MiB, 3 passes did in production), small enough that the
	// unfixed code's 200 × 2 MiB fits in a test.
	kind := func(pass uint32) string {
		h, err := HashWith(Params{Memory: 2048, Time: pass, Threads: 1}, "pw")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, oneUser("alice", kind(12)))
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// No budget or ceiling in the way: every sign-in reaches the hashing
	// slots, each from its own address, the worst case for memory.
	d.SetLimits(Limits{CPUShare: 1, Wait: time.Hour})
	const slotMemory = 2 << 20
	limit := uint64(3*d.hashing.slots*slotMemory + 16<<20)

	burst := func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, ok, err := d.Authenticate(context.Background(), fmt.Sprintf("10.1.%d.%d", i/250, i%250), fmt.Sprintf("nobody%d", i), "guess"); ok || err != nil {
					t.Errorf("unknown user: ok %v, err %v", ok, err)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	if g := heapPeak(burst); g > limit {
		t.Errorf("200 unknown-name sign-ins after Open grew the heap by %d MiB, want at most %d MiB (%d slots)", g>>20, limit>>20, d.hashing.slots)
	}
	rewriteFile(t, path, oneUser("alice", kind(13)), time.Second)
	if changed, err := d.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if g := heapPeak(burst); g > limit {
		t.Errorf("200 unknown-name sign-ins after a reload grew the heap by %d MiB, want at most %d MiB", g>>20, limit>>20)
	}
}
