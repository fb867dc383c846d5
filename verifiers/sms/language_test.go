package sms

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/msgtest"
	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
)

// germanOverrides is an administrator's de.toml for the test: its words
// replace Stepgate's German ones, so the test knows exactly what the text
// must say.
const germanOverrides = `
["sms.text.code"]
one = "{{.Code}} ist dein {{.App}}-Code. Er gilt {{.Count}} Minute."
other = "{{.Code}} ist dein {{.App}}-Code. Er gilt {{.Count}} Minuten."

["sms.sent.prompt"]
other = "Wir haben {{.Phone}} eine SMS geschickt."

["sms.limit.text.wait.seconds"]
one = "Einen neuen Code gibt es in einer Sekunde."
other = "Einen neuen Code gibt es in {{.Count}} Sekunden."
`

// german is the German of a portal whose administrator wrote
// germanOverrides.
func german(t *testing.T) *messages.Localizer {
	t.Helper()
	l := msgtest.Overridden(t, "de", germanOverrides).Lang("de")
	if l.Tag() != "de" {
		t.Fatalf("German is %q", l.Tag())
	}
	return l
}

// A text is written in the language of the sign-in that sends it (the
// Localizer its context carries), not in English.
func TestTextInTheSignInsLanguage(t *testing.T) {
	e := newEnv(t)
	de := german(t)
	ctx := messages.With(context.Background(), de)
	prompt, err := e.v.Start(ctx, e.alice, verifiers.Challenge{ID: "ch1"})
	if err != nil {
		t.Fatal(err)
	}
	if prompt.Message != "Wir haben +1 ••• ••• ••71 eine SMS geschickt." {
		t.Fatalf("prompt %q", prompt.Message)
	}
	body := e.last(t).Body
	if !regexp.MustCompile(`^\d{6} ist dein Test App-Code\. Er gilt 10 Minuten\.$`).MatchString(body) {
		t.Fatalf("German text %q", body)
	}
	if body != de.T("sms.text.code", "Code", body[:6], "App", "Test App", "Count", 10) {
		t.Fatalf("the text is not the message: %q", body)
	}
	// The code in it signs in as ever.
	if r, err := e.v.Check(ctx, e.alice, verifiers.Challenge{ID: "ch1"}, body[:6]); r != verifiers.Accepted || err != nil {
		t.Fatalf("the German text's code: %v %v", r, err)
	}

	// Setting up a phone texts in the set-up request's language too.
	e.clock = e.clock.Add(time.Minute)
	if _, err := e.v.SendTo(ctx, verifiers.User{Name: "bob"}, verifiers.Challenge{ID: "ch2"}, "+1 415 555 0199"); err != nil {
		t.Fatal(err)
	}
	if body := e.last(t).Body; !regexp.MustCompile(`^\d{6} ist dein Test App-Code`).MatchString(body) {
		t.Fatalf("set-up text %q", body)
	}

	// A refusal is explained in the page's language (Stepgate's German,
	// then the administrator's), with the plural its count takes.
	le := &LimitError{Limit: "cooldown", Method: "sms", Window: 30 * time.Second, Retry: e.clock.Add(25 * time.Second)}
	if got := le.Explain(de, "", e.clock); !strings.HasSuffix(got, " Einen neuen Code gibt es in 25 Sekunden.") || strings.Contains(got, "A code was sent") || !strings.Contains(got, "30") {
		t.Fatalf("German refusal: %q", got)
	}
	le.Retry = e.clock.Add(time.Second)
	if got := le.Explain(de, "", e.clock); !strings.HasSuffix(got, " Einen neuen Code gibt es in einer Sekunde.") {
		t.Fatalf("German refusal, one second: %q", got)
	}
}

// Without a language in the context a text is English, as before.
func TestTextInEnglishByDefault(t *testing.T) {
	e := newEnv(t)
	if _, err := e.v.Start(context.Background(), e.alice, verifiers.Challenge{ID: "ch1"}); err != nil {
		t.Fatal(err)
	}
	if body := e.last(t).Body; !regexp.MustCompile(`^\d{6} is your Test App verification code\. It expires in 10 minutes\. Don't share it with anyone\.$`).MatchString(body) {
		t.Fatalf("English text %q", body)
	}
}

// Twilio Verify writes its text itself: it is asked for the sign-in's
// language, and for English left to choose by the number, as before.
func TestTwilioVerifyLocale(t *testing.T) {
	e := newEnv(t)
	c, _ := NewTwilioClient(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, APIURL: e.tw.URL})
	e.v.Service = &TwilioVerify{Client: c, ServiceSID: "VA0123"}
	if _, err := e.v.Start(messages.With(context.Background(), german(t)), e.alice, verifiers.Challenge{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if m := e.last(t); m.Locale != "de" {
		t.Fatalf("German sign-in: Verify's locale %q", m.Locale)
	}
	e.clock = e.clock.Add(time.Minute)
	if _, err := e.v.Start(messages.With(context.Background(), messages.English()), e.alice, verifiers.Challenge{ID: "c2"}); err != nil {
		t.Fatal(err)
	}
	if m := e.last(t); m.Locale != "" {
		t.Fatalf("English sign-in: Verify's locale %q", m.Locale)
	}
	for tag, want := range map[string]string{"zh-Hans": "zh-CN", "pt-BR": "pt-BR", "ja": "ja"} {
		if verifyLocales[tag] != want {
			t.Errorf("Verify's locale of %s: %q, want %q", tag, verifyLocales[tag], want)
		}
	}
	for _, l := range messages.Languages {
		if _, ok := verifyLocales[l.Tag]; !ok && l.Tag != messages.Default {
			t.Errorf("no Verify locale for %s", l.Tag)
		}
	}
}

// idRe finds message IDs of an area in source: "area.x.y" in quotes.
func idRe(area string) *regexp.Regexp {
	return regexp.MustCompile(`"(` + area + `(?:\.[a-z0-9_]+)+)"`)
}

// catalogueMatchesCode checks that every message ID of area that the
// package's code and pages name is in the English catalogue, and that
// every message of the area is named somewhere (none is left over).
func catalogueMatchesCode(t *testing.T, area string, files ...string) {
	t.Helper()
	english := messages.Catalogue(messages.Default)
	used := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range idRe(area).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
			if _, ok := english[m[1]]; !ok {
				t.Errorf("%s: %s is in no catalogue", f, m[1])
			}
		}
	}
	for id := range english {
		if len(id) > len(area) && id[:len(area)+1] == area+"." && !used[id] {
			t.Errorf("%s is in the catalogue but nothing shows it", id)
		}
	}
}

func TestCatalogueMatchesCode(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	pages, _ := filepath.Glob("pages/*.html")
	var src []string
	for _, f := range append(files, pages...) {
		if !regexp.MustCompile(`_test\.go$`).MatchString(f) {
			src = append(src, f)
		}
	}
	catalogueMatchesCode(t, "sms", src...)
}
