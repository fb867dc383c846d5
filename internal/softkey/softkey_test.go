package softkey_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stepgate/stepgate/internal/softkey"
)

const origin = "https://localhost:9443"

type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "alice" }
func (u *user) WebAuthnDisplayName() string                { return "Alice" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newRP(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	w, err := webauthn.New(&webauthn.Config{
		RPID:          "localhost",
		RPOrigins:     []string{origin},
		RPDisplayName: "Test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newUser() *user {
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &user{id: id}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// register runs a full registration ceremony and stores the credential on u.
func register(t *testing.T, w *webauthn.WebAuthn, u *user, k *softkey.Key) *webauthn.Credential {
	t.Helper()
	creation, session, err := w.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.Register(mustJSON(t, creation), origin)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
	if err != nil {
		t.Fatalf("parse registration: %v\n%s", err, resp)
	}
	cred, err := w.CreateCredential(u, *session, parsed)
	if err != nil {
		t.Fatalf("create credential: %v", describe(err))
	}
	u.creds = append(u.creds, *cred)
	return cred
}

// login begins a login ceremony, lets answer produce the response and validates it.
func login(t *testing.T, w *webauthn.WebAuthn, u *user, answer func(*protocol.CredentialAssertion) ([]byte, error), opts ...webauthn.LoginOption) (*webauthn.Credential, error) {
	t.Helper()
	assertion, session, err := w.BeginLogin(u, opts...)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := answer(assertion)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
	if err != nil {
		t.Fatalf("parse assertion: %v\n%s", err, resp)
	}
	return w.ValidateLogin(u, *session, parsed)
}

// describe includes go-webauthn's DevInfo, which its Error() leaves out.
func describe(err error) string {
	var e *protocol.Error
	if errors.As(err, &e) {
		return e.Details + ": " + e.DevInfo
	}
	return err.Error()
}

// failsWith reports whether err is non-nil and its details mention want.
func failsWith(err error, want string) bool {
	return err != nil && strings.Contains(describe(err), want)
}

func assertWith(t *testing.T, k *softkey.Key) func(*protocol.CredentialAssertion) ([]byte, error) {
	return func(a *protocol.CredentialAssertion) ([]byte, error) { return k.Assert(mustJSON(t, a), origin) }
}

func TestRegisterAndLogin(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	cred := register(t, w, u, k)
	if !bytes.Equal(cred.ID, k.ID) || !bytes.Equal(k.UserHandle, u.id) {
		t.Fatalf("credential ID %x / user handle %x do not match key %x / user %x", cred.ID, k.UserHandle, k.ID, u.id)
	}
	if cred.AttestationFormat != "none" || !cred.Flags.UserVerified || cred.Flags.BackupEligible {
		t.Errorf("unexpected credential: format %q flags %+v", cred.AttestationFormat, cred.Flags)
	}
	for i := 1; i <= 2; i++ {
		got, err := login(t, w, u, assertWith(t, k))
		if err != nil {
			t.Fatalf("login %d: %s", i, describe(err))
		}
		if got.Authenticator.SignCount != k.Counter || k.Counter != uint32(i) {
			t.Errorf("login %d: sign count %d, key counter %d", i, got.Authenticator.SignCount, k.Counter)
		}
	}
}

func TestBareOptionsObject(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	creation, session, err := w.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.Register(mustJSON(t, creation.Response), origin)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := w.CreateCredential(u, *session, parsed)
	if err != nil {
		t.Fatal(describe(err))
	}
	u.creds = append(u.creds, *cred)
	if _, err := login(t, w, u, func(a *protocol.CredentialAssertion) ([]byte, error) {
		return k.Assert(mustJSON(t, a.Response), origin)
	}); err != nil {
		t.Fatal(describe(err))
	}
}

func TestTamperedAssertionsFail(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	register(t, w, u, k)

	if _, err := login(t, w, u, func(a *protocol.CredentialAssertion) ([]byte, error) {
		return k.AssertFor(a.Response.Challenge, "evil.example", origin)
	}); !failsWith(err, "RP Hash mismatch") {
		t.Errorf("assertion for rpID evil.example: %v", err)
	}
	if _, err := login(t, w, u, func(a *protocol.CredentialAssertion) ([]byte, error) {
		return k.Assert(mustJSON(t, a), "https://evil.example")
	}); !failsWith(err, "validating origin") {
		t.Errorf("assertion from origin https://evil.example: %v", err)
	}
	if _, err := login(t, w, u, func(a *protocol.CredentialAssertion) ([]byte, error) {
		return k.AssertFor([]byte("not the challenge"), "localhost", origin)
	}); !failsWith(err, "validating challenge") {
		t.Errorf("assertion for another challenge: %v", err)
	}
	other := softkey.New()
	other.ID, other.UserHandle = k.ID, k.UserHandle
	if _, err := login(t, w, u, assertWith(t, other)); !failsWith(err, "assertion signature") {
		t.Errorf("assertion signed by another key: %v", err)
	}
}

func TestNoUV(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	register(t, w, u, k)
	k.NoUV = true
	if _, err := login(t, w, u, assertWith(t, k)); err != nil {
		t.Errorf("UV preferred: %s", describe(err))
	}
	if _, err := login(t, w, u, assertWith(t, k), webauthn.WithUserVerification(protocol.VerificationRequired)); !failsWith(err, "User verification required") {
		t.Errorf("assertion without UV when UV is required: %v", err)
	}
	k.NoUV = false
	if _, err := login(t, w, u, assertWith(t, k), webauthn.WithUserVerification(protocol.VerificationRequired)); err != nil {
		t.Errorf("UV required and done: %s", describe(err))
	}
}

func TestZeroCounter(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	k.ZeroCounter = true
	register(t, w, u, k)
	for i := 0; i < 2; i++ {
		got, err := login(t, w, u, assertWith(t, k))
		if err != nil {
			t.Fatal(describe(err))
		}
		if k.Counter != 0 || got.Authenticator.SignCount != 0 || got.Authenticator.CloneWarning {
			t.Errorf("counter %d, sign count %d, clone warning %v", k.Counter, got.Authenticator.SignCount, got.Authenticator.CloneWarning)
		}
	}
}

func TestBackupEligible(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	k.BackupEligible = true
	cred := register(t, w, u, k)
	if !cred.Flags.BackupEligible || !cred.Flags.BackupState {
		t.Fatalf("flags %+v", cred.Flags)
	}
	if _, err := login(t, w, u, assertWith(t, k)); err != nil {
		t.Fatal(describe(err))
	}
	k.BackupEligible = false // BE must not change over a credential's life
	if _, err := login(t, w, u, assertWith(t, k)); !failsWith(err, "Backup Eligible flag inconsistency") {
		t.Errorf("assertion with BE flipped: %v", err)
	}
}

func TestRegisterForWrongRPID(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	creation, session, err := w.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.RegisterFor(creation.Response.Challenge, "evil.example", u.id, origin)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateCredential(u, *session, parsed); !failsWith(err, "RP Hash mismatch") {
		t.Errorf("registration for rpID evil.example: %v", err)
	}
}

func TestDiscoverableLogin(t *testing.T) {
	w, u, k := newRP(t), newUser(), softkey.New()
	register(t, w, u, k)
	stranger := newUser()

	assertion, session, err := w.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.Assert(mustJSON(t, assertion), origin)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
	if err != nil {
		t.Fatal(err)
	}
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		for _, c := range []*user{stranger, u} {
			if bytes.Equal(c.id, userHandle) {
				return c, nil
			}
		}
		return nil, errors.New("no such user")
	}
	found, cred, err := w.ValidatePasskeyLogin(handler, *session, parsed)
	if err != nil {
		t.Fatal(describe(err))
	}
	if found != webauthn.User(u) || !bytes.Equal(cred.ID, k.ID) || cred.Authenticator.SignCount != k.Counter {
		t.Errorf("found user %x, credential %x, sign count %d", found.WebAuthnID(), cred.ID, cred.Authenticator.SignCount)
	}

	// Without a user handle a passkey login cannot say whose it is.
	k.UserHandle = nil
	assertion, session, err = w.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	resp, err = k.Assert(mustJSON(t, assertion), origin)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err = protocol.ParseCredentialRequestResponseBytes(resp); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.ValidatePasskeyLogin(handler, *session, parsed); !failsWith(err, "blank User Handle") {
		t.Errorf("passkey login without user handle: %v", err)
	}
}

func TestResponseShape(t *testing.T) {
	k := softkey.New()
	resp, err := k.RegisterFor([]byte("challenge"), "localhost", []byte("user"), origin)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(resp, &got); err != nil {
		t.Fatal(err)
	}
	r := got["response"].(map[string]any)
	if got["type"] != "public-key" || got["id"] != got["rawId"] || got["authenticatorAttachment"] != "platform" ||
		r["publicKeyAlgorithm"] != float64(-7) || r["transports"].([]any)[0] != "internal" {
		t.Errorf("unexpected registration JSON: %s", resp)
	}
	if ext, ok := got["clientExtensionResults"].(map[string]any); !ok || len(ext) != 0 {
		t.Errorf("clientExtensionResults: %v", got["clientExtensionResults"])
	}
	if bytes.ContainsRune(resp, '=') {
		t.Errorf("padding in %s", resp)
	}
	if _, err := k.Register([]byte(`{"publicKey":{"challenge":"!!"}}`), origin); err == nil {
		t.Error("bad challenge accepted")
	}
	if _, err := k.Assert([]byte(`{}`), origin); err == nil {
		t.Error("options without challenge accepted")
	}
}
