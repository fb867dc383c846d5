package password

// The password policy for new passwords follows NIST SP 800-63B (5.1.1.2):
// a minimum and a maximum length, no composition rules, and a check against
// passwords known to be common and against the user's own names.
//
// common-passwords.txt is the first 10,000 entries, verbatim and in their
// order, of src/passwords.json in the npm package @zxcvbn-ts/language-common
// 4.1.3 (MIT licence, copyright Dan Wheeler, Dropbox, Inc. and @zxcvbn-ts;
// see common-passwords.LICENSE). zxcvbn-ts built that list from Mark
// Burnett's (xato.net) ten million passwords release: lower-cased, ranked by
// how often each password occurs, without non-ASCII passwords and without
// passwords that zxcvbn's own pattern matchers (repeats, sequences, dates)
// would guess sooner than their rank. The file keeps all 10,000 entries,
// short ones included, so it can be compared with its source line by line;
// only the 3,534 entries of at least MinPasswordLen characters go into the
// lookup set, because a shorter password is refused before it is looked up.

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MinPasswordLen is the fewest characters (runes, not bytes) a new password
// may have.
const MinPasswordLen = 8

// MaxNewPasswordLen is the most characters (runes, not bytes) a new password
// may have: room for passphrases. It is not MaxPasswordLen, the older bound
// in bytes that Hash and Verify put on any password, which stays as it is so
// that passwords set before this policy still verify.
const MaxNewPasswordLen = 256

// Every password CheckNewPassword accepts can be hashed: this fails to
// compile if MaxNewPasswordLen runes could be more than MaxPasswordLen bytes.
const _ = uint(MaxPasswordLen - MaxNewPasswordLen*utf8.UTFMax)

// PolicyError says why a new password is refused, in words for the user.
type PolicyError struct{ Reason string }

// Error returns the reason, for the user.
func (e *PolicyError) Error() string { return e.Reason }

// The reasons CheckNewPassword gives. They are shown to the user as they are.
const (
	reasonTooShort = "Use at least 8 characters."
	reasonTooLong  = "Use at most 256 characters."
	reasonName     = "Don't use your username or name as your password."
	reasonCommon   = "This password is too common and easy to guess. Choose another."
	reasonBlank    = "Your password can't be only spaces. Use at least 8 characters that aren't all spaces."
	reasonControl  = "Your password contains a control character (such as a tab, a line break or NUL), which can't be used. Use letters, digits, spaces and symbols only."
	reasonBadBytes = "Your password contains bytes that aren't valid text. Type it again."
)

//go:embed common-passwords.txt
var commonPasswordsFile string

// commonPasswords is the lookup set of the common passwords that are long
// enough to reach the lookup. It is built on first use, so importing the
// package costs nothing.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 4096)
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimSpace(line)
		if utf8.RuneCountInString(line) >= MinPasswordLen {
			set[line] = struct{}{}
		}
	}
	return set
})

// CheckNewPassword returns a *PolicyError when pw cannot be a new password for the user
// called name with display name display ("" when none), nil when it can.
//
// Length is counted in runes of pw as typed, without trimming. The name and
// common-password checks ignore case and surrounding whitespace, so
// " Password1 " is as common as "password1". There are no composition rules
// (NIST SP 800-63B): a long phrase of lowercase words is fine.
func CheckNewPassword(pw, name, display string) error {
	// Refuse a huge input before walking it: more bytes than the longest
	// allowed password can take is too long whatever it holds.
	if len(pw) > MaxNewPasswordLen*utf8.UTFMax {
		return &PolicyError{reasonTooLong}
	}
	if pw == "" {
		return &PolicyError{reasonTooShort}
	}
	if !utf8.ValidString(pw) {
		return &PolicyError{reasonBadBytes}
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return &PolicyError{reasonControl}
		}
	}
	trimmed := strings.TrimSpace(pw)
	if trimmed == "" {
		return &PolicyError{reasonBlank}
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return &PolicyError{reasonTooShort}
	}
	if n > MaxNewPasswordLen {
		return &PolicyError{reasonTooLong}
	}
	if sameName(trimmed, name, display) {
		return &PolicyError{reasonName}
	}
	if _, ok := commonPasswords()[strings.ToLower(trimmed)]; ok {
		return &PolicyError{reasonCommon}
	}
	return nil
}

// sameName reports whether the trimmed password is the username or the
// display name, ignoring case and surrounding whitespace, or the display name
// with its spaces taken out ("Ada Lovelace" and "adalovelace").
func sameName(trimmed, name, display string) bool {
	if n := strings.TrimSpace(name); n != "" && strings.EqualFold(trimmed, n) {
		return true
	}
	d := strings.TrimSpace(display)
	if d == "" {
		return false
	}
	if strings.EqualFold(trimmed, d) {
		return true
	}
	squeezed := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, d)
	return squeezed != "" && strings.EqualFold(trimmed, squeezed)
}
