// Package softkey is a software WebAuthn authenticator for tests.
//
// It answers the JSON options a relying party hands to the browser with the
// JSON a browser's PublicKeyCredential serialises to (PublicKeyCredential.toJSON):
// binary fields are base64url without padding, attestation is "none", and
// credentials are ES256 (ECDSA P-256 with SHA-256) keys.
package softkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagBE = 0x08 // backup eligible
	flagBS = 0x10 // backup state
	flagAT = 0x40 // attested credential data included
)

// coseAlgES256 is the COSE algorithm identifier of ES256.
const coseAlgES256 = -7

var b64 = base64.RawURLEncoding

// ctap2 encodes CBOR in the CTAP2 canonical form authenticators use.
var ctap2, _ = cbor.CTAP2EncOptions().EncMode()

// Key is one passkey held by a software authenticator: an ES256 (P-256) key pair.
type Key struct {
	ID             []byte            // credential ID (16 random bytes by default)
	Private        *ecdsa.PrivateKey // credential key pair; must be on P-256
	UserHandle     []byte            // the user.id given at registration; returned in assertions (resident key)
	Counter        uint32            // signature counter; Assert increments it first unless ZeroCounter is set
	ZeroCounter    bool              // authenticators that never count: Assert leaves Counter as it is (normally 0)
	NoUV           bool              // clear the UV flag (user verification not done)
	BackupEligible bool              // set BE (and BS) flags, like a synced passkey
	AAGUID         [16]byte          // authenticator model; all zero by default, as "none" attestation reports
}

// New returns a fresh key with a random 16-byte credential ID.
func New() *Key {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("softkey: generating P-256 key: " + err.Error())
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id) // never fails (crypto/rand panics instead)
	return &Key{ID: id, Private: priv}
}

// options is what the relying party asked for, as a browser would read it from
// the JSON options. Creation options use challenge, rp.id and user.id; request
// options use challenge and rpId. Binary members are base64url strings.
type options struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	RPID string `json:"rpId"`
}

// parseOptions reads options JSON given either as {"publicKey":{...}} or as the
// bare publicKey object.
func parseOptions(data []byte) (*options, error) {
	var wrapped struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(data, &wrapped); err != nil {
		return nil, fmt.Errorf("softkey: options: %w", err)
	}
	if len(wrapped.PublicKey) > 0 && string(wrapped.PublicKey) != "null" {
		data = wrapped.PublicKey
	}
	var o options
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("softkey: options: %w", err)
	}
	if o.Challenge == "" {
		return nil, errors.New("softkey: options: no challenge")
	}
	return &o, nil
}

// decodeB64 decodes base64url, tolerating padding as browsers do.
func decodeB64(field, s string) ([]byte, error) {
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("softkey: options: %s is not base64url: %w", field, err)
	}
	return b, nil
}

// rpIDFor returns the asked RP ID or, like a browser, the origin's host when none was given.
func rpIDFor(asked, origin string) (string, error) {
	if asked != "" {
		return asked, nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("softkey: no RP ID and origin %q has no host", origin)
	}
	return u.Hostname(), nil
}

// Register answers creation options JSON ({"publicKey":{...}} or the bare
// publicKey object) for origin (e.g. "https://localhost:9443"): it reads the
// challenge, rp.id (defaulting to the origin's host) and user.id, then acts as
// RegisterFor.
func (k *Key) Register(optionsJSON []byte, origin string) ([]byte, error) {
	o, err := parseOptions(optionsJSON)
	if err != nil {
		return nil, err
	}
	challenge, err := decodeB64("challenge", o.Challenge)
	if err != nil {
		return nil, err
	}
	user, err := decodeB64("user.id", o.User.ID)
	if err != nil {
		return nil, err
	}
	if len(user) == 0 {
		return nil, errors.New("softkey: options: no user.id")
	}
	rpID, err := rpIDFor(o.RP.ID, origin)
	if err != nil {
		return nil, err
	}
	return k.RegisterFor(challenge, rpID, user, origin)
}

// Assert answers request options JSON ({"publicKey":{...}} or the bare
// publicKey object) for origin: it reads the challenge and rpId (defaulting to
// the origin's host), then acts as AssertFor.
func (k *Key) Assert(optionsJSON []byte, origin string) ([]byte, error) {
	o, err := parseOptions(optionsJSON)
	if err != nil {
		return nil, err
	}
	challenge, err := decodeB64("challenge", o.Challenge)
	if err != nil {
		return nil, err
	}
	rpID, err := rpIDFor(o.RPID, origin)
	if err != nil {
		return nil, err
	}
	return k.AssertFor(challenge, rpID, origin)
}

// RegisterFor builds a registration response from explicit parts, so tests can
// tamper with them: rpID is hashed into the authenticator data whatever the
// relying party asked for. It sets k.UserHandle to userHandle. The response
// carries "none" attestation, transports ["internal"] and the current Counter.
func (k *Key) RegisterFor(challenge []byte, rpID string, userHandle []byte, origin string) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	k.UserHandle = append([]byte(nil), userHandle...)

	pub, err := k.coseKey()
	if err != nil {
		return nil, err
	}
	attested := append([]byte(nil), k.AAGUID[:]...)
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.ID)))
	attested = append(attested, k.ID...)
	attested = append(attested, pub...)
	authData := k.authData(rpID, flagAT, attested)

	attObj, err := ctap2.Marshal(map[string]any{
		"fmt":      "none",
		"attStmt":  map[string]any{},
		"authData": authData,
	})
	if err != nil {
		return nil, fmt.Errorf("softkey: attestation object: %w", err)
	}
	clientData, err := clientDataJSON("webauthn.create", challenge, origin)
	if err != nil {
		return nil, err
	}
	return k.credentialJSON(struct {
		ClientDataJSON     string   `json:"clientDataJSON"`
		AttestationObject  string   `json:"attestationObject"`
		Transports         []string `json:"transports"`
		PublicKeyAlgorithm int      `json:"publicKeyAlgorithm"`
	}{b64.EncodeToString(clientData), b64.EncodeToString(attObj), []string{"internal"}, coseAlgES256})
}

// AssertFor builds an assertion response from explicit parts, so tests can
// tamper with them: rpID is hashed into the authenticator data whatever the
// relying party asked for. It increments Counter first (unless ZeroCounter),
// signs authenticatorData||SHA-256(clientDataJSON) with an ASN.1 DER ECDSA
// signature, and includes k.UserHandle when set.
func (k *Key) AssertFor(challenge []byte, rpID, origin string) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	if !k.ZeroCounter {
		k.Counter++
	}
	authData := k.authData(rpID, 0, nil)
	clientData, err := clientDataJSON("webauthn.get", challenge, origin)
	if err != nil {
		return nil, err
	}
	clientHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte(nil), authData...), clientHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.Private, digest[:])
	if err != nil {
		return nil, fmt.Errorf("softkey: signing: %w", err)
	}
	var userHandle string
	if len(k.UserHandle) > 0 {
		userHandle = b64.EncodeToString(k.UserHandle)
	}
	return k.credentialJSON(struct {
		ClientDataJSON    string `json:"clientDataJSON"`
		AuthenticatorData string `json:"authenticatorData"`
		Signature         string `json:"signature"`
		UserHandle        string `json:"userHandle,omitempty"`
	}{b64.EncodeToString(clientData), b64.EncodeToString(authData), b64.EncodeToString(sig), userHandle})
}

func (k *Key) check() error {
	switch {
	case k.Private == nil:
		return errors.New("softkey: key has no private key")
	case len(k.ID) == 0 || len(k.ID) > 1023:
		return fmt.Errorf("softkey: credential ID length %d not in 1..1023", len(k.ID))
	}
	return nil
}

// authData is rpIdHash || flags || signCount || extra.
func (k *Key) authData(rpID string, flags byte, extra []byte) []byte {
	flags |= flagUP
	if !k.NoUV {
		flags |= flagUV
	}
	if k.BackupEligible {
		flags |= flagBE | flagBS
	}
	rpHash := sha256.Sum256([]byte(rpID))
	out := append(rpHash[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.Counter)
	return append(out, extra...)
}

// coseKey is the public key as a COSE_Key (RFC 9053 EC2, ES256, P-256).
func (k *Key) coseKey() ([]byte, error) {
	point, err := k.Private.PublicKey.Bytes() // 0x04 || X || Y, each left-padded to 32 bytes
	if err != nil || len(point) != 65 {
		return nil, errors.New("softkey: key is not a valid P-256 key")
	}
	return ctap2.Marshal(map[int]any{
		1:  2,            // kty: EC2
		3:  coseAlgES256, // alg: ES256
		-1: 1,            // crv: P-256
		-2: point[1:33],  // x
		-3: point[33:],   // y
	})
}

// clientDataJSON serialises CollectedClientData in the member order browsers use.
func clientDataJSON(typ string, challenge []byte, origin string) ([]byte, error) {
	return json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, b64.EncodeToString(challenge), origin, false})
}

// credentialJSON wraps a response in the PublicKeyCredential JSON envelope.
func (k *Key) credentialJSON(response any) ([]byte, error) {
	id := b64.EncodeToString(k.ID)
	return json.Marshal(struct {
		ID                      string   `json:"id"`
		RawID                   string   `json:"rawId"`
		Type                    string   `json:"type"`
		Response                any      `json:"response"`
		ClientExtensionResults  struct{} `json:"clientExtensionResults"`
		AuthenticatorAttachment string   `json:"authenticatorAttachment"`
	}{ID: id, RawID: id, Type: "public-key", Response: response, AuthenticatorAttachment: "platform"})
}
