package verifiers

import (
	"testing"
	"time"
)

func TestHumanWait(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "a second", 300 * time.Millisecond: "a second", time.Second: "a second",
		1001 * time.Millisecond: "2 seconds", 25 * time.Second: "25 seconds", 59 * time.Second: "59 seconds",
		time.Minute: "a minute", 61 * time.Second: "2 minutes", 15 * time.Minute: "15 minutes", 2 * time.Hour: "an hour",
	} {
		if got := HumanWait(d); got != want {
			t.Errorf("HumanWait(%v) = %q, want %q", d, got, want)
		}
	}
}
