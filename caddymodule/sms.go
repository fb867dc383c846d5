package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/portal"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/sms"
)

// SMSConfig turns on text-message codes.
type SMSConfig struct {
	// Transport is "twilio" (real texts) or "outbox" (development: texts
	// go to the log and to OutboxFile).
	Transport string `json:"transport"`
	// Twilio is the twilio transport's account.
	Twilio *TwilioConfig `json:"twilio,omitempty"`
	// OutboxFile is where the outbox transport appends messages (JSON
	// lines); empty: the log only.
	OutboxFile string `json:"outbox_file,omitempty"`
}

// TwilioConfig is a Twilio account. Use placeholders for the token:
// auth_token {env.TWILIO_AUTH_TOKEN}.
type TwilioConfig struct {
	AccountSID string `json:"account_sid,omitempty"`
	AuthToken  string `json:"auth_token,omitempty"`
	// From is the sending number (E.164) or a messaging service SID (MG…).
	From string `json:"from,omitempty"`
	// APIURL sends API requests somewhere other than https://api.twilio.com
	// (a test double, an egress proxy).
	APIURL string `json:"api_url,omitempty"`
}

// SendLimitsConfig are the abuse limits on sending codes; zero values take
// the defaults.
type SendLimitsConfig struct {
	// Cooldown between two codes to one user (default 30s).
	Cooldown caddy.Duration `json:"cooldown,omitempty"`
	// PerUser codes per user per hour (default 10).
	PerUser int `json:"per_user,omitempty"`
	// PerNumber codes per destination number per hour (default 10).
	PerNumber int `json:"per_number,omitempty"`
	// PerIP codes per client IP per hour (default 20).
	PerIP int `json:"per_ip,omitempty"`
	// GlobalPerMinute codes per minute in total (default 60).
	GlobalPerMinute int `json:"global_per_minute,omitempty"`
}

// smsPortalConfig builds the portal's text-message settings.
func (a *App) smsPortalConfig(repl *caddy.Replacer) (*portal.SMSConfig, error) {
	if a.SMS == nil {
		if len(a.AllowedCountries) > 0 || a.SendLimits != nil {
			return nil, errors.New("allowed_countries and send_limits need a text-message transport: add `sms twilio { … }` or `sms outbox`")
		}
		return nil, nil
	}
	out := &portal.SMSConfig{}
	countries, err := phone.ParseCountries(a.AllowedCountries)
	if err != nil {
		return nil, fmt.Errorf("allowed_countries: %w", err)
	}
	switch a.SMS.Transport {
	case "twilio":
		if a.SMS.Twilio == nil {
			return nil, errors.New("sms twilio: the account is missing: add account_sid, auth_token and from")
		}
		tc := sms.TwilioConfig{
			AccountSID: repl.ReplaceKnown(a.SMS.Twilio.AccountSID, ""),
			AuthToken:  repl.ReplaceKnown(a.SMS.Twilio.AuthToken, ""),
			From:       repl.ReplaceKnown(a.SMS.Twilio.From, ""),
			APIURL:     repl.ReplaceKnown(a.SMS.Twilio.APIURL, ""),
		}
		client, err := sms.NewTwilioClient(tc)
		if err != nil {
			return nil, fmt.Errorf("sms %w", err)
		}
		out.Sender = &sms.Twilio{Client: client, From: tc.From}
		if len(countries) == 0 {
			// Default: only the sending number's own country.
			code, err := phone.CallingCode(tc.From)
			if err != nil {
				return nil, fmt.Errorf("sms twilio: from %q is not a phone number, so set allowed_countries (e.g. allowed_countries +1 +44)", tc.From)
			}
			countries = phone.Countries{code}
		}
	case "outbox":
		out.Sender = &sms.Outbox{Path: repl.ReplaceKnown(a.SMS.OutboxFile, ""), Log: a.logger}
		out.LoopbackOnly = !a.OutboxAllowed
		if len(countries) == 0 {
			countries = allCallingCodes()
		}
		a.logger.Warn("text messages use the development outbox: codes are written to the log, not sent",
			zap.String("outbox_file", a.SMS.OutboxFile), zap.Bool("outbox_allowed", a.OutboxAllowed))
	default:
		return nil, fmt.Errorf("unknown sms transport %q (want twilio or outbox)", a.SMS.Transport)
	}
	out.Countries = countries
	if l := a.SendLimits; l != nil {
		out.Limits = sms.Limits{Cooldown: time.Duration(l.Cooldown), PerUser: l.PerUser, PerNumber: l.PerNumber,
			PerIP: l.PerIP, GlobalPerMinute: l.GlobalPerMinute}
	}
	return out, nil
}

// allCallingCodes allows every country (the outbox sends nothing).
func allCallingCodes() phone.Countries {
	out := make(phone.Countries, 0, 999)
	for i := 1; i <= 999; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}
