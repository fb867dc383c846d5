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

	"github.com/stepgate/stepgate/messages"
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
type PolicyError struct {
	// Reason is the reason in English, for Error: logs, the command line,
	// callers that have no user's language.
	Reason string
	// ID is the message of the password catalogue that gives the reason.
	ID string
}

// Error returns the reason in English.
func (e *PolicyError) Error() string { return e.Reason }

// Explain returns the reason in l's language, for the user.
func (e *PolicyError) Explain(l *messages.Localizer) string { return l.T(e.ID) }

// refuse is the PolicyError of the reason with message id.
func refuse(id string) *PolicyError {
	return &PolicyError{Reason: messages.English().T(id), ID: id}
}

// The reasons CheckNewPassword gives: IDs of the password catalogue.
const (
	reasonTooShort = "password.policy.too_short"
	reasonTooLong  = "password.policy.too_long"
	reasonName     = "password.policy.name"
	reasonCommon   = "password.policy.common"
	reasonBlank    = "password.policy.blank"
	reasonControl  = "password.policy.control"
	reasonBadBytes = "password.policy.bad_bytes"
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
		return refuse(reasonTooLong)
	}
	if pw == "" {
		return refuse(reasonTooShort)
	}
	if !utf8.ValidString(pw) {
		return refuse(reasonBadBytes)
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return refuse(reasonControl)
		}
	}
	trimmed := strings.TrimSpace(pw)
	if trimmed == "" {
		return refuse(reasonBlank)
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return refuse(reasonTooShort)
	}
	if n > MaxNewPasswordLen {
		return refuse(reasonTooLong)
	}
	if sameName(trimmed, name, display) {
		return refuse(reasonName)
	}
	if _, ok := commonPasswords()[strings.ToLower(trimmed)]; ok {
		return refuse(reasonCommon)
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
