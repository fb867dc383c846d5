package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/twilio/twilio-go"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/portal"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/sms"
	"github.com/stepgate/stepgate/verifiers/voice"
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
	// VerifyServiceSID (texts only) lets Twilio Verify make, send and check
	// the codes instead of Stepgate.
	VerifyServiceSID string `json:"verify_service_sid,omitempty"`
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

// VoiceConfig turns on phone calls.
type VoiceConfig struct {
	// Transport is "twilio" or "outbox" (development: the call's words go
	// to the log, and the waiting page can simulate the answer).
	Transport  string        `json:"transport"`
	Twilio     *TwilioConfig `json:"twilio,omitempty"`
	OutboxFile string        `json:"outbox_file,omitempty"`
	// Mode is press_key (default: press # to sign in; needs public_url
	// with twilio) or read_code (the call reads a code to type).
	Mode string `json:"mode,omitempty"`
}

// phoneTransport is what sms and voice share: a Twilio account or the
// outbox, and the countries numbers may be in.
type phoneTransport struct {
	twilio    *twilio.RestClient
	cfg       sms.TwilioConfig
	outbox    *sms.Outbox
	countries phone.Countries
}

func (a *App) phoneTransport(repl *caddy.Replacer, what, transport string, tw *TwilioConfig, outboxFile string) (*phoneTransport, error) {
	countries, err := phone.ParseCountries(a.AllowedCountries)
	if err != nil {
		return nil, fmt.Errorf("allowed_countries: %w", err)
	}
	pt := &phoneTransport{countries: countries}
	switch transport {
	case "twilio":
		if tw == nil {
			return nil, fmt.Errorf("%s twilio: the account is missing: add account_sid, auth_token and from", what)
		}
		pt.cfg = sms.TwilioConfig{
			AccountSID: repl.ReplaceKnown(tw.AccountSID, ""),
			AuthToken:  repl.ReplaceKnown(tw.AuthToken, ""),
			From:       repl.ReplaceKnown(tw.From, ""),
			APIURL:     repl.ReplaceKnown(tw.APIURL, ""),
		}
		if pt.twilio, err = sms.NewTwilioClient(pt.cfg); err != nil {
			return nil, fmt.Errorf("%s %w", what, err)
		}
		if len(pt.countries) == 0 {
			// Default: only the sending number's own country.
			code, err := phone.CallingCode(pt.cfg.From)
			if err != nil {
				return nil, fmt.Errorf("%s twilio: from %q is not a phone number, so set allowed_countries (e.g. allowed_countries +1 +44)", what, pt.cfg.From)
			}
			pt.countries = phone.Countries{code}
		}
	case "outbox":
		pt.outbox = &sms.Outbox{Path: repl.ReplaceKnown(outboxFile, ""), Log: a.logger}
		if len(pt.countries) == 0 {
			pt.countries = allCallingCodes()
		}
		a.logger.Warn(what+" uses the development outbox: codes and calls are written to the log, not sent",
			zap.String("outbox_file", outboxFile), zap.Bool("outbox_allowed", a.OutboxAllowed))
	default:
		return nil, fmt.Errorf("unknown %s transport %q (want twilio or outbox)", what, transport)
	}
	return pt, nil
}

func (a *App) sendLimits() sms.Limits {
	l := a.SendLimits
	if l == nil {
		return sms.Limits{}
	}
	return sms.Limits{Cooldown: time.Duration(l.Cooldown), PerUser: l.PerUser, PerNumber: l.PerNumber,
		PerIP: l.PerIP, GlobalPerMinute: l.GlobalPerMinute}
}

// phonePortalConfig builds the portal's text-message and phone-call
// settings.
func (a *App) phonePortalConfig(repl *caddy.Replacer, cfg *portal.Config) error {
	if a.SMS == nil && a.Voice == nil {
		if len(a.AllowedCountries) > 0 || a.SendLimits != nil || a.PublicURL != "" {
			return errors.New("allowed_countries, send_limits and public_url need a text-message or phone-call transport: add `sms …` or `voice …`")
		}
		return nil
	}
	if a.SMS != nil {
		pt, err := a.phoneTransport(repl, "sms", a.SMS.Transport, a.SMS.Twilio, a.SMS.OutboxFile)
		if err != nil {
			return err
		}
		c := &portal.SMSConfig{Countries: pt.countries, Limits: a.sendLimits()}
		if pt.twilio != nil {
			c.Sender = &sms.Twilio{Client: pt.twilio, From: pt.cfg.From}
			if sid := repl.ReplaceKnown(a.SMS.Twilio.VerifyServiceSID, ""); sid != "" {
				if !strings.HasPrefix(sid, "VA") {
					return fmt.Errorf("sms twilio: verify_service_sid %q is not a Verify service SID (VA…)", sid)
				}
				c.Service = &sms.TwilioVerify{Client: pt.twilio, ServiceSID: sid}
			}
		} else {
			c.Sender, c.LoopbackOnly = pt.outbox, !a.OutboxAllowed
		}
		cfg.SMS = c
	}
	if a.Voice != nil {
		pt, err := a.phoneTransport(repl, "voice", a.Voice.Transport, a.Voice.Twilio, a.Voice.OutboxFile)
		if err != nil {
			return err
		}
		mode := voice.Mode(a.Voice.Mode)
		switch mode {
		case "":
			mode = voice.PressKey
		case voice.PressKey, voice.ReadCode:
		default:
			return fmt.Errorf("voice: unknown mode %q (want press_key or read_code)", a.Voice.Mode)
		}
		c := &portal.VoiceConfig{Mode: mode, Countries: pt.countries, Limits: a.sendLimits()}
		if pt.twilio != nil {
			c.Caller, c.AuthToken = &voice.Twilio{Client: pt.twilio, From: pt.cfg.From}, pt.cfg.AuthToken
			if mode == voice.PressKey {
				public := repl.ReplaceKnown(a.PublicURL, "")
				u, err := url.Parse(public)
				if public == "" || err != nil || u.Host == "" || u.Path != "" && u.Path != "/" ||
					!(u.Scheme == "https" || u.Scheme == "http" && isLoopbackName(u.Hostname())) {
					return fmt.Errorf("voice twilio in press_key mode needs public_url: the https address of a site protected by stepgate, as Twilio reaches it (e.g. public_url https://app.example.com); or use mode read_code. Got %q", public)
				}
				c.PublicURL = strings.TrimSuffix(public, "/")
			}
		} else {
			c.Caller, c.LoopbackOnly, c.Simulate = &voice.Outbox{Box: pt.outbox}, !a.OutboxAllowed, true
		}
		cfg.Voice = c
	}
	return nil
}

func isLoopbackName(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// allCallingCodes allows every country (the outbox sends nothing).
func allCallingCodes() phone.Countries {
	out := make(phone.Countries, 0, 999)
	for i := 1; i <= 999; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}
