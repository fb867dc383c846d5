package totp

import (
	"context"
	"errors"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// credentialID names the user's one authenticator app.
const credentialID = "app"

// Credentials implements verifiers.Manager: the user's app, if any.
func (v *Verifier) Credentials(ctx context.Context, u verifiers.User) ([]verifiers.Credential, error) {
	info, err := v.Store.SecurityInfo(ctx, u.Name)
	if errors.Is(err, store.ErrNotFound) || err == nil && info.TOTPSecret == nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []verifiers.Credential{{ID: credentialID, Added: info.TOTPAdded}}, nil
}

// Remove implements verifiers.Manager. The last step used stays recorded,
// so a code seen before the removal never works after a new app is added.
func (v *Verifier) Remove(ctx context.Context, u verifiers.User, id string, keepOne bool) error {
	if id != credentialID {
		return store.ErrNotFound
	}
	return v.Store.RemoveMethod(ctx, u.Name, store.MethodRef{Kind: store.KindTOTP}, keepOne)
}

var _ verifiers.Manager = (*Verifier)(nil)
