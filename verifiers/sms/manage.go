package sms

import (
	"context"
	"errors"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
)

// credentialID names the user's one phone.
const credentialID = "phone"

// Credentials implements verifiers.Manager: the user's phone, masked.
func (v *Verifier) Credentials(ctx context.Context, u verifiers.User) ([]verifiers.Credential, error) {
	info, err := v.Store.SecurityInfo(ctx, u.Name)
	if errors.Is(err, store.ErrNotFound) || err == nil && info.Phone == "" {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := messages.From(ctx)
	name := phone.MaskIn(l, info.Phone)
	if v.AlsoCalls {
		name = l.T("sms.securityinfo.texts_and_calls", "Phone", name)
	}
	return []verifiers.Credential{{ID: credentialID, Name: name, Added: info.PhoneAdded}}, nil
}

// Remove implements verifiers.Manager: the phone goes, for texts and
// calls alike.
func (v *Verifier) Remove(ctx context.Context, u verifiers.User, id string, keepOne bool) error {
	if id != credentialID {
		return store.ErrNotFound
	}
	return v.Store.RemoveMethod(ctx, u.Name, store.MethodRef{Kind: store.KindPhone}, keepOne)
}

var _ verifiers.Manager = (*Verifier)(nil)
