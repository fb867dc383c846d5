package sms

import (
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"
)

// TestLimitErrorSaysWhatHappened: a refused send says what was sent (a
// code or a call), within which window, and the wait actually left.
func TestLimitErrorSaysWhatHappened(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		e    LimitError
		want string
	}{
		{LimitError{Limit: "cooldown", Method: "sms", Window: 30 * time.Second, Retry: now.Add(25 * time.Second)},
			"A code was sent to your phone less than 30 seconds ago. You can ask for a new code in 25 seconds."},
		{LimitError{Limit: "cooldown", Method: "voice", Window: 30 * time.Second, Retry: now.Add(1500 * time.Millisecond)},
			"We called your phone less than 30 seconds ago. You can ask for another call in 2 seconds."},
		{LimitError{Limit: "user", Method: "sms", Window: time.Hour, Retry: now.Add(10 * time.Minute)},
			"Too many codes have been sent. Try again in 10 minutes."},
		{LimitError{Limit: "global", Method: "voice", Window: time.Minute, Retry: now.Add(40 * time.Second)},
			"Too many calls have been made. Try again in 40 seconds."},
	} {
		if got := tc.e.Explain(messages.English(), "", now); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.e, got, tc.want)
		}
	}
}
