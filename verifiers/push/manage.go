package push

import (
	"context"
	"time"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// Credentials implements verifiers.Manager: the user's devices.
func (v *Verifier) Credentials(ctx context.Context, u verifiers.User) ([]verifiers.Credential, error) {
	devs, err := v.Store.PushDevices(ctx, u.Name)
	if err != nil {
		return nil, err
	}
	out := make([]verifiers.Credential, len(devs))
	for i, d := range devs {
		out[i] = verifiers.Credential{ID: d.ID, Name: d.Name, Added: d.Created, LastUsed: d.LastUsed, Renamable: true}
	}
	return out, nil
}

// Remove implements verifiers.Manager. A removed device's signatures are
// refused from then on; when it was the user's last device, the requests
// still waiting fail with it (in the store's transaction).
func (v *Verifier) Remove(ctx context.Context, u verifiers.User, id string, keepOne bool) error {
	return v.Store.RemoveMethod(ctx, u.Name, store.MethodRef{Kind: store.KindPushDevice, ID: id}, keepOne)
}

// Rename implements verifiers.Renamer.
func (v *Verifier) Rename(ctx context.Context, u verifiers.User, id, name string) error {
	clean, err := DeviceName(messages.From(ctx), name)
	if err != nil {
		return err
	}
	d, err := v.Store.PushDevice(ctx, id)
	if err != nil {
		return err
	}
	// Device IDs are random and never change owner: one that is not the
	// user's is as unknown as one that does not exist.
	if d.Username != u.Name {
		return store.ErrNotFound
	}
	return v.Store.RenamePushDevice(ctx, id, clean)
}

// NameError refuses a device name that cannot be used: Err is
// verifiers.CredentialName's (in English, for the log; its rule chooses
// the user's words).
type NameError struct{ Err error }

func (e *NameError) Error() string { return e.Err.Error() }
func (e *NameError) Unwrap() error { return e.Err }

// Explain implements verifiers.Refusal.
func (e *NameError) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	switch verifiers.NameProblemOf(e.Err) {
	case verifiers.NameInvalid:
		return l.T("push.device.rename.invalid")
	case verifiers.NameUnprintable:
		return l.T("push.device.rename.unprintable")
	case verifiers.NameTooLong:
		return l.T("push.device.rename.too_long")
	}
	return l.T("push.device.rename.unusable", "Reason", e.Err.Error())
}

// inApp is the words of the Authenticator's error about the name.
func (e *NameError) inApp(l *messages.Localizer) string {
	switch verifiers.NameProblemOf(e.Err) {
	case verifiers.NameInvalid:
		return l.T("push.device.name.invalid")
	case verifiers.NameUnprintable:
		return l.T("push.device.name.unprintable")
	case verifiers.NameTooLong:
		return l.T("push.device.name.too_long")
	}
	return e.Err.Error()
}

// Outcome implements verifiers.Refusal.
func (e *NameError) Outcome() string { return "" }

// tooManyDevices refuses another device to a user who has the most.
type tooManyDevices struct{}

func (tooManyDevices) Error() string { return store.ErrTooManyDevices.Error() }
func (tooManyDevices) Is(target error) bool {
	return target == store.ErrTooManyDevices
}

// Explain implements verifiers.Refusal.
func (tooManyDevices) Explain(l *messages.Localizer, _ string, _ time.Time) string {
	return l.T("push.refused.too_many_devices", "Count", store.MaxPushDevices)
}

// Outcome implements verifiers.Refusal.
func (tooManyDevices) Outcome() string { return "" }

// Interface guards
var (
	_ verifiers.Manager = (*Verifier)(nil)
	_ verifiers.Renamer = (*Verifier)(nil)
	_ verifiers.Refusal = (*NameError)(nil)
	_ verifiers.Refusal = tooManyDevices{}
)
