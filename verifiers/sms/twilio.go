package sms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// TwilioTimeout bounds every call to Twilio's API.
const TwilioTimeout = 10 * time.Second

// TwilioConfig is what the twilio transport needs.
type TwilioConfig struct {
	AccountSID string
	AuthToken  string
	From       string // a Twilio number in E.164 form, or a messaging service SID (MG…)
	// APIURL replaces https://api.twilio.com (a test double, an egress
	// proxy); empty for Twilio itself.
	APIURL string
}

// Validate names the first missing or malformed setting.
func (c TwilioConfig) Validate() error {
	switch {
	case c.AccountSID == "":
		return errors.New("twilio: account_sid is missing")
	case c.AuthToken == "":
		return errors.New("twilio: auth_token is missing")
	case c.From == "":
		return errors.New("twilio: from is missing (your Twilio phone number, e.g. +15555550100)")
	}
	if c.APIURL != "" {
		if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("twilio: api_url %q is not an http(s) URL", c.APIURL)
		}
	}
	return nil
}

// NewTwilioClient builds the twilio-go client: 10 s timeout, no redirects,
// and requests sent to APIURL when it is set.
func NewTwilioClient(c TwilioConfig) (*twilio.RestClient, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var transport http.RoundTripper = http.DefaultTransport
	if c.APIURL != "" {
		u, _ := url.Parse(c.APIURL)
		transport = rewriteHost{to: u, next: http.DefaultTransport}
	}
	base := &client.Client{
		Credentials: client.NewCredentials(c.AccountSID, c.AuthToken),
		HTTPClient: &http.Client{Timeout: TwilioTimeout, Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	base.SetAccountSid(c.AccountSID)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: base}), nil
}

// rewriteHost sends every request to another scheme and host.
type rewriteHost struct {
	to   *url.URL
	next http.RoundTripper
}

func (t rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.to.Scheme, t.to.Host, t.to.Host
	return t.next.RoundTrip(r)
}

// Twilio sends texts with Twilio's Messages API.
type Twilio struct {
	Client *twilio.RestClient
	From   string
}

// Send implements Sender.
func (t *Twilio) Send(ctx context.Context, to, body string) error {
	params := (&api.CreateMessageParams{}).SetTo(to).SetBody(body)
	if len(t.From) > 2 && t.From[:2] == "MG" {
		params.SetMessagingServiceSid(t.From)
	} else {
		params.SetFrom(t.From)
	}
	_, err := t.Client.Api.CreateMessage(params)
	if err != nil {
		return TwilioError(err)
	}
	return nil
}

// TwilioError turns an error from the Twilio API into a SendError with
// words for the user (a message ID; the page shows it in its language).
// The admin sees the full error in the log.
func TwilioError(err error) *SendError { return twilioError(err, false) }

// TwilioCallError is TwilioError for a phone call.
func TwilioCallError(err error) *SendError { return twilioError(err, true) }

func twilioError(err error, call bool) *SendError {
	say := func(text, voice string) *SendError {
		if call {
			return sendError(voice, err)
		}
		return sendError(text, err)
	}
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		return say("sms.send.text.unreachable", "sms.send.call.unreachable")
	}
	switch {
	case te.Code == 21211 || te.Code == 21614 || te.Code == 21217 || te.Code == 21401 || te.Code == 13224:
		return say("sms.send.text.cannot_receive", "sms.send.call.cannot_call")
	case te.Code == 21610:
		return say("sms.send.text.blocked_by_user", "sms.send.call.blocked_by_user")
	case te.Code == 21408 || te.Code == 21612 || te.Code == 21215 || te.Code == 30450 || te.Code == 60410:
		return say("sms.send.text.blocked_by_provider", "sms.send.call.blocked_by_provider")
	case te.Status == http.StatusTooManyRequests || te.Code == 20429:
		return say("sms.send.text.too_many", "sms.send.call.too_many")
	case te.Code == 20003 || te.Status == http.StatusUnauthorized:
		return say("sms.send.text.settings", "sms.send.call.settings")
	}
	return say("sms.send.text.failed", "sms.send.call.failed")
}
