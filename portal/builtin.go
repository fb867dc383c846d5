package portal

import (
	"errors"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/stepgate/stepgate/verifiers/phone"

	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/passkey"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/sms"
	"github.com/stepgate/stepgate/verifiers/totp"
	"github.com/stepgate/stepgate/verifiers/voice"
)

// This file is the registration wiring of the built-in methods: the only
// place in the portal that names one. Config.SMS, Voice and Push turn them
// on; the authenticator app code is always on. Other methods come in
// through Config.Methods.

// builtinMethods builds the built-in methods the configuration turns on,
// in the order first-sign-in registration offers their set-ups: an app
// that shows codes first, then sign-in requests, then a phone.
func builtinMethods(cfg Config, env verifiers.Env) ([]verifiers.Method, error) {
	ms := []verifiers.Method{&totp.Verifier{Store: env.Store, Sealer: env.Sealer, Issuer: env.Issuer, Now: env.Now}}
	if c := cfg.Passkeys; c != nil {
		ms = append(ms, &passkey.Verifier{Store: env.Store, Domain: cfg.CookieDomain, Name: env.Issuer,
			UserVerification: c.UserVerification, AAGUIDs: c.AAGUIDs, Key: env.Key, Now: env.Now, Log: env.Log, Host: env.Host})
	}
	if c := cfg.Push; c != nil {
		sender := c.Sender
		if sender == nil {
			sender = &push.WebPush{Keys: c.VAPID, Store: env.Store, Sealer: env.Sealer,
				Contact: c.Contact, Services: c.Services, Client: push.NewClient()}
		}
		ms = append(ms, &push.Verifier{Store: env.Store, Sender: sender, Limits: c.Limits.WithDefaults(), Log: env.Log, Now: env.Now,
			Prefix: env.Prefix, Host: env.Host, AppName: env.Issuer, Brand: env.Brand})
	}
	if c := cfg.SMS; c != nil {
		if c.Sender == nil {
			return nil, errors.New("portal: text messages without a sender")
		}
		ms = append(ms, &sms.Verifier{Store: env.Store, Sender: c.Sender, Key: env.Key, AppName: env.Issuer,
			Limits: c.Limits, Countries: c.Countries, Now: env.Now, Service: c.Service, LoopbackOnly: c.LoopbackOnly, Log: env.Log,
			AlsoCalls: cfg.Voice != nil})
	}
	if c := cfg.Voice; c != nil {
		if c.Caller == nil {
			return nil, errors.New("portal: phone calls without a caller")
		}
		codes := voice.NewCodes(sms.Verifier{Store: env.Store, Key: env.Key, AppName: env.Issuer,
			Limits: c.Limits, Countries: c.Countries, Now: env.Now, LoopbackOnly: c.LoopbackOnly, Log: env.Log}, c.Caller, env.Issuer)
		ms = append(ms, &voice.Verifier{Codes: codes, Store: env.Store, Caller: c.Caller, Mode: c.Mode,
			PublicURL: c.PublicURL, Prefix: env.Prefix, AppName: env.Issuer, Now: env.Now,
			AuthToken: c.AuthToken, LoopbackOnly: c.LoopbackOnly, Simulate: c.Simulate,
			// Texts set up a phone when they are on; otherwise a call
			// reads out the code that confirms it.
			EnrolPhone: cfg.SMS == nil, Host: env.Host, Log: env.Log, Languages: env.Languages})
	}
	return ms, nil
}

// PasskeyConfig is how passkeys and security keys are asked for.
type PasskeyConfig struct {
	// UserVerification at a second step: "preferred" (default) or
	// "required".
	UserVerification protocol.UserVerificationRequirement
	// AAGUIDs, when set, are the only authenticator models that may be
	// added.
	AAGUIDs []uuid.UUID
}

// SMSConfig is how text messages are sent and limited.
type SMSConfig struct {
	Sender sms.Sender
	// Service, when set, makes and checks the codes (Twilio Verify).
	Service   sms.CodeService
	Limits    sms.Limits
	Countries phone.Countries
	// LoopbackOnly refuses to send unless the client and the site are on
	// this machine: the development outbox writes codes to the log, so
	// it must never serve real users.
	LoopbackOnly bool
}

// VoiceConfig is how phone calls are placed and answered.
type VoiceConfig struct {
	Caller    voice.Caller
	Mode      voice.Mode
	Limits    sms.Limits
	Countries phone.Countries
	// PublicURL is where Twilio reaches the gateway (press_key callbacks);
	// signatures are checked against it, never against the Host header.
	PublicURL string
	// AuthToken checks the X-Twilio-Signature of callbacks; empty (the
	// outbox) refuses every callback.
	AuthToken string
	// LoopbackOnly: the development outbox, serving only this machine,
	// with buttons that simulate the callee's answer.
	LoopbackOnly bool
	// Simulate shows those buttons (the outbox).
	Simulate bool
}

// PushConfig is how approval requests are delivered and limited.
type PushConfig struct {
	// Sender delivers notifications. Default: Web Push with the settings
	// below, its VAPID keys sealed in the store with the secret.
	Sender push.Sender
	// VAPID keys; empty: generated once and kept in the store.
	VAPID push.VAPIDKeys
	// Contact is the VAPID subject (mailto: or https:).
	Contact string
	// Services are extra allowed push services (see push.WebPush).
	Services []string
	Limits   push.Limits
}
