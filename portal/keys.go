package portal

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinSecretLen is the shortest accepted `secret`.
const MinSecretLen = 32

// keys are the purpose-specific keys derived from one configured secret.
// Deriving separate keys means a weakness in one use (say, the CSRF MAC)
// can never be turned against another (the cookie cipher).
type keys struct {
	cookieHash  []byte // HMAC-SHA256 of cookies
	cookieBlock []byte // AES-256 of cookies
	csrf        []byte // HMAC of CSRF tokens
	atRest      []byte // AES-256-GCM of stored secrets
	codes       []byte // HMAC of one-time codes sent by text or call
	accessPass  []byte // HMAC of Temporary Access Passes
}

func deriveKeys(secret string) (keys, error) {
	if len(secret) < MinSecretLen {
		return keys{}, fmt.Errorf("secret is %d bytes; it must be at least %d (generate one with: head -c 32 /dev/urandom | base64)", len(secret), MinSecretLen)
	}
	derive := func(purpose string) ([]byte, error) {
		return hkdf.Key(sha256.New, []byte(secret), []byte("stepgate/v1"), purpose, 32)
	}
	var k keys
	var err error
	for _, d := range []struct {
		dst     *[]byte
		purpose string
	}{
		{&k.cookieHash, "cookie-hmac"},
		{&k.cookieBlock, "cookie-aes"},
		{&k.csrf, "csrf-hmac"},
		{&k.atRest, "at-rest-aes"},
		{&k.codes, "code-hmac"},
		{&k.accessPass, "access-pass-hmac"},
	} {
		if *d.dst, err = derive(d.purpose); err != nil {
			return keys{}, errors.New("deriving keys: " + err.Error())
		}
	}
	return k, nil
}

// AccessPassKeys derives the keys Temporary Access Passes are hashed with
// from the gateway's secrets (current first), as the portal does: the
// `stepgate user tap` command issues passes the running gateway accepts.
func AccessPassKeys(secrets []string) ([][]byte, error) {
	var out [][]byte
	for i, s := range secrets {
		k, err := deriveKeys(s)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("old secret #%d: %w", i, err)
			}
			return nil, err
		}
		out = append(out, k.accessPass)
	}
	return out, nil
}
