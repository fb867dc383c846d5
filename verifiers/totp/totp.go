// Package totp is the "authenticator app code" method: RFC 6238 codes (6
// digits, 30 seconds, one step of clock skew), each time step accepted at
// most once per user.
package totp

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/qrcode"
)

// Period, Digits and Skew are fixed: every authenticator app supports them.
const (
	Period = 30
	Digits = 6
	Skew   = 1
)

// Verifier implements verifiers.Verifier for authenticator app codes.
type Verifier struct {
	// Store keeps the sealed secrets and the last used time step.
	Store interface {
		store.SecurityInfoStore
		store.MethodStore
	}
	// Sealer encrypts secrets at rest.
	Sealer *store.Sealer
	// Issuer is the name shown in the authenticator app.
	Issuer string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Method implements verifiers.Verifier.
func (v *Verifier) Method() string { return "totp" }

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Enrolled implements verifiers.Verifier.
func (v *Verifier) Enrolled(ctx context.Context, u verifiers.User) (bool, error) {
	info, err := v.Store.SecurityInfo(ctx, u.Name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(info.TOTPSecret) > 0, nil
}

// Start implements verifiers.Verifier: there is nothing to send.
func (v *Verifier) Start(ctx context.Context, u verifiers.User, ch verifiers.Challenge) (verifiers.Prompt, error) {
	return verifiers.Prompt{Input: "code"}, nil
}

// Check implements verifiers.Verifier.
func (v *Verifier) Check(ctx context.Context, u verifiers.User, ch verifiers.Challenge, input string) (verifiers.Result, error) {
	info, err := v.Store.SecurityInfo(ctx, u.Name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(info.TOTPSecret) == 0) {
		return verifiers.Rejected, verifiers.ErrNotEnrolled
	}
	if err != nil {
		return verifiers.Rejected, err
	}
	secret, err := v.Sealer.Open(u.Name, info.TOTPSecret)
	if err != nil {
		return verifiers.Rejected, fmt.Errorf("opening authenticator secret of %q: %w", u.Name, err)
	}
	step, ok := MatchStep(string(secret), input, v.now())
	if !ok {
		return verifiers.Rejected, nil
	}
	// Record the step atomically; a code whose step (or a later one) was
	// already used is a replay, even if it arrives concurrently.
	fresh, err := v.Store.UseTOTPStep(ctx, u.Name, step)
	if err != nil {
		return verifiers.Rejected, err
	}
	if !fresh {
		return verifiers.Replayed, nil
	}
	return verifiers.Accepted, nil
}

// NewKey makes a new random secret for the user's authenticator app.
func (v *Verifier) NewKey(u verifiers.User) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer:      v.Issuer,
		AccountName: u.Name,
		Period:      Period,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
}

// Enroll confirms a new secret with a code from the user's app and, when
// the code is right, stores the sealed secret (with the code's step used)
// as the user's first method: when the user has set up any method
// meanwhile it stores nothing and returns an error wrapping
// store.ErrAlreadySetUp.
func (v *Verifier) Enroll(ctx context.Context, u verifiers.User, secret, code string) (verifiers.Result, error) {
	return v.enrol(ctx, u, secret, code, true)
}

// KeyURL rebuilds the otpauth:// URL of a secret for the QR code.
func (v *Verifier) KeyURL(u verifiers.User, secret string) (string, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(raw) < 10 {
		return "", errors.New("invalid authenticator secret")
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: v.Issuer, AccountName: u.Name, Period: Period, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1, Secret: raw,
	})
	if err != nil {
		return "", err
	}
	return key.URL(), nil
}

// QRCode renders an otpauth:// URL as a QR code PNG at most size pixels
// wide (see qrcode.PNG).
func QRCode(keyURL string, size int) ([]byte, error) {
	if !strings.HasPrefix(keyURL, "otpauth://totp/") {
		return nil, errors.New("building QR code: not an otpauth://totp/ URL")
	}
	return qrcode.PNG(keyURL, size)
}

// QuietZone is the white border around a QR code, in modules.
const QuietZone = qrcode.QuietZone

// NormalizeCode removes the spaces and dashes people type into codes and
// reports whether what is left is exactly Digits digits.
func NormalizeCode(input string) (string, bool) { return verifiers.NormalizeCode(input, Digits) }

// MatchStep returns the time step whose code equals input, trying the
// current step and Skew steps either side. Every candidate is compared in
// constant time.
func MatchStep(secret, input string, now time.Time) (int64, bool) {
	code, ok := NormalizeCode(input)
	if !ok {
		return 0, false
	}
	opts := totp.ValidateOpts{Period: Period, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	current := now.Unix() / Period
	var found int64
	matched := false
	for d := int64(-Skew); d <= Skew; d++ {
		step := current + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*Period, 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !matched {
			found, matched = step, true
		}
	}
	return found, matched
}

// Interface guard
var _ verifiers.Verifier = (*Verifier)(nil)
