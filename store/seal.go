package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealer encrypts secrets before they are written to the store (TOTP secrets
// at rest), with AES-256-GCM. The record's owner is bound in as additional
// data, so a sealed secret copied onto another user's row does not open.
type Sealer struct {
	aeads []cipher.AEAD // first seals; all are tried to open (key rotation)
}

// NewSealer returns a Sealer for 32-byte keys; the first key seals, every key
// is tried when opening so that old secrets keep working after a rotation.
func NewSealer(keys ...[]byte) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("sealer: no key")
	}
	s := &Sealer{}
	for _, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("sealer: key must be 32 bytes, got %d", len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("sealer: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("sealer: %w", err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// Seal encrypts plaintext for owner.
func (s *Sealer) Seal(owner string, plaintext []byte) ([]byte, error) {
	aead := s.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, []byte(owner)), nil
}

// ErrUnseal means a sealed value could not be opened with any key.
var ErrUnseal = errors.New("sealed value does not open with any configured secret")

// Open decrypts a value sealed for owner.
func (s *Sealer) Open(owner string, sealed []byte) ([]byte, error) {
	for _, aead := range s.aeads {
		if len(sealed) < aead.NonceSize() {
			continue
		}
		nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
		if pt, err := aead.Open(nil, nonce, ct, []byte(owner)); err == nil {
			return pt, nil
		}
	}
	return nil, ErrUnseal
}
