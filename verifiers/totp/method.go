package totp

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"strings"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

//go:embed pages/*.html
var pages embed.FS

// Describe implements verifiers.Method. Its words are message IDs of the
// totp catalogue, which the portal shows in the user's language.
func (v *Verifier) Describe() verifiers.Description {
	return verifiers.Description{
		Name: "totp", Title: "totp.title", Strength: 30,
		Answer: verifiers.TypedCode, CodeDigits: Digits,
		Heading:   "totp.verify.heading",
		Hint:      "totp.verify.hint",
		WrongCode: "totp.verify.wrong_code",
		Slug:      "app",
		SetUp:     "totp.setup.offer",
		Add:       "totp.setup.add",
		Change:    "totp.setup.change",
	}
}

// Registered implements verifiers.Method: a stored secret.
func (v *Verifier) Registered(ctx context.Context, u verifiers.User) (bool, error) {
	return v.Enrolled(ctx, u)
}

// Label implements verifiers.Method.
func (v *Verifier) Label(ctx context.Context, _ verifiers.User) (string, error) {
	return messages.From(ctx).T("totp.label"), nil
}

// Pages implements verifiers.Pages.
func (v *Verifier) Pages() fs.FS {
	sub, _ := fs.Sub(pages, "pages")
	return sub
}

// appPage is the set-up page's data.
type appPage struct {
	// Secret is the new secret in groups of four, for typing.
	Secret string
	// Replacing: the user has an app already; it works until this one is
	// confirmed.
	Replacing bool
}

// Enrol implements verifiers.Enroller: a new secret is shown (as a QR code
// and as text) and kept in the set-up's state; a code from the app proves
// the app has it. Only then is it stored, replacing the user's earlier
// secret if they had one: the old app works until that moment.
func (v *Verifier) Enrol(ctx context.Context, req verifiers.EnrolRequest) (verifiers.EnrolStep, error) {
	secret := req.State
	if secret == "" {
		key, err := v.NewKey(req.User)
		if err != nil {
			return verifiers.EnrolStep{}, err
		}
		secret = key.Secret()
	}
	keyURL, err := v.KeyURL(req.User, secret)
	if err != nil {
		return verifiers.EnrolStep{}, err
	}
	replacing := false
	if !req.First {
		if replacing, err = v.Enrolled(ctx, req.User); err != nil {
			return verifiers.EnrolStep{}, err
		}
	}
	step := verifiers.EnrolStep{State: secret, Page: "app.html", Heading: messages.From(ctx).T("totp.setup.heading"), QR: keyURL, QRSize: 200,
		Data: appPage{Secret: groupSecret(secret), Replacing: replacing}}
	if req.Form == nil {
		return step, nil
	}
	var stored error // the store refused: the user has a method meanwhile
	g := req.Guard(Digits, func(code string) (verifiers.Result, error) {
		res, err := v.enrol(ctx, req.User, secret, code, req.First)
		if errors.Is(err, store.ErrAlreadySetUp) {
			stored = err
			return verifiers.Expired, nil
		}
		return res, err
	})
	if stored != nil {
		return step, stored
	}
	if g.Result != verifiers.Accepted {
		step.Error, step.Status = g.Error, g.Status
		return step, nil
	}
	return verifiers.EnrolStep{Done: true, Added: "authenticator app"}, nil
}

// enrol confirms a new secret with a code from the user's app and, when the
// code is right, stores the sealed secret with the code's step used. For
// the user's first method (first-sign-in registration) the store refuses
// with store.ErrAlreadySetUp when the user has set up any method meanwhile.
func (v *Verifier) enrol(ctx context.Context, u verifiers.User, secret, code string, first bool) (verifiers.Result, error) {
	step, ok := MatchStep(secret, code, v.now())
	if !ok {
		return verifiers.Rejected, nil
	}
	sealed, err := v.Sealer.Seal(u.Name, []byte(secret))
	if err != nil {
		return verifiers.Rejected, err
	}
	set := v.Store.SetTOTP
	if first {
		set = v.Store.SetFirstTOTP
	}
	if err := set(ctx, u.Name, sealed, step); err != nil {
		return verifiers.Rejected, err
	}
	return verifiers.Accepted, nil
}

// groupSecret splits a base32 secret into groups of four for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// Interface guards
var (
	_ verifiers.Method   = (*Verifier)(nil)
	_ verifiers.Enroller = (*Verifier)(nil)
	_ verifiers.Pages    = (*Verifier)(nil)
)
