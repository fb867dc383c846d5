package totp

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"image/png"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

func newVerifier(t testing.TB, now *time.Time) *Verifier {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, _ := store.NewSealer(bytes.Repeat([]byte{7}, 32))
	return &Verifier{Store: st, Sealer: sealer, Issuer: "Stepgate Test", Now: func() time.Time { return *now }}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"123456": "123456", "123 456": "123456", " 123-456 ": "123456",
		"12345": "", "1234567": "", "12a456": "", "１２３４５６": "", "": "", strings.Repeat("1", 100): "",
	} {
		got, ok := NormalizeCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestEnrollThenCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := newVerifier(t, &now)
	ctx := context.Background()
	alice := verifiers.User{Name: "alice"}
	if ok, _ := v.Enrolled(ctx, alice); ok {
		t.Fatal("enrolled before enrolment")
	}
	if _, err := v.Check(ctx, alice, verifiers.Challenge{}, "123456"); !errors.Is(err, verifiers.ErrNotEnrolled) {
		t.Fatalf("check before enrolment: %v", err)
	}
	key, err := v.NewKey(alice)
	if err != nil {
		t.Fatal(err)
	}
	if key.Issuer() != "Stepgate Test" || key.AccountName() != "alice" || key.Digits() != otp.DigitsSix {
		t.Fatalf("key: %s", key.URL())
	}
	secret := key.Secret()
	if r, _ := v.Enroll(ctx, alice, secret, "000000"); r != verifiers.Rejected && code(t, secret, now) != "000000" {
		t.Fatal("enrolled with a wrong code")
	}
	enrollCode := code(t, secret, now)
	if r, err := v.Enroll(ctx, alice, secret, enrollCode); r != verifiers.Accepted || err != nil {
		t.Fatalf("enroll: %v %v", r, err)
	}
	if ok, _ := v.Enrolled(ctx, alice); !ok {
		t.Fatal("not enrolled after enrolment")
	}
	// Enrolment is first-sign-in registration: a second one (a replayed
	// form, or a second browser) cannot replace the secret.
	other, _ := v.NewKey(alice)
	if r, err := v.Enroll(ctx, alice, other.Secret(), code(t, other.Secret(), now)); r == verifiers.Accepted || !errors.Is(err, store.ErrAlreadySetUp) {
		t.Fatalf("second enrolment: %v %v", r, err)
	}
	// The code used to confirm enrolment cannot sign in again.
	if r, _ := v.Check(ctx, alice, verifiers.Challenge{}, enrollCode); r != verifiers.Replayed {
		t.Fatalf("enrolment code reused: %v", r)
	}
	now = now.Add(Period * time.Second)
	next := code(t, secret, now)
	if r, err := v.Check(ctx, alice, verifiers.Challenge{}, next); r != verifiers.Accepted || err != nil {
		t.Fatalf("fresh code: %v %v", r, err)
	}
	if r, _ := v.Check(ctx, alice, verifiers.Challenge{}, next); r != verifiers.Replayed {
		t.Fatalf("replayed code: %v", r)
	}
	// Skew: the previous step's code is still valid one step later, but
	// not if a later step was already used.
	now = now.Add(2 * Period * time.Second)
	prev := code(t, secret, now.Add(-Period*time.Second))
	if r, _ := v.Check(ctx, alice, verifiers.Challenge{}, prev); r != verifiers.Accepted {
		t.Fatalf("code from one step ago: %v", r)
	}
	if r, _ := v.Check(ctx, alice, verifiers.Challenge{}, code(t, secret, now.Add(-3*Period*time.Second))); r != verifiers.Rejected {
		t.Fatalf("code from three steps ago: %v", r)
	}
	if r, _ := v.Check(ctx, alice, verifiers.Challenge{}, code(t, secret, now.Add(2*Period*time.Second))); r != verifiers.Rejected {
		t.Fatalf("code from two steps ahead: %v", r)
	}
	// Another user's record cannot be opened as alice's.
	info, _ := v.Store.SecurityInfo(ctx, "alice")
	if bytes.Contains(info.TOTPSecret, []byte(secret)) {
		t.Fatal("secret stored in clear")
	}
	v.Store.SetTOTP(ctx, "mallory", info.TOTPSecret, 0)
	if _, err := v.Check(ctx, verifiers.User{Name: "mallory"}, verifiers.Challenge{}, code(t, secret, now)); err == nil {
		t.Fatal("secret copied to another user opened")
	}
}

func TestQRCodeAndKeyURL(t *testing.T) {
	now := time.Now()
	v := newVerifier(t, &now)
	key, _ := v.NewKey(verifiers.User{Name: "alice"})
	u, err := v.KeyURL(verifiers.User{Name: "alice"}, key.Secret())
	if err != nil || u != key.URL() {
		t.Fatalf("KeyURL = %q, %v; want %q", u, err, key.URL())
	}
	if _, err := v.KeyURL(verifiers.User{Name: "alice"}, "not base32!"); err == nil {
		t.Fatal("bad secret accepted")
	}
	raw, err := QRCode(u, 200)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// Every module of the QR code for the URL is drawn in the right
	// colour, inside a white quiet zone, at most 200 pixels wide.
	want, _ := qr.Encode(u, qr.M, qr.Auto)
	n := want.Bounds().Dx()
	side := img.Bounds().Dx()
	scale := side / (n + 2*QuietZone)
	if side > 200 || side < 150 || side%(n+2*QuietZone) != 0 || img.Bounds().Dy() != side {
		t.Fatalf("QR image %v for %d modules", img.Bounds(), n)
	}
	dark := func(c color.Color) bool { r, _, _, _ := c.RGBA(); return r < 0x8000 }
	for y := -QuietZone; y < n+QuietZone; y++ {
		for x := -QuietZone; x < n+QuietZone; x++ {
			wantDark := x >= 0 && y >= 0 && x < n && y < n && dark(want.At(x, y))
			got := img.At((x+QuietZone)*scale+scale/2, (y+QuietZone)*scale+scale/2)
			if dark(got) != wantDark {
				t.Fatalf("module (%d,%d): dark %v, want %v", x, y, dark(got), wantDark)
			}
		}
	}
	if _, err := QRCode("https://not-an-otpauth-url", 200); err == nil {
		t.Fatal("non-otpauth URL accepted")
	}
}

func BenchmarkQRCode(b *testing.B) {
	now := time.Now()
	v := newVerifier(b, &now)
	key, _ := v.NewKey(verifiers.User{Name: "alice"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := QRCode(key.URL(), 200); err != nil {
			b.Fatal(err)
		}
	}
}
