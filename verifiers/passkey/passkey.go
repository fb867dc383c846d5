// Package passkey is the passkey and security key method (WebAuthn): the
// browser asks an authenticator (Windows Hello, Touch ID, an Android or
// iPhone passkey, a USB or NFC key) to sign a challenge for this site, and
// the portal checks the signature with the public key stored at set-up.
// A phishing page cannot relay it: the browser names the page's origin in
// what is signed, and the authenticator signs only for the site's domain.
package passkey

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// Method is the method's name.
const Method = "passkey"

// MaxPasskeys is how many passkeys one user may have.
const MaxPasskeys = 10

// maxResponse bounds a ceremony's answer as posted: a passkey's answer is
// about 1 KB, a security key's with its attestation certificates a few.
const maxResponse = 12 << 10

// challengeLifetime is how long a ceremony may take, from the page
// showing it to the answer arriving.
const challengeLifetime = 5 * time.Minute

//go:embed pages/*.html
var pages embed.FS

// Verifier is the passkey method.
type Verifier struct {
	Store interface {
		store.CredentialStore
		store.CodeStore
		store.MethodStore
	}
	// Domain is the session's cookie_domain ("" when none): the relying
	// party is that domain for every site under it, so one passkey serves
	// them all; otherwise it is the site's own host.
	Domain string
	// Name is what authenticators show as the site's name.
	Name string
	// UserVerification is what is asked of authenticators at a second
	// step: "preferred" (the default) or "required" (a PIN or biometric
	// every time, refusing keys that only check presence).
	UserVerification protocol.UserVerificationRequirement
	// AAGUIDs, when not empty, are the authenticator models allowed at
	// set-up. Attestation is not asked for (it identifies the person's
	// device maker to us), so the model is what the authenticator says.
	AAGUIDs []uuid.UUID
	// Key (verifiers.Env.Key) derives the challenges of the sign-in page's
	// passkey ceremony, so that showing the page stores nothing.
	Key  []byte
	Now  func() time.Time
	Log  *zap.Logger
	Host verifiers.Host
}

// help names who helps users, in l's language when the site names no one.
func (v *Verifier) help(l *messages.Localizer) string {
	if v.Host == nil {
		return l.T("passkey.help.fallback")
	}
	return v.Host.HelpContact(l)
}

// record is what the store keeps of one passkey.
type record struct {
	// Handle is the user's WebAuthn user handle: random, the same for all
	// of a user's passkeys, never their name.
	Handle []byte              `json:"h"`
	Cred   webauthn.Credential `json:"c"`
}

// Method implements verifiers.Verifier.
func (v *Verifier) Method() string { return Method }

// Describe implements verifiers.Method. Its words are message IDs of the
// passkey catalogue, which the portal shows in the user's language.
func (v *Verifier) Describe() verifiers.Description {
	return verifiers.Description{
		Name: Method, Title: "passkey.title", Strength: 100,
		Answer:    verifiers.Ceremony,
		Heading:   "passkey.verify.heading",
		Hint:      "passkey.verify.hint",
		WrongCode: "passkey.verify.wrong_code",
		Gone:      "passkey.verify.gone",
		Slug:      Method,
		SetUp:     "passkey.setup.offer",
		Add:       "passkey.setup.add",
		Many:      true,

		PhishingResistant: true,
	}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// records reads the user's passkeys.
func (v *Verifier) records(ctx context.Context, user string) ([]store.Credential, []record, error) {
	cs, err := v.Store.Credentials(ctx, user, Method)
	if err != nil {
		return nil, nil, err
	}
	recs := make([]record, 0, len(cs))
	for _, c := range cs {
		var rec record
		if err := json.Unmarshal(c.Data, &rec); err != nil {
			return nil, nil, fmt.Errorf("reading passkey %s of %s: %w", c.ID, user, err)
		}
		recs = append(recs, rec)
	}
	return cs, recs, nil
}

// Registered implements verifiers.Method.
func (v *Verifier) Registered(ctx context.Context, user verifiers.User) (bool, error) {
	cs, err := v.Store.Credentials(ctx, user.Name, Method)
	return len(cs) > 0, err
}

// Enrolled implements verifiers.Verifier.
func (v *Verifier) Enrolled(ctx context.Context, user verifiers.User) (bool, error) {
	return v.Registered(ctx, user)
}

// Label implements verifiers.Method.
func (v *Verifier) Label(ctx context.Context, _ verifiers.User) (string, error) {
	return messages.From(ctx).T("passkey.label"), nil
}

// Start implements verifiers.Verifier: nothing is sent; the page asks the
// browser (see PageData).
func (v *Verifier) Start(context.Context, verifiers.User, verifiers.Challenge) (verifiers.Prompt, error) {
	return verifiers.Prompt{Input: string(verifiers.Ceremony)}, nil
}

// rpID is the relying party for a page at origin: the cookie domain when
// the page's host is inside it, otherwise the host.
func (v *Verifier) rpID(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("passkey: no host in the origin %q", origin)
	}
	host := strings.ToLower(u.Hostname())
	if d := strings.ToLower(strings.TrimPrefix(v.Domain, ".")); d != "" && (host == d || strings.HasSuffix(host, "."+d)) {
		return d, nil
	}
	return host, nil
}

// relyingParty is go-webauthn's view of this site for one ceremony on a
// page at origin: the origin is the only one accepted.
func (v *Verifier) relyingParty(origin string) (*webauthn.WebAuthn, error) {
	id, err := v.rpID(origin)
	if err != nil {
		return nil, err
	}
	name := v.Name
	if name == "" {
		name = "Stepgate"
	}
	return webauthn.New(&webauthn.Config{RPID: id, RPDisplayName: name, RPOrigins: []string{origin},
		AttestationPreference: protocol.PreferNoAttestation})
}

// waUser is a user as go-webauthn sees one.
type waUser struct {
	handle        []byte
	name, display string
	creds         []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.display }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newUser(user verifiers.User, recs []record) *waUser {
	wu := &waUser{name: user.Name, display: user.DisplayName}
	if wu.display == "" {
		wu.display = user.Name
	}
	for _, r := range recs {
		if wu.handle == nil {
			wu.handle = r.Handle
		}
		wu.creds = append(wu.creds, r.Cred)
	}
	return wu
}

// challengeKey is the store key of a ceremony's live challenge: one per
// sign-in (or set-up) and purpose, so a new page replaces the last one.
func challengeKey(ch verifiers.Challenge, purpose string) string {
	return ch.ID + ":" + purpose
}

// putChallenge keeps the hash of a new challenge as the ceremony's only
// live one, for challengeLifetime.
func (v *Verifier) putChallenge(ctx context.Context, key, user, challenge string) error {
	raw, err := base64.RawURLEncoding.DecodeString(challenge)
	if err != nil {
		return fmt.Errorf("passkey: a challenge that is not base64url: %w", err)
	}
	h := sha256.Sum256(raw)
	return v.Store.PutCode(ctx, store.Code{ChallengeID: key, Username: user, Method: Method, Hash: h[:],
		Expires: v.now().Add(challengeLifetime)})
}

// useChallenge uses up the live challenge the answer signed: at most once,
// however many times the answer is posted.
func (v *Verifier) useChallenge(ctx context.Context, key, user string, cd protocol.CollectedClientData) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(cd.Challenge, "="))
	if err != nil {
		return verifiers.ErrGone
	}
	h := sha256.Sum256(raw)
	res, err := v.Store.UseCode(ctx, key, user, Method, h[:], v.now(), 1)
	if err != nil {
		return err
	}
	if res != store.CodeAccepted {
		return verifiers.ErrGone
	}
	return nil
}

// verifyPage is what the verify page's ceremony needs: the options for
// navigator.credentials.get, as JSON.
type verifyPage struct {
	Options string
}

// PageData implements verifiers.PageData: every showing of the verify
// page makes a new challenge, which replaces the one before.
func (v *Verifier) PageData(ctx context.Context, user verifiers.User, ch verifiers.Challenge) (any, error) {
	_, recs, err := v.records(ctx, user.Name)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return verifyPage{}, nil
	}
	rp, err := v.relyingParty(ch.Origin)
	if err != nil {
		return nil, err
	}
	assertion, session, err := rp.BeginLogin(newUser(user, recs), webauthn.WithUserVerification(v.uv()))
	if err != nil {
		return nil, fmt.Errorf("passkey: starting a sign-in: %w", err)
	}
	if err := v.putChallenge(ctx, challengeKey(ch, "get"), user.Name, session.Challenge); err != nil {
		return nil, err
	}
	opts, err := json.Marshal(assertion)
	if err != nil {
		return nil, err
	}
	return verifyPage{Options: string(opts)}, nil
}

func (v *Verifier) uv() protocol.UserVerificationRequirement {
	if v.UserVerification == "" {
		return protocol.VerificationPreferred
	}
	return v.UserVerification
}

// Check implements verifiers.Verifier: input is the browser's answer
// (PublicKeyCredential as JSON). The challenge it signed is used up
// first, so an answer counts once; then the signature, the origin, the
// relying party, the user's ownership of the passkey and its signature
// counter are checked.
func (v *Verifier) Check(ctx context.Context, user verifiers.User, ch verifiers.Challenge, input string) (verifiers.Result, error) {
	if input == "" || len(input) > maxResponse {
		return verifiers.Rejected, nil
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(input))
	if err != nil {
		return verifiers.Rejected, nil
	}
	if err := v.useChallenge(ctx, challengeKey(ch, "get"), user.Name, parsed.Response.CollectedClientData); err != nil {
		if errors.Is(err, verifiers.ErrGone) {
			return verifiers.Expired, nil
		}
		return verifiers.Rejected, err
	}
	cs, recs, err := v.records(ctx, user.Name)
	if err != nil {
		return verifiers.Rejected, err
	}
	if len(recs) == 0 {
		return verifiers.Rejected, nil
	}
	rp, err := v.relyingParty(ch.Origin)
	if err != nil {
		return verifiers.Rejected, err
	}
	wu := newUser(user, recs)
	session := webauthn.SessionData{Challenge: parsed.Response.CollectedClientData.Challenge, RelyingPartyID: rp.Config.RPID,
		UserID: wu.handle, UserVerification: v.uv()}
	for _, c := range wu.creds {
		session.AllowedCredentialIDs = append(session.AllowedCredentialIDs, c.ID)
	}
	cred, err := rp.ValidateLogin(wu, session, parsed)
	if err != nil {
		v.logRefused(user.Name, err)
		return verifiers.Rejected, nil
	}
	return v.used(ctx, user.Name, cs, recs, cred)
}

// BeginDiscover implements verifiers.Discoverer: a ceremony that names no
// user, so the browser offers every passkey it has for this site.
func (v *Verifier) BeginDiscover(ctx context.Context, ch verifiers.Challenge) (string, error) {
	rp, err := v.relyingParty(ch.Origin)
	if err != nil {
		return "", err
	}
	challenge, err := v.discoverChallenge(ch)
	if err != nil {
		return "", err
	}
	assertion, _, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred), webauthn.WithChallenge(challenge))
	if err != nil {
		return "", fmt.Errorf("passkey: starting a sign-in: %w", err)
	}
	opts, err := json.Marshal(assertion)
	return string(opts), err
}

// discoverChallenge is the challenge of a sign-in page's ceremony: a keyed
// hash of its ID and start, which the page's cookie keeps. Every visitor
// of the sign-in page gets one, so none is stored; an answer's one use is
// recorded only once its signature checked out (Discovered).
func (v *Verifier) discoverChallenge(ch verifiers.Challenge) ([]byte, error) {
	if len(v.Key) < 16 {
		return nil, errors.New("passkey: no key for sign-in challenges")
	}
	m := hmac.New(sha256.New, v.Key)
	fmt.Fprintf(m, "stepgate passkey sign-in\x00%s\x00%d", ch.ID, ch.Created.Unix())
	return m.Sum(nil), nil
}

// Discovered implements verifiers.Discoverer. The passkey is found by its
// ID; the user handle it returns must be the one stored with it, and the
// signature, origin, relying party and counter are checked as at a second
// step.
func (v *Verifier) Discovered(ctx context.Context, ch verifiers.Challenge, answer string) (string, bool, error) {
	if answer == "" || len(answer) > maxResponse {
		return "", false, verifiers.ErrNotAccepted
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(answer))
	if err != nil {
		return "", false, verifiers.ErrNotAccepted
	}
	// The challenge must be this ceremony's, and the ceremony live.
	want, err := v.discoverChallenge(ch)
	if err != nil {
		return "", false, err
	}
	got, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parsed.Response.CollectedClientData.Challenge, "="))
	if err != nil || !hmac.Equal(got, want) || v.now().Sub(ch.Created) > challengeLifetime || ch.Created.After(v.now().Add(time.Minute)) {
		return "", false, verifiers.ErrGone
	}
	c, err := v.Store.CredentialByID(ctx, base64.RawURLEncoding.EncodeToString(parsed.RawID))
	if errors.Is(err, store.ErrNotFound) || err == nil && c.Method != Method {
		v.log().Info("passkey answer refused", zap.String("reason", "no such passkey"))
		return "", false, verifiers.ErrNotAccepted
	}
	if err != nil {
		return "", false, err
	}
	cs, recs, err := v.records(ctx, c.Username)
	if err != nil {
		return "", false, err
	}
	rp, err := v.relyingParty(ch.Origin)
	if err != nil {
		return "", false, err
	}
	wu := newUser(verifiers.User{Name: c.Username}, recs)
	session := webauthn.SessionData{Challenge: parsed.Response.CollectedClientData.Challenge, RelyingPartyID: rp.Config.RPID,
		UserVerification: protocol.VerificationPreferred}
	_, cred, err := rp.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
		if !bytes.Equal(handle, wu.handle) {
			return nil, errors.New("the user handle is not the passkey's")
		}
		return wu, nil
	}, session, parsed)
	if err != nil {
		v.logRefused(c.Username, err)
		return "", false, verifiers.ErrNotAccepted
	}
	// A signed answer counts once, however often (or on however many
	// instances at once) it is posted.
	once := []store.Limit{{Key: "passkey-sign-in:" + ch.ID, Max: 1, Window: 2 * challengeLifetime}}
	if blocked, _, err := v.Store.TakeSend(ctx, once, v.now()); err != nil {
		return "", false, err
	} else if blocked != nil {
		return "", false, verifiers.ErrGone
	}
	res, err := v.used(ctx, c.Username, cs, recs, cred)
	if err != nil || res != verifiers.Accepted {
		if err == nil {
			err = verifiers.ErrNotAccepted
		}
		return "", false, err
	}
	return c.Username, parsed.Response.AuthenticatorData.Flags.HasUserVerified(), nil
}

// used records a passkey's successful use (its signature counter and
// flags), after refusing a counter that went backwards: two
// authenticators answering for one passkey means it was copied.
func (v *Verifier) used(ctx context.Context, user string, cs []store.Credential, recs []record, cred *webauthn.Credential) (verifiers.Result, error) {
	if cred.Authenticator.CloneWarning {
		v.log().Warn("passkey refused: its signature counter went backwards, so the authenticator may have been copied",
			zap.String("user", user), zap.Uint32("counter", cred.Authenticator.SignCount))
		return verifiers.Rejected, nil
	}
	for i, rec := range recs {
		if !bytes.Equal(rec.Cred.ID, cred.ID) {
			continue
		}
		rec.Cred = *cred
		data, err := json.Marshal(rec)
		if err != nil {
			return verifiers.Rejected, err
		}
		if err := v.Store.TouchCredential(ctx, user, cs[i].ID, v.now(), data); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				// Deleted while the ceremony ran.
				return verifiers.Rejected, nil
			}
			return verifiers.Rejected, err
		}
		return verifiers.Accepted, nil
	}
	return verifiers.Rejected, nil
}

func (v *Verifier) log() *zap.Logger {
	if v.Log == nil {
		return zap.NewNop()
	}
	return v.Log
}

// logRefused logs why go-webauthn refused an answer (the page says only
// that it was not accepted).
func (v *Verifier) logRefused(user string, err error) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		v.log().Info("passkey answer refused", zap.String("user", user), zap.String("reason", pe.Details), zap.String("info", pe.DevInfo))
		return
	}
	v.log().Info("passkey answer refused", zap.String("user", user), zap.Error(err))
}

// Pages implements verifiers.Pages.
func (v *Verifier) Pages() fs.FS {
	sub, _ := fs.Sub(pages, "pages")
	return sub
}

// randomHandle is a new user handle.
func randomHandle() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
