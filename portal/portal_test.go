package portal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

// TestNewReauthAtLeastASecond: a second step's time is kept in whole
// seconds, so a reauth window under a second could never be met (every
// change on Security info would ask to verify again, forever); New refuses
// it, and accepts zero (the default) and one second.
func TestNewReauthAtLeastASecond(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte(strings.ReplaceAll(usersYAML, "%s", passwordHash(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	ud, err := password.Open(users)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, tc := range []struct {
		reauth time.Duration
		want   string // "" = accepted
	}{
		{0, ""},
		{time.Second, ""},
		{10 * time.Minute, ""},
		{500 * time.Millisecond, "reauth must be at least 1s, not 500ms"},
		{time.Nanosecond, "reauth must be at least 1s, not 1ns"},
		{-time.Second, "reauth must be at least 1s, not -1s"},
	} {
		p, err := New(Config{Users: ud, Store: st, Secrets: []string{strings.Repeat("s", 32)}, Reauth: tc.reauth})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("reauth %s: %v", tc.reauth, err)
		case tc.want == "" && tc.reauth == 0 && p.cfg.Reauth != defaultReauth:
			t.Errorf("reauth 0: %s, want the default %s", p.cfg.Reauth, defaultReauth)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("reauth %s: got %v, want %q", tc.reauth, err, tc.want)
		}
	}
}

func TestLinkify(t *testing.T) {
	for in, want := range map[string]string{
		"Change it at https://passwords.example.com.":  `Change it at <a href="https://passwords.example.com" rel="noopener noreferrer">https://passwords.example.com</a>.`,
		"See https://x.example/a?b=1&c=2, then go":     `See <a href="https://x.example/a?b=1&amp;c=2" rel="noopener noreferrer">https://x.example/a?b=1&amp;c=2</a>, then go`,
		"(https://x.example/help)":                     `(<a href="https://x.example/help" rel="noopener noreferrer">https://x.example/help</a>)`,
		"http://plain.example and javascript:alert(1)": `http://plain.example and javascript:alert(1)`,
		`<b>"quoted"</b> https://"x`:                   `&lt;b&gt;&#34;quoted&#34;&lt;/b&gt; https://&#34;x`,
		"https://":                                     `https://`,
		"":                                             ``,
	} {
		if got := string(linkify(in)); got != want {
			t.Errorf("linkify(%q)\n got %s\nwant %s", in, got, want)
		}
	}
}
