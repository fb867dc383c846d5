package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// enrolState is what a set-up keeps between showing the page and the
// browser's answer (encrypted in the set-up's cookie by the portal).
type enrolState struct {
	Session webauthn.SessionData `json:"s"`
	Handle  []byte               `json:"h"`
}

// setUpPage is the set-up page's data.
type setUpPage struct {
	// Options are for navigator.credentials.create, as JSON.
	Options string
	// Name is the name the form suggests or was given.
	Name string
	// Count is how many passkeys the user has.
	Count int
}

// Enrol implements verifiers.Enroller. The page shows the options of a
// new ceremony (its challenge kept, single use, in the store); the
// browser's answer, posted with a name, adds the passkey. The
// authenticator is not asked to prove its make (no attestation); with
// AAGUIDs set, the model it names must be one of them.
func (v *Verifier) Enrol(ctx context.Context, req verifiers.EnrolRequest) (verifiers.EnrolStep, error) {
	cs, recs, err := v.records(ctx, req.User.Name)
	if err != nil {
		return verifiers.EnrolStep{}, err
	}
	if len(cs) >= MaxPasskeys {
		return verifiers.EnrolStep{Page: "passkey.html"}, tooMany{}
	}
	var name string
	if req.Form != nil {
		name = req.Form.Get("name")
	}
	if req.Form != nil && req.State != "" && req.Form.Get("credential") != "" {
		step, err := v.finishEnrol(ctx, req, recs)
		if err != nil || step.Done {
			return step, err
		}
		// Refused: a new ceremony, with the reason above it.
		next, err := v.beginEnrol(ctx, req, recs, name)
		next.Error, next.Status = step.Error, step.Status
		return next, err
	}
	return v.beginEnrol(ctx, req, recs, name)
}

// beginEnrol makes a new registration ceremony.
func (v *Verifier) beginEnrol(ctx context.Context, req verifiers.EnrolRequest, recs []record, name string) (verifiers.EnrolStep, error) {
	rp, err := v.relyingParty(req.Challenge.Origin)
	if err != nil {
		return verifiers.EnrolStep{}, err
	}
	wu := newUser(req.User, recs)
	if wu.handle == nil {
		wu.handle = randomHandle()
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(wu.creds))
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := rp.BeginRegistration(wu, webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: v.uv()}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return verifiers.EnrolStep{}, fmt.Errorf("passkey: starting a set-up: %w", err)
	}
	if err := v.putChallenge(ctx, challengeKey(req.Challenge, "create"), req.User.Name, session.Challenge); err != nil {
		return verifiers.EnrolStep{}, err
	}
	state, err := json.Marshal(enrolState{Session: *session, Handle: wu.handle})
	if err != nil {
		return verifiers.EnrolStep{}, err
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return verifiers.EnrolStep{}, err
	}
	return verifiers.EnrolStep{State: string(state), Page: "passkey.html", Heading: messages.From(ctx).T("passkey.setup.heading"),
		Data: setUpPage{Options: string(opts), Name: name, Count: len(recs)}}, nil
}

// defaultName is the name of a new passkey the user gave none, in l's
// language, for a user who has have passkeys: "Passkey", "Passkey 2", …
func defaultName(l *messages.Localizer, have int) string {
	if have == 0 {
		return l.T("passkey.name.default")
	}
	return l.T("passkey.name.numbered", "Number", have+1)
}

// nameRefused is the message that says why verifiers.CredentialName
// refused a name (err).
func nameRefused(err error) string {
	switch verifiers.NameProblemOf(err) {
	case verifiers.NameInvalid:
		return "passkey.name.invalid_text"
	case verifiers.NameUnprintable:
		return "passkey.name.unprintable"
	}
	return "passkey.name.too_long"
}

// finishEnrol checks the browser's answer and adds the passkey. A step
// with Error set is a refusal the page shows; nothing was stored.
func (v *Verifier) finishEnrol(ctx context.Context, req verifiers.EnrolRequest, recs []record) (verifiers.EnrolStep, error) {
	l := messages.From(ctx)
	refuse := func(id string, args ...any) (verifiers.EnrolStep, error) {
		return verifiers.EnrolStep{Error: l.T(id, args...), Status: http.StatusBadRequest}, nil
	}
	name, err := verifiers.CredentialName(req.Form.Get("name"), "passkey", defaultName(l, len(recs)))
	if err != nil {
		return refuse(nameRefused(err))
	}
	var st enrolState
	if err := json.Unmarshal([]byte(req.State), &st); err != nil {
		return refuse(msgStartAgain)
	}
	// A user's passkeys share one handle. A set-up begun before another
	// one added the user's first passkey carries another handle: its
	// passkey would name a user the others do not, and never sign in.
	if len(recs) > 0 && !bytes.Equal(st.Handle, recs[0].Handle) {
		return refuse(msgStartAgain)
	}
	answer := req.Form.Get("credential")
	if len(answer) > maxResponse {
		return refuse("passkey.setup.refused.too_large")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(answer))
	if err != nil {
		return refuse("passkey.setup.refused.unreadable")
	}
	if err := v.useChallenge(ctx, challengeKey(req.Challenge, "create"), req.User.Name, parsed.Response.CollectedClientData); err != nil {
		if errors.Is(err, verifiers.ErrGone) {
			return refuse(msgStartAgain)
		}
		return verifiers.EnrolStep{}, err
	}
	rp, err := v.relyingParty(req.Challenge.Origin)
	if err != nil {
		return verifiers.EnrolStep{}, err
	}
	wu := newUser(req.User, recs)
	wu.handle = st.Handle
	cred, err := rp.CreateCredential(wu, st.Session, parsed)
	if err != nil {
		v.logRefused(req.User.Name, err)
		return refuse("passkey.setup.refused.not_accepted")
	}
	if len(v.AAGUIDs) > 0 {
		model, _ := uuid.FromBytes(cred.Authenticator.AAGUID)
		if !slices.Contains(v.AAGUIDs, model) {
			return refuse("passkey.setup.refused.model", "Help", v.help(l))
		}
	}
	data, err := json.Marshal(record{Handle: st.Handle, Cred: *cred})
	if err != nil {
		return verifiers.EnrolStep{}, err
	}
	err = v.Store.AddCredential(ctx, store.Credential{ID: base64.RawURLEncoding.EncodeToString(cred.ID), Username: req.User.Name,
		Method: Method, Name: name, Data: data}, req.First)
	switch {
	case errors.Is(err, store.ErrAlreadySetUp):
		return verifiers.EnrolStep{}, err
	case err != nil:
		// The credential ID is the table's key: the same passkey added
		// twice, or one another account has, is refused by it.
		if _, dup := v.credentialByID(ctx, cred.ID); dup {
			return refuse("passkey.setup.refused.duplicate")
		}
		return verifiers.EnrolStep{}, err
	}
	return verifiers.EnrolStep{Done: true, Added: fmt.Sprintf("passkey %q", name), Name: name}, nil
}

// msgStartAgain refuses an answer to a set-up that is no longer live.
const msgStartAgain = "passkey.setup.refused.start_again"

// credentialByID reports whether a passkey with the ID is stored.
func (v *Verifier) credentialByID(ctx context.Context, id []byte) (store.Credential, bool) {
	c, err := v.Store.CredentialByID(ctx, base64.RawURLEncoding.EncodeToString(id))
	return c, err == nil
}

// Credentials implements verifiers.Manager.
func (v *Verifier) Credentials(ctx context.Context, user verifiers.User) ([]verifiers.Credential, error) {
	return verifiers.StoredCredentials(ctx, v.Store, user.Name, Method)
}

// Remove implements verifiers.Manager.
func (v *Verifier) Remove(ctx context.Context, user verifiers.User, id string, keepOne bool) error {
	return v.Store.RemoveMethod(ctx, user.Name, store.MethodRef{Kind: store.KindCredential, ID: id}, keepOne)
}

// Rename implements verifiers.Renamer.
func (v *Verifier) Rename(ctx context.Context, user verifiers.User, id, name string) error {
	clean, err := verifiers.CredentialName(name, "passkey", messages.From(ctx).T("passkey.name.default"))
	if err != nil {
		return &nameError{err: err, id: nameRefused(err)}
	}
	return v.Store.RenameCredential(ctx, user.Name, id, clean)
}

// nameError refuses a passkey name that cannot be used; id is the message
// that says why.
type nameError struct {
	err error
	id  string
}

func (e *nameError) Error() string { return e.err.Error() }

// Explain implements verifiers.Refusal.
func (e *nameError) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	return l.T(e.id)
}

// Outcome implements verifiers.Refusal.
func (e *nameError) Outcome() string { return "" }

// tooMany refuses an eleventh passkey.
type tooMany struct{}

func (tooMany) Error() string { return "the user has the most passkeys allowed" }

// Explain implements verifiers.Refusal.
func (tooMany) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	return l.T("passkey.setup.refused.too_many", "Count", MaxPasskeys)
}

// Outcome implements verifiers.Refusal.
func (tooMany) Outcome() string { return "" }

// Interface guards
var (
	_ verifiers.Method     = (*Verifier)(nil)
	_ verifiers.Enroller   = (*Verifier)(nil)
	_ verifiers.Manager    = (*Verifier)(nil)
	_ verifiers.Renamer    = (*Verifier)(nil)
	_ verifiers.Pages      = (*Verifier)(nil)
	_ verifiers.PageData   = (*Verifier)(nil)
	_ verifiers.Discoverer = (*Verifier)(nil)
	_ verifiers.Refusal    = (*nameError)(nil)
	_ verifiers.Refusal    = tooMany{}
)
