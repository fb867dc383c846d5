package voice

import (
	"context"

	"github.com/twilio/twilio-go"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/stepgate/stepgate/verifiers/sms"
)

// Twilio places calls with Twilio's Calls API, the TwiML inline.
type Twilio struct {
	Client *twilio.RestClient
	From   string
}

// Call implements Caller. Twilio posts the call's final status
// (completed, busy, no-answer, failed, canceled) to statusCallback.
func (t *Twilio) Call(ctx context.Context, to, twiml, statusCallback string) error {
	params := (&api.CreateCallParams{}).SetTo(to).SetFrom(t.From).SetTwiml(twiml).SetTimeout(30)
	if statusCallback != "" {
		params.SetStatusCallback(statusCallback).SetStatusCallbackMethod("POST").SetStatusCallbackEvent([]string{"completed"})
	}
	if _, err := t.Client.Api.CreateCall(params); err != nil {
		return sms.TwilioCallError(err)
	}
	return nil
}
