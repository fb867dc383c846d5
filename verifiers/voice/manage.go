package voice

import (
	"context"

	"github.com/stepgate/stepgate/verifiers"
)

// Credentials implements verifiers.Manager: the user's phone, when calls
// manage it (texts are off); otherwise texts list it.
func (v *Verifier) Credentials(ctx context.Context, u verifiers.User) ([]verifiers.Credential, error) {
	if !v.EnrolPhone {
		return nil, nil
	}
	return v.Codes.Credentials(ctx, u)
}

// Remove implements verifiers.Manager.
func (v *Verifier) Remove(ctx context.Context, u verifiers.User, id string, keepOne bool) error {
	return v.Codes.Remove(ctx, u, id, keepOne)
}

var _ verifiers.Manager = (*Verifier)(nil)
