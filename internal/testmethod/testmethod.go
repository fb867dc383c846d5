// Package testmethod is a second-step method that exists only for tests:
// a backup code the server makes at set-up, shown once, typed back at
// sign-in. It lives outside the built-in wiring and keeps its credentials
// in the store's generic credentials, so a test that registers it (in
// portal.Config.Methods, or as a Caddy module) proves that a method plugs
// in without a change to the portal.
package testmethod

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// Name is the method's name.
const Name = "backup"

// Digits is the length of a backup code.
const Digits = 8

//go:embed pages/*.html
var pages embed.FS

// Method is the backup-code method.
type Method struct {
	Store interface {
		store.CredentialStore
		store.MethodStore
	}
}

// New is a verifiers.Factory.
func New(env verifiers.Env) (verifiers.Method, error) {
	return &Method{Store: env.Store}, nil
}

// Method implements verifiers.Verifier.
func (m *Method) Method() string { return Name }

// Describe implements verifiers.Method.
func (m *Method) Describe() verifiers.Description {
	return verifiers.Description{Name: Name, Title: "Backup code", Strength: 5, Answer: verifiers.TypedCode, CodeDigits: Digits,
		Heading: "Enter your backup code", Hint: "Enter one of your backup codes.", WrongCode: "That backup code didn't work.",
		Slug: "backup", SetUp: "Use a backup code instead", Add: "Add a backup code", Many: true}
}

func (m *Method) credentials(ctx context.Context, user verifiers.User) ([]store.Credential, error) {
	return m.Store.Credentials(ctx, user.Name, Name)
}

// Registered implements verifiers.Method.
func (m *Method) Registered(ctx context.Context, user verifiers.User) (bool, error) {
	cs, err := m.credentials(ctx, user)
	return len(cs) > 0, err
}

// Enrolled implements verifiers.Verifier.
func (m *Method) Enrolled(ctx context.Context, user verifiers.User) (bool, error) {
	return m.Registered(ctx, user)
}

// Label implements verifiers.Method.
func (m *Method) Label(context.Context, verifiers.User) (string, error) {
	return "Use a backup code", nil
}

// Start implements verifiers.Verifier: nothing is sent.
func (m *Method) Start(context.Context, verifiers.User, verifiers.Challenge) (verifiers.Prompt, error) {
	return verifiers.Prompt{Input: "code"}, nil
}

// Check implements verifiers.Verifier.
func (m *Method) Check(ctx context.Context, user verifiers.User, _ verifiers.Challenge, input string) (verifiers.Result, error) {
	cs, err := m.credentials(ctx, user)
	if err != nil {
		return verifiers.Rejected, err
	}
	h := sha256.Sum256([]byte(input))
	for _, c := range cs {
		if subtle.ConstantTimeCompare(c.Data, h[:]) == 1 {
			return verifiers.Accepted, nil
		}
	}
	return verifiers.Rejected, nil
}

// Pages implements verifiers.Pages.
func (m *Method) Pages() fs.FS {
	sub, _ := fs.Sub(pages, "pages")
	return sub
}

type page struct{ Code string }

// Enrol implements verifiers.Enroller: a new code is made and shown; typing
// it back adds it.
func (m *Method) Enrol(ctx context.Context, req verifiers.EnrolRequest) (verifiers.EnrolStep, error) {
	code := req.State
	if code == "" {
		n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
		if err != nil {
			return verifiers.EnrolStep{}, err
		}
		code = fmt.Sprintf("%08d", n.Int64())
	}
	step := verifiers.EnrolStep{State: code, Page: "backup.html", Heading: "Set up a backup code", Data: page{Code: code}}
	if req.Form == nil {
		return step, nil
	}
	var stored error
	g := req.Guard(Digits, func(typed string) (verifiers.Result, error) {
		if subtle.ConstantTimeCompare([]byte(typed), []byte(code)) != 1 {
			return verifiers.Rejected, nil
		}
		h := sha256.Sum256([]byte(code))
		id := make([]byte, 8)
		rand.Read(id)
		stored = m.Store.AddCredential(ctx, store.Credential{ID: fmt.Sprintf("%x", id), Username: req.User.Name, Method: Name,
			Name: "Backup code", Data: h[:]}, req.First)
		if stored != nil {
			return verifiers.Expired, nil
		}
		return verifiers.Accepted, nil
	})
	if stored != nil {
		return step, stored
	}
	if g.Result != verifiers.Accepted {
		step.Error, step.Status = g.Error, g.Status
		if step.Status == 0 {
			step.Status = http.StatusUnauthorized
		}
		return step, nil
	}
	return verifiers.EnrolStep{Done: true, Added: "backup code"}, nil
}

// Credentials implements verifiers.Manager.
func (m *Method) Credentials(ctx context.Context, user verifiers.User) ([]verifiers.Credential, error) {
	return verifiers.StoredCredentials(ctx, m.Store, user.Name, Name)
}

// Remove implements verifiers.Manager.
func (m *Method) Remove(ctx context.Context, user verifiers.User, id string, keepOne bool) error {
	return m.Store.RemoveMethod(ctx, user.Name, store.MethodRef{Kind: store.KindCredential, ID: id}, keepOne)
}

// Rename implements verifiers.Renamer.
func (m *Method) Rename(ctx context.Context, user verifiers.User, id, name string) error {
	return m.Store.RenameCredential(ctx, user.Name, id, name)
}

// Interface guards
var (
	_ verifiers.Method   = (*Method)(nil)
	_ verifiers.Enroller = (*Method)(nil)
	_ verifiers.Manager  = (*Method)(nil)
	_ verifiers.Renamer  = (*Method)(nil)
	_ verifiers.Pages    = (*Method)(nil)
	_ verifiers.Factory  = New
)
