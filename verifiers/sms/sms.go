// Package sms is the "text message" method: a 6-digit code sent to the
// user's confirmed phone number, valid 10 minutes, single use, at most 5
// wrong tries, stored only as a keyed hash bound to the sign-in challenge
// and to the number it was sent to.
package sms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
)

// Method is this method's name in the store, the logs and the Caddyfile.
const Method = "sms"

const (
	// CodeLifetime is how long a sent code works.
	CodeLifetime = 10 * time.Minute
	// MaxTries is how many wrong codes use a code up.
	MaxTries = 5
	// CodeDigits is the length of a code.
	CodeDigits = 6
)

// Sender delivers one text message. Errors the user should hear about are
// *SendError.
type Sender interface {
	Send(ctx context.Context, to, body string) error
}

// SendError is a failed delivery, with what to tell the user.
type SendError struct {
	// Message, when set, is the ID of the message shown on the sign-in
	// page (this package's "sms.send.…"), in the page's language.
	Message string
	// UserMessage is what the page shows otherwise (a Sender's own
	// words); with Message set, its English, for the log.
	UserMessage string
	// Err is the transport's error, for the log.
	Err error
}

// sendError is a SendError saying message id.
func sendError(id string, err error) *SendError {
	return &SendError{Message: id, UserMessage: messages.English().T(id), Err: err}
}

func (e *SendError) Error() string { return e.UserMessage + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Limits are the abuse limits on sending. Zero values take the defaults.
type Limits struct {
	Cooldown        time.Duration // between two sends to one user (30 s)
	PerUser         int           // sends per user per hour (10)
	PerNumber       int           // sends per destination number per hour (10)
	PerIP           int           // sends per client IP (IPv6: per /64) per hour (20)
	GlobalPerMinute int           // sends per minute, all users together (60)
}

// WithDefaults fills in the zero values.
func (l Limits) WithDefaults() Limits {
	if l.Cooldown == 0 {
		l.Cooldown = 30 * time.Second
	}
	if l.PerUser == 0 {
		l.PerUser = 10
	}
	if l.PerNumber == 0 {
		l.PerNumber = 10
	}
	if l.PerIP == 0 {
		l.PerIP = 20
	}
	if l.GlobalPerMinute == 0 {
		l.GlobalPerMinute = 60
	}
	return l
}

// LimitError says a send was refused by a limit, and when to try again.
type LimitError struct {
	Limit  string // which one: cooldown, user, number, ip, global
	Retry  time.Time
	Method string        // the method refused: "sms", or "voice" for calls
	Window time.Duration // the limit's window (the cooldown itself for "cooldown")
}

func (e *LimitError) Error() string { return "send limit reached: " + e.Limit }

// ErrCountry is returned for a number outside the allowed countries.
var ErrCountry = errors.New("phone numbers in that country are not allowed here")

// Verifier sends and checks text-message codes. With MethodName, Message
// and Prompt set, the same machinery sends codes another way (a call that
// reads the code aloud).
type Verifier struct {
	Store interface {
		store.SecurityInfoStore
		store.CodeStore
		store.MethodStore
	}
	Sender    Sender
	Key       []byte // keys the code hashes (32 bytes)
	AppName   string // named in the message
	Limits    Limits
	Countries phone.Countries
	Now       func() time.Time

	// MethodName is the method's name (default "sms"); it keys the codes
	// and the sending limits.
	MethodName string
	// Message is what is sent for a code (default: a text naming AppName,
	// in the language of the request that sends it).
	Message func(code string) string
	// Prompt is what the page says after sending to a masked number, in
	// l's language (default "We texted your phone …").
	Prompt func(l *messages.Localizer, masked string) string
	// Service, when set, makes and checks the codes instead (Twilio
	// Verify); Sender, Key and Message are then unused.
	Service CodeService
	// LoopbackOnly refuses to send unless the client and the site are on
	// this machine: the development outbox writes codes to the log, so it
	// must never serve real users.
	LoopbackOnly bool
	// Log receives the outbox's refusals.
	Log *zap.Logger
	// AlsoCalls: calls use the same phone (the Security info page says so).
	AlsoCalls bool
}

// Method implements verifiers.Verifier.
func (v *Verifier) Method() string {
	if v.MethodName != "" {
		return v.MethodName
	}
	return Method
}

// Phone returns the user's confirmed number, or "".
func (v *Verifier) Phone(ctx context.Context, user verifiers.User) (string, error) {
	info, err := v.Store.SecurityInfo(ctx, user.Name)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return info.Phone, err
}

// Enrolled implements verifiers.Verifier: the user has a confirmed number.
func (v *Verifier) Enrolled(ctx context.Context, user verifiers.User) (bool, error) {
	p, err := v.Phone(ctx, user)
	return p != "", err
}

// Start implements verifiers.Verifier: it texts a new code to the user's
// confirmed number.
func (v *Verifier) Start(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (verifiers.Prompt, error) {
	number, err := v.Phone(ctx, user)
	if err != nil {
		return verifiers.Prompt{}, err
	}
	if number == "" {
		return verifiers.Prompt{}, verifiers.ErrNotEnrolled
	}
	if err := v.OutboxOnly(ch); err != nil {
		return verifiers.Prompt{}, err
	}
	return v.SendTo(ctx, user, ch, number)
}

// SendTo texts a new code for the challenge to number, which need not be
// confirmed yet (setting up a phone). The number must be valid and in an
// allowed country, and every sending limit must allow it.
func (v *Verifier) SendTo(ctx context.Context, user verifiers.User, ch verifiers.Challenge, number string) (verifiers.Prompt, error) {
	n, err := v.Reserve(ctx, user, ch, number)
	if err != nil {
		return verifiers.Prompt{}, err
	}
	// The text (or call) and the page speak the sign-in's language.
	l := messages.From(ctx)
	if v.Service != nil {
		if err := v.Service.Start(ctx, n.E164); err != nil {
			return verifiers.Prompt{}, err
		}
		return verifiers.Prompt{Input: "code", Message: l.T("sms.sent.prompt", "Phone", phone.MaskIn(l, n.E164))}, nil
	}
	now := v.Now()
	code, err := newCode()
	if err != nil {
		return verifiers.Prompt{}, err
	}
	// The code is stored before it is sent: a store failure sends nothing.
	if err := v.Store.PutCode(ctx, store.Code{ChallengeID: ch.ID, Username: user.Name, Method: v.Method(),
		Hash: v.hash(ch.ID, n.E164, code), Expires: now.Add(CodeLifetime)}); err != nil {
		return verifiers.Prompt{}, err
	}
	body := l.T("sms.text.code", "Code", code, "App", v.AppName, "Count", int(CodeLifetime/time.Minute))
	if v.Message != nil {
		body = v.Message(code)
	}
	if err := v.Sender.Send(ctx, n.E164, body); err != nil {
		return verifiers.Prompt{}, err
	}
	prompt := l.T("sms.sent.prompt", "Phone", phone.MaskIn(l, n.E164))
	if v.Prompt != nil {
		prompt = v.Prompt(l, phone.MaskIn(l, n.E164))
	}
	return verifiers.Prompt{Input: "code", Message: prompt}, nil
}

// Reserve checks that number is valid and allowed, and takes one send from
// every limit (cooldown, per user, per number, per client IP, global),
// or returns a *LimitError without taking any.
func (v *Verifier) Reserve(ctx context.Context, user verifiers.User, ch verifiers.Challenge, number string) (phone.Number, error) {
	n, err := phone.Parse(number)
	if err != nil {
		return n, &NumberError{Err: err}
	}
	if !v.Countries.Allows(n) {
		return n, &CountryError{Allowed: v.Countries}
	}
	l := v.Limits.WithDefaults()
	m := v.Method()
	limits := []store.Limit{
		{Key: m + "-cooldown:" + user.Name, Max: 1, Window: l.Cooldown},
		{Key: m + "-user:" + user.Name, Max: l.PerUser, Window: time.Hour},
		{Key: m + "-number:" + n.E164, Max: l.PerNumber, Window: time.Hour},
		// An IPv6 client counts by its /64, which it can rotate freely.
		{Key: m + "-ip:" + verifiers.SourceKey(ch.ClientIP), Max: l.PerIP, Window: time.Hour},
		{Key: m + "-global", Max: l.GlobalPerMinute, Window: time.Minute},
	}
	blocked, retry, err := v.Store.TakeSend(ctx, limits, v.Now())
	if err != nil {
		return n, err
	}
	if blocked != nil {
		names := []string{"cooldown", "user", "number", "ip", "global"}
		for i := range limits {
			if limits[i].Key == blocked.Key {
				return n, &LimitError{Limit: names[i], Retry: retry, Method: m, Window: limits[i].Window}
			}
		}
	}
	return n, nil
}

// Check implements verifiers.Verifier.
func (v *Verifier) Check(ctx context.Context, user verifiers.User, ch verifiers.Challenge, input string) (verifiers.Result, error) {
	if v.Service != nil {
		number, err := v.Phone(ctx, user)
		if err != nil || number == "" {
			return verifiers.Rejected, errors.Join(verifiers.ErrNotEnrolled, err)
		}
		return v.Service.Check(ctx, number, input)
	}
	number, err := v.Phone(ctx, user)
	if err != nil {
		return verifiers.Rejected, err
	}
	// The code was hashed with the number as SendTo parsed it.
	if n, err := phone.Parse(number); err == nil {
		number = n.E164
	}
	return v.checkStored(ctx, user, ch, number, input)
}

// CheckNumber checks a code sent to number with SendTo (setting up a phone
// that is not stored yet). Only a code sent to that very number, for that
// challenge, is accepted: a code sent to another number in the same
// sign-in proves nothing about this one.
func (v *Verifier) CheckNumber(ctx context.Context, user verifiers.User, ch verifiers.Challenge, number, input string) (verifiers.Result, error) {
	n, err := phone.Parse(number)
	if err != nil {
		return verifiers.Rejected, fmt.Errorf("checking a code for a number: %w", err)
	}
	if v.Service != nil {
		return v.Service.Check(ctx, n.E164, input)
	}
	return v.checkStored(ctx, user, ch, n.E164, input)
}

// checkStored checks input against the code stored for the challenge.
// The code's hash covers the number it was sent to, so a code sent to one
// number never confirms another, and a code sent before the user's number
// changed does not sign in with the new one.
func (v *Verifier) checkStored(ctx context.Context, user verifiers.User, ch verifiers.Challenge, number, input string) (verifiers.Result, error) {
	res, err := v.Store.UseCode(ctx, ch.ID, user.Name, v.Method(), v.hash(ch.ID, number, input), v.Now(), MaxTries)
	if err != nil {
		return verifiers.Rejected, err
	}
	switch res {
	case store.CodeAccepted:
		return verifiers.Accepted, nil
	case store.CodeGone:
		return verifiers.Expired, nil
	default:
		return verifiers.Rejected, nil
	}
}

// hash binds a code to its challenge and to the number (E.164) it was sent
// to, under the verifier's key. The challenge ID (random hex) and the
// number (E.164) cannot contain the NUL bytes that end them, so no two
// triples hash the same input.
func (v *Verifier) hash(challengeID, number, code string) []byte {
	m := hmac.New(sha256.New, v.Key)
	m.Write([]byte(challengeID))
	m.Write([]byte{0})
	m.Write([]byte(number))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// newCode returns CodeDigits random digits from crypto/rand.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

var _ verifiers.Verifier = (*Verifier)(nil)
