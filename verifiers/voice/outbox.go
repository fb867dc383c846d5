package voice

import (
	"context"

	"github.com/stepgate/stepgate/verifiers/sms"
)

// Outbox "places" calls by writing what the call would say to the log and
// the outbox file. Development only: in press_key mode nobody can press #,
// so the portal's waiting page offers buttons that simulate the answer
// (only to clients on the server itself).
type Outbox struct {
	Box *sms.Outbox
}

// Call implements Caller.
func (o *Outbox) Call(ctx context.Context, to, twiml, statusCallback string) error {
	return o.Box.Record(ctx, Method, to, twiml)
}
