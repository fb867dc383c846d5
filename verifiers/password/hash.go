// Package password is the first step: the users file (identities, groups,
// password hashes) and password verification.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters for new hashes: RFC 9106's second recommended option
// (64 MiB, 3 passes), with parallelism 2 to suit small servers.
const (
	argonMemory  = 64 * 1024
	argonTime    = 3
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MaxPasswordLen bounds the input to the hash functions; longer passwords are
// refused before any hashing, so a huge form field cannot burn CPU.
const MaxPasswordLen = 1024

// Hash returns an argon2id hash of password in PHC string format.
func Hash(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// dummyPassword is what unknown users' passwords are checked against.
const dummyPassword = "stepgate-dummy-password-for-unknown-users"

// HashLike returns a hash of password made with the same algorithm and
// cost parameters as model (argon2id or bcrypt), so that checking a
// password against it takes as long as checking one against model.
func HashLike(model, password string) (string, error) {
	if strings.HasPrefix(model, "$argon2id$") {
		p, err := parseArgon2id(model)
		if err != nil {
			return "", err
		}
		salt := make([]byte, len(p.salt))
		rand.Read(salt)
		key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		b64 := base64.RawStdEncoding
		return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
			argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
	}
	cost, err := bcrypt.Cost([]byte(model))
	if err != nil {
		return "", fmt.Errorf("not an argon2id or bcrypt hash: %w", err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

// hashKind is the part of a hash that decides how long checking it takes:
// the algorithm and its parameters, without salt and key.
func hashKind(hash string) string {
	if strings.HasPrefix(hash, "$argon2id$") {
		if i := strings.LastIndex(hash[:strings.LastIndex(hash, "$")], "$"); i > 0 {
			return hash[:i]
		}
	}
	if len(hash) >= 7 && strings.HasPrefix(hash, "$2") {
		return "$2$" + hash[4:6] // bcrypt: the cost; the variants cost the same
	}
	return hash
}

// phc is a parsed argon2id hash.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parseArgon2id(s string) (phc, error) {
	var p phc
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, errors.New("not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, fmt.Errorf("bad argon2id parameters %q", parts[3])
	}
	// Bounds keep a hostile or mistyped users file from making every sign-in
	// allocate gigabytes or spin for minutes.
	if p.memory < 8 || p.memory > 1<<21 || p.time < 1 || p.time > 64 || p.threads < 1 {
		return p, fmt.Errorf("argon2id parameters out of range %q", parts[3])
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, errors.New("bad argon2id salt")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 128 {
		return p, errors.New("bad argon2id hash")
	}
	return p, nil
}

// CheckHash reports whether hash is a password hash Stepgate can verify, so
// a bad users file is refused at load time rather than at sign-in.
func CheckHash(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2id(hash)
		return err
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("bad bcrypt hash: %w", err)
		}
		return nil
	case hash == "":
		return errors.New("no password hash")
	default:
		return errors.New("unknown hash format (want argon2id PHC string or bcrypt)")
	}
}

// Verify reports whether password matches hash (argon2id PHC or bcrypt). The
// final comparison is constant-time.
func Verify(hash, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	if strings.HasPrefix(hash, "$argon2id$") {
		p, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(key, p.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
