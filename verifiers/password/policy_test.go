package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/messages"
)

func TestCheckNewPassword(t *testing.T) {
	const (
		short   = "Use at least 8 characters."
		long    = "Use at most 256 characters."
		ownName = "Don't use your username or name as your password."
		common  = "This password is too common and easy to guess. Choose another."
		blank   = "Your password can't be only spaces. Use at least 8 characters that aren't all spaces."
		control = "Your password contains a control character (such as a tab, a line break or NUL), which can't be used. Use letters, digits, spaces and symbols only."
		bytes   = "Your password contains bytes that aren't valid text. Type it again."
	)
	tests := []struct {
		name          string
		pw            string
		user, display string
		want          string // "" when the password is accepted
	}{
		{"empty", "", "alice", "", short},
		{"seven characters", "passwor", "alice", "", short},
		// "password" has 8 characters, so it is the list that refuses it.
		{"password is common", "password", "alice", "", common},
		{"common with digits", "password123", "alice", "", common},
		{"common leet", "passw0rd", "alice", "", common},
		{"common any case", "QWERTY123", "alice", "", common},
		{"common with surrounding spaces", "  baseball1 ", "alice", "", common},
		{"common name in the list", "Jennifer", "alice", "", common},
		{"eight uncommon characters", "tg7#kq2w", "alice", "", ""},
		{"username", "alice.smith", "alice.smith", "", ownName},
		{"username other case and spaces", "  ALICE.Smith ", "alice.smith", "", ownName},
		{"display name", "ada lovelace", "ada", "Ada Lovelace", ownName},
		{"display name without spaces", "AdaLovelace", "ada", "Ada Lovelace", ownName},
		{"display name with surrounding spaces", "Ada Lovelace ", "ada", "  Ada Lovelace", ownName},
		{"contains the username only", "alice.smith.rocks", "alice.smith", "Alice Smith", ""},
		{"no display name", "mauve otter lamp", "alice", "", ""},
		{"256 characters", strings.Repeat("ab", 128), "alice", "", ""},
		{"257 characters", strings.Repeat("ab", 128) + "c", "alice", "", long},
		{"7 two-byte runes", "ééééééé", "alice", "", short},
		{"8 two-byte runes", "éééééééé", "alice", "", ""},
		{"8 four-byte runes", strings.Repeat("😀", 8), "alice", "", ""},
		{"256 three-byte runes", strings.Repeat("€", 256), "alice", "", ""},
		{"257 three-byte runes", strings.Repeat("€", 257), "alice", "", long},
		{"256 four-byte runes", strings.Repeat("😀", 256), "alice", "", ""},
		{"257 four-byte runes", strings.Repeat("😀", 257), "alice", "", long},
		{"huge input", strings.Repeat("x", 1<<20), "alice", "", long},
		{"passphrase", "violet kettle marching under 9 lanterns", "alice", "Alice Smith", ""},
		{"passphrase of lowercase words", "correct horse battery staple", "alice", "", ""},
		{"spaces only", "          ", "alice", "", blank},
		{"few spaces", "   ", "alice", "", blank},
		{"no-break spaces only", strings.Repeat("\u00a0", 10), "alice", "", blank},
		{"NUL", "pass\x00word-77x", "alice", "", control},
		{"tab", "tab\there-1234", "alice", "", control},
		{"line break", "line\nbreak-99", "alice", "", control},
		{"DEL", "delete\x7fme-now", "alice", "", control},
		{"invalid UTF-8", "abc\xffdefgh", "alice", "", bytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNewPassword(tt.pw, tt.user, tt.display)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckNewPassword(%q) = %q, want accepted", tt.pw, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("CheckNewPassword(%q) = %#v, want a *PolicyError", tt.pw, err)
			}
			if pe.Reason != tt.want || err.Error() != tt.want || pe.Explain(messages.English()) != tt.want {
				t.Fatalf("CheckNewPassword(%q) = %q, want %q", tt.pw, err, tt.want)
			}
		})
	}
}

// TestPolicyCommonPasswordsList checks the embedded list is the whole first
// 10,000 of its source (see the comment at the top of policy.go), in the form
// the lookup expects, and that the lookup set holds exactly its entries of at
// least MinPasswordLen characters.
func TestPolicyCommonPasswordsList(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(commonPasswordsFile, "\n"), "\n")
	if len(lines) != 10000 {
		t.Fatalf("list has %d entries, want 10000", len(lines))
	}
	seen := make(map[string]bool, len(lines))
	long := 0
	for i, l := range lines {
		if l == "" || l != strings.ToLower(strings.TrimSpace(l)) || seen[l] {
			t.Fatalf("line %d %q: want non-empty, lower-case, trimmed, unique", i+1, l)
		}
		seen[l] = true
		if len([]rune(l)) >= MinPasswordLen {
			long++
		}
	}
	// The source is ranked by frequency, so the first lines are the famous ones.
	if got := strings.Join(lines[:3], ","); got != "123456,password,12345678" {
		t.Errorf("list starts %q", got)
	}
	set := commonPasswords()
	if len(set) != long || long != 3534 {
		t.Errorf("lookup set has %d entries, list has %d of 8+ characters, want 3534 both", len(set), long)
	}
	for _, pw := range []string{"password", "12345678", "iloveyou", "trustno1", "sunshine", "qwertyuiop", "password1", "football"} {
		if _, ok := set[pw]; !ok {
			t.Errorf("%q is not in the lookup set", pw)
		}
	}
}

func BenchmarkCheckNewPassword(b *testing.B) {
	commonPasswords() // build the set outside the timing
	for _, bc := range []struct{ name, pw string }{
		{"accepted", "violet kettle marching under 9 lanterns"},
		{"common", "Password123"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_ = CheckNewPassword(bc.pw, "alice.smith", "Alice Smith")
			}
		})
	}
}
