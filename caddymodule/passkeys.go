package caddymodule

import (
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/stepgate/stepgate/portal"
)

// PasskeysConfig turns on passkeys and security keys (WebAuthn).
type PasskeysConfig struct {
	// UserVerification is what a second step with a passkey asks of the
	// authenticator: "preferred" (default: a PIN or biometric where the
	// authenticator has one) or "required" (refuse keys that only check
	// that someone touched them).
	UserVerification string `json:"user_verification,omitempty"`
	// AllowedModels, when set, are the AAGUIDs of the only authenticator
	// models users may add.
	AllowedModels []string `json:"allowed_models,omitempty"`
}

// passkeyPortalConfig is the portal's passkey configuration.
func (a *App) passkeyPortalConfig(cfg *portal.Config) error {
	c := a.Passkeys
	if c == nil {
		return nil
	}
	pc := &portal.PasskeyConfig{}
	switch uv := protocol.UserVerificationRequirement(c.UserVerification); uv {
	case "", protocol.VerificationPreferred, protocol.VerificationRequired:
		pc.UserVerification = uv
	default:
		return fmt.Errorf("passkeys: user_verification %q: must be preferred or required", c.UserVerification)
	}
	for _, m := range c.AllowedModels {
		id, err := uuid.Parse(strings.TrimSpace(m))
		if err != nil || len(m) != 36 {
			return fmt.Errorf("passkeys: allowed_models %q is not an AAGUID (like cb69481e-8ff7-4039-93ec-0a2729a154a8)", m)
		}
		pc.AAGUIDs = append(pc.AAGUIDs, id)
	}
	cfg.Passkeys = pc
	return nil
}
