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

// Params are the argon2id cost parameters of new password hashes.
type Params struct {
	// Memory is the memory one check uses, in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the number of lanes (and cores) one check uses.
	Threads uint8
}

// DefaultParams are OWASP's first recommended argon2id configuration
// (19 MiB, 2 passes, 1 lane). One check takes a sixth or less of the time of
// the 64 MiB, 3-pass, 2-lane hashes Stepgate made before and a third of
// their memory (BenchmarkVerifyArgon2id; numbers in bench/README.md). An
// offline attacker with a stolen users file pays the same per guess;
// online guessing is limited by the lockout and the per-network budget
// (Limits), not by the hash's cost.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Check reports whether p is within the bounds Stepgate accepts for hashes
// it reads (8 KiB to 2 GiB, 1 to 64 passes, 1 to 255 lanes, and at least
// 8 KiB per lane as argon2 requires).
func (p Params) Check() error {
	if p.Memory < 8 || p.Memory > 1<<21 || p.Time < 1 || p.Time > 64 || p.Threads < 1 {
		return fmt.Errorf("argon2id parameters out of range (m=%d KiB, t=%d, p=%d): want 8 KiB to 2 GiB, 1 to 64 passes, at least 1 lane", p.Memory, p.Time, p.Threads)
	}
	return nil
}

// String is p in the PHC string's notation, e.g. "m=19456,t=2,p=1".
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

const (
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MaxPasswordLen bounds the input to the hash functions; longer passwords are
// refused before any hashing, so a huge form field cannot burn CPU.
const MaxPasswordLen = 1024

// Hash returns an argon2id hash of password in PHC string format, made
// with DefaultParams.
func Hash(password string) (string, error) {
	return HashWith(DefaultParams, password)
}

// HashWith returns an argon2id hash of password made with the parameters p.
func HashWith(p Params, password string) (string, error) {
	if err := p.Check(); err != nil {
		return "", err
	}
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordLen)
	}
	salt := randomBytes(argonSaltLen)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
	return formatArgon2id(p, salt, key), nil
}

func formatArgon2id(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// bcryptBase64 is bcrypt's own base64 alphabet, without padding.
var bcryptBase64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// dummyLike returns a hash with the same algorithm and cost parameters as
// model (argon2id or bcrypt; DefaultParams' argon2id when model is neither)
// but a random salt and a random key. Checking any password against it
// takes as long as checking one against model, because both algorithms
// compute the whole hash before comparing, and no password matches it
// (but with probability 2^-184 or less). Making it costs no hashing, so
// dummies are made when the users file loads, not at sign-in: a dummy
// computed at sign-in would be a hash outside the hashing gate.
func dummyLike(model string) string {
	if strings.HasPrefix(model, "$argon2id$") {
		if p, err := parseArgon2id(model); err == nil {
			return formatArgon2id(Params{Memory: p.memory, Time: p.time, Threads: p.threads}, randomBytes(len(p.salt)), randomBytes(len(p.key)))
		}
	}
	if cost, err := bcrypt.Cost([]byte(model)); err == nil {
		// $2b$NN$ then the 16-byte salt and the 23-byte hash in bcrypt's
		// base64, as bcrypt writes them.
		return fmt.Sprintf("$2b$%02d$%s%s", cost, bcryptBase64.EncodeToString(randomBytes(16)), bcryptBase64.EncodeToString(randomBytes(23)))
	}
	return formatArgon2id(DefaultParams, randomBytes(argonSaltLen), randomBytes(argonKeyLen))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return b
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
	if (Params{Memory: p.memory, Time: p.time, Threads: p.threads}).Check() != nil {
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
