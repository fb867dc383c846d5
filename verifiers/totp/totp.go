// Package totp is the "authenticator app code" method: RFC 6238 codes (6
// digits, 30 seconds, one step of clock skew), each time step accepted at
// most once per user.
package totp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
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
	Store store.Store
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
// as the user's first method: it is for first-sign-in registration, so
// when the user has set up any method meanwhile it stores nothing and
// returns an error wrapping store.ErrAlreadySetUp.
func (v *Verifier) Enroll(ctx context.Context, u verifiers.User, secret, code string) (verifiers.Result, error) {
	step, ok := MatchStep(secret, code, v.now())
	if !ok {
		return verifiers.Rejected, nil
	}
	sealed, err := v.Sealer.Seal(u.Name, []byte(secret))
	if err != nil {
		return verifiers.Rejected, err
	}
	if err := v.Store.SetFirstTOTP(ctx, u.Name, sealed, step); err != nil {
		return verifiers.Rejected, err
	}
	return verifiers.Accepted, nil
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

// QRCode renders an otpauth:// URL as a two-colour PNG QR code at most
// size pixels wide: whole pixels per module (so it stays sharp when the
// browser scales it with image-rendering: pixelated) and the four-module
// quiet zone scanners expect. The modules go straight into a paletted
// image (2.5k allocations instead of 24k through the generic image path);
// what remains, ~6 ms, is the QR encoder choosing its mask, once per
// registration.
func QRCode(keyURL string, size int) ([]byte, error) {
	if !strings.HasPrefix(keyURL, "otpauth://totp/") {
		return nil, errors.New("building QR code: not an otpauth://totp/ URL")
	}
	return QRCodeOf(keyURL, size)
}

// QRCodeOf draws any text (such as a set-up link) as a QR code PNG, like
// QRCode.
func QRCodeOf(text string, size int) ([]byte, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("building QR code: %w", err)
	}
	img := qrImage(code, size)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("building QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// QuietZone is the white border around a QR code, in modules.
const QuietZone = 4

func qrImage(code image.Image, size int) *image.Paletted {
	n := code.Bounds().Dx()
	scale := max(1, size/(n+2*QuietZone))
	side := (n + 2*QuietZone) * scale
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y := range n {
		for x := range n {
			if r, _, _, _ := code.At(x, y).RGBA(); r >= 0x8000 {
				continue // light module: already white
			}
			x0, y0 := (x+QuietZone)*scale, (y+QuietZone)*scale
			for py := y0; py < y0+scale; py++ {
				row := img.Pix[py*img.Stride+x0 : py*img.Stride+x0+scale]
				for i := range row {
					row[i] = 1
				}
			}
		}
	}
	return img
}

// NormalizeCode removes the spaces and dashes people type into codes and
// reports whether what is left is exactly Digits digits.
func NormalizeCode(input string) (string, bool) {
	if len(input) > 32 {
		return "", false
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, input)
	if len(code) != Digits {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

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
