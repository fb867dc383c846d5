package sms

import (
	"context"
	"errors"
	"net/http"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	verify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
)

// CodeService is a provider that makes, sends and checks the codes itself
// (Twilio Verify). The verifier still applies its sending limits and the
// portal its lockout; the provider enforces single use, expiry and tries.
type CodeService interface {
	Start(ctx context.Context, to string) error
	Check(ctx context.Context, to, code string) (verifiers.Result, error)
}

// TwilioVerify is Twilio's Verify API, sending codes by text.
type TwilioVerify struct {
	Client     *twilio.RestClient
	ServiceSID string // VA…
}

// verifyLocales are Twilio Verify's locales of the languages Stepgate
// speaks, but English: for English, Verify keeps choosing the text's
// language by the number's country, as before languages were offered.
var verifyLocales = map[string]string{
	"de": "de", "fr": "fr", "es": "es", "pt-BR": "pt-BR", "it": "it",
	"nl": "nl", "pl": "pl", "ja": "ja", "zh-Hans": "zh-CN",
}

// Start implements CodeService. Twilio writes the text, in the language
// of the request that sends it.
func (t *TwilioVerify) Start(ctx context.Context, to string) error {
	params := (&verify.CreateVerificationParams{}).SetTo(to).SetChannel("sms")
	if locale, ok := verifyLocales[messages.From(ctx).Tag()]; ok {
		params.SetLocale(locale)
	}
	_, err := t.Client.VerifyV2.CreateVerification(t.ServiceSID, params)
	if err != nil {
		return TwilioError(err)
	}
	return nil
}

// Check implements CodeService. Twilio answers 404 once a verification is
// approved, expired or out of tries: there is no live code any more.
func (t *TwilioVerify) Check(ctx context.Context, to, code string) (verifiers.Result, error) {
	res, err := t.Client.VerifyV2.CreateVerificationCheck(t.ServiceSID, (&verify.CreateVerificationCheckParams{}).SetTo(to).SetCode(code))
	var te *client.TwilioRestError
	switch {
	case errors.As(err, &te) && (te.Status == http.StatusNotFound || te.Code == 60202 || te.Code == 20404):
		return verifiers.Expired, nil
	case err != nil:
		return verifiers.Rejected, TwilioError(err)
	case res.Status != nil && *res.Status == "approved":
		return verifiers.Accepted, nil
	}
	return verifiers.Rejected, nil
}
