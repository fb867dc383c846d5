package messages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// The test area: English and German, with a plural and an argument.
func init() {
	Register("test", fstest.MapFS{
		"en/a.toml": {Data: []byte(`
hello = "Hello"
contact = "Contact {{.Help}}."
[wait]
one = "Wait {{.Count}} second."
other = "Wait {{.Count}} seconds."
`)},
		"en/b.toml": {Data: []byte(`only_en = "Only in English"` + "\n" + `link = "See <a href=\"/x\">{{.Name}}</a>"`)},
		"de/a.toml": {Data: []byte(`
hello = "Hallo"
contact = "Wenden Sie sich an {{.Help}}."
[wait]
one = "Warten Sie {{.Count}} Sekunde."
other = "Warten Sie {{.Count}} Sekunden."
`)},
		"pl/a.toml": {Data: []byte(`
[wait]
one = "Poczekaj {{.Count}} sekundę."
few = "Poczekaj {{.Count}} sekundy."
many = "Poczekaj {{.Count}} sekund."
other = "Poczekaj {{.Count}} sekundy."
`)},
	})
}

func mustSet(t *testing.T, cfg Config) *Set {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestChoosingTheLanguage(t *testing.T) {
	s := mustSet(t, Config{})
	for _, tc := range []struct{ cookie, accept, want string }{
		{"", "", "en"},
		{"", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"", "fr-CA, en;q=0.5", "fr"},
		{"", "pt", "pt-BR"},
		{"", "zh-CN,zh;q=0.9", "zh-Hans"},
		{"", "ja-JP", "ja"},
		{"", "sv-SE", "en"},          // not spoken: the default
		{"", "en-GB,de;q=0.9", "en"}, // the browser's order wins
		{"de", "fr", "de"},           // the switcher's choice wins
		{"xx", "fr", "fr"},           // a cookie naming no language is ignored
		{"", "de;q=garbage", "en"},   // unparsable: the default
		{"", strings.Repeat("de,", 300), "en"},
	} {
		if got := s.For(tc.cookie, tc.accept).Tag(); got != tc.want {
			t.Errorf("For(%q, %q) = %s, want %s", tc.cookie, tc.accept, got, tc.want)
		}
	}
}

func TestOfferedAndFallback(t *testing.T) {
	s := mustSet(t, Config{Offer: []string{"de", "en"}, Fallback: "de"})
	if got := strings.Join(s.Offered(), ","); got != "en,de" {
		t.Errorf("offered %s, want en,de (in the switcher's order)", got)
	}
	if got := s.For("", "fr").Tag(); got != "de" {
		t.Errorf("French browser got %s, want the fallback de", got)
	}
	if got := s.For("fr", "").Tag(); got != "de" {
		t.Errorf("a cookie for a language not offered got %s, want de", got)
	}
	for _, cfg := range []Config{{Offer: []string{"sv"}}, {Fallback: "xx"}, {Offer: []string{"en"}, Fallback: "de"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestWords(t *testing.T) {
	s := mustSet(t, Config{})
	en, de, pl := s.Lang("en"), s.Lang("de"), s.Lang("pl")
	for _, tc := range []struct {
		l    *Localizer
		id   string
		args []any
		want string
	}{
		{en, "test.hello", nil, "Hello"},
		{de, "test.hello", nil, "Hallo"},
		{de, "test.contact", []any{"Help", "IT <it@example.com>"}, "Wenden Sie sich an IT <it@example.com>."},
		{en, "test.wait", []any{"Count", 1}, "Wait 1 second."},
		{en, "test.wait", []any{"Count", 30}, "Wait 30 seconds."},
		{de, "test.wait", []any{"Count", 1}, "Warten Sie 1 Sekunde."},
		{pl, "test.wait", []any{"Count", 3}, "Poczekaj 3 sekundy."},
		{pl, "test.wait", []any{"Count", 5}, "Poczekaj 5 sekund."},
		{pl, "test.wait", []any{"Count", 22}, "Poczekaj 22 sekundy."},
		{de, "test.only_en", nil, "Only in English"}, // missing in German: English
		{de, "test.no_such", nil, "test.no_such"},
	} {
		if got := tc.l.T(tc.id, tc.args...); got != tc.want {
			t.Errorf("%s T(%s, %v) = %q, want %q", tc.l.Tag(), tc.id, tc.args, got, tc.want)
		}
	}
	if got := string(en.HTML("test.link", "Name", `<b>"x"</b>`)); got != `See <a href="/x">&lt;b&gt;&#34;x&#34;&lt;/b&gt;</a>` {
		t.Errorf("HTML escaped its argument as %s", got)
	}
}

func TestContext(t *testing.T) {
	s := mustSet(t, Config{})
	if got := From(context.Background()).Tag(); got != "en" {
		t.Errorf("no language in the context: %s, want en", got)
	}
	ctx := With(context.Background(), s.Lang("ja"))
	if got := From(ctx).Tag(); got != "ja" {
		t.Errorf("From = %s, want ja", got)
	}
	if _, ok := Chosen(context.Background()); ok {
		t.Error("Chosen reported a language for a context without one")
	}
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOverrides(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "en.toml", "[test]\nhello = \"Welcome to Example Corp\"\n")
	write(t, dir, "de.toml", "\"test.wait\" = { one = \"Eine Sekunde\", other = \"{{.Count}} Sekunden\" }\n")
	s := mustSet(t, Config{Overrides: dir})
	if got := s.Lang("en").T("test.hello"); got != "Welcome to Example Corp" {
		t.Errorf("overridden English: %q", got)
	}
	if got := s.Lang("de").T("test.hello"); got != "Hallo" {
		t.Errorf("German not overridden: %q", got)
	}
	if got := s.Lang("de").T("test.wait", "Count", 4); got != "4 Sekunden" {
		t.Errorf("overridden German plural: %q", got)
	}
	// Another portal's Set is not touched by these overrides.
	if got := mustSet(t, Config{}).Lang("en").T("test.hello"); got != "Hello" {
		t.Errorf("overrides leaked into another Set: %q", got)
	}

	for name, tc := range map[string]struct{ file, data, want string }{
		"unknown ID":       {"en.toml", "[test]\nhelo = \"x\"\n", `no message is called "test.helo"`},
		"unknown language": {"sv.toml", "[test]\nhello = \"Hej\"\n", `"sv" is not a language Stepgate speaks`},
		"broken TOML":      {"en.toml", "[test\n", "en.toml"},
		"broken template":  {"en.toml", "[test]\ncontact = \"Contact {{.Help\"\n", "test.contact"},
		"misspelt name":    {"en.toml", "[test]\ncontact = \"Contact {{.Hlep}}\"\n", "test.contact fills in {{.Hlep}}, which Stepgate does not give that message (it gives {{.Help}})"},
		"name of nothing":  {"de.toml", "[test]\nhello = \"Hallo {{.Name}}\"\n", "test.hello fills in {{.Name}}, which Stepgate does not give that message (it gives nothing)"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tc.file, tc.data)
			_, err := New(Config{Overrides: dir})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %s", err, tc.want)
			}
		})
	}
	if _, err := New(Config{Overrides: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no <language>.toml") {
		t.Errorf("an empty override directory: %v", err)
	}
	if _, err := New(Config{Overrides: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("a missing override directory was accepted")
	}
}

// BenchmarkFor is the cost of choosing a portal page's language from a
// typical browser's Accept-Language (every portal page pays it once).
func BenchmarkFor(b *testing.B) {
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.For("", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7").Tag() != "de" {
			b.Fatal("not German")
		}
	}
}

// BenchmarkT is one message with an argument and a plural, in German.
func BenchmarkT(b *testing.B) {
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	de := s.Lang("de")
	b.ReportAllocs()
	for b.Loop() {
		de.T("test.wait", "Count", 25)
	}
}

func TestSpace(t *testing.T) {
	s := mustSet(t, Config{})
	for tag, want := range map[string]string{"en": " ", "de": " ", "pl": " ", "ja": "", "zh-Hans": ""} {
		if got := s.Lang(tag).Space(); got != want {
			t.Errorf("%s: %q, want %q", tag, got, want)
		}
	}
}
