package voice

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/internal/msgtest"
	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

// germanOverrides is an administrator's de.toml for the test: Stepgate has
// no German catalogue yet, and the real catalogues get no made-up
// translations, so German words come in the way an administrator's would.
// voice.call.ended stays English.
const germanOverrides = `
["voice.call.press_key"]
other = "Hier ist {{.App}}. Drücken Sie die Rautetaste."
["voice.call.no_answer"]
other = "Keine Antwort. Auf Wiederhören."
["voice.call.signed_in"]
other = "Danke. Sie sind angemeldet. Auf Wiederhören."
["voice.call.read_code"]
other = "Hier ist {{.App}}. Ihr Code: {{.Code}}. Noch einmal: {{.Code}}."
["voice.calling.prompt"]
other = "Wir rufen {{.Phone}} an."
`

// languages is a portal's Set whose administrator wrote germanOverrides.
func languages(t *testing.T) *messages.Set {
	return msgtest.Overridden(t, "de", germanOverrides)
}

// callbackHost serves what a press-# callback asks of the portal.
type callbackHost struct{ verifiers.Host }

func (callbackHost) ClientIP(*http.Request) string                       { return "192.0.2.1" }
func (callbackHost) FraudReported(*http.Request, string, string, string) {}

// twilioPresses posts Twilio's signed press-# callback to action (from the
// call's TwiML) in a request whose context speaks lang, as the portal's
// would (Twilio sends no Accept-Language of the user's).
func twilioPresses(t *testing.T, v *Verifier, action, digits string, lang *messages.Localizer) *httptest.ResponseRecorder {
	t.Helper()
	full := html.UnescapeString(action)
	u, err := url.Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"Digits": {digits}, "CallSid": {"CA1"}}
	r := httptest.NewRequest(http.MethodPost, u.RequestURI(), strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", smstest.Sign(token, full, form))
	r = r.WithContext(messages.With(r.Context(), lang))
	w := httptest.NewRecorder()
	v.twilioCallback(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("callback: %d %s", w.Code, w.Body)
	}
	return w
}

// A call placed for a German sign-in speaks German, with a German voice;
// Twilio's callback for the key pressed goes on in German (the language
// kept in the callback's signed URL), whatever language its own request
// would get; a message German lacks is said in English, by an English
// voice.
func TestCallSpeaksTheSignInsLanguage(t *testing.T) {
	e := newEnv(t, PressKey)
	set := languages(t)
	e.v.Languages, e.v.AuthToken, e.v.Host = set, token, callbackHost{}
	ctx := messages.With(context.Background(), set.Lang("de"))
	ch := verifiers.Challenge{ID: "ch1"}
	prompt, err := e.v.Start(ctx, e.alice, ch)
	if err != nil || prompt.Message != "Wir rufen +1 ••• ••• ••71 an." {
		t.Fatalf("Start: %q %v", prompt.Message, err)
	}
	c := e.tw.Calls()[0]
	if !strings.Contains(c.Twiml, `<Say language="de-DE">Hier ist Test App. Drücken Sie die Rautetaste.</Say></Gather>`) ||
		!strings.Contains(c.Twiml, `</Gather><Say language="de-DE">Keine Antwort. Auf Wiederhören.</Say>`) {
		t.Fatalf("German call's TwiML: %s", c.Twiml)
	}
	m := actionRe.FindStringSubmatch(c.Twiml)
	if m == nil || html.UnescapeString(m[1]) != "https://auth.example.com/.stepgate/twilio/voice/gather?c=ch1&l=de&u=alice" {
		t.Fatalf("Gather action: %v", m)
	}
	if c.StatusCallback != "https://auth.example.com/.stepgate/twilio/voice/status?c=ch1&u=alice" {
		t.Fatalf("status callback: %s", c.StatusCallback)
	}

	w := twilioPresses(t, e.v, m[1], "#", set.Lang("en"))
	if got := w.Body.String(); got != `<?xml version="1.0" encoding="UTF-8"?><Response><Say language="de-DE">Danke. Sie sind angemeldet. Auf Wiederhören.</Say></Response>` {
		t.Fatalf("German answer to #: %s", got)
	}
	if r, _ := e.v.Check(ctx, e.alice, ch, ""); r != verifiers.Accepted {
		t.Fatalf("after #: %v", r)
	}
	// Twilio again: the call has ended, said in German too.
	w = twilioPresses(t, e.v, m[1], "#", set.Lang("en"))
	if got := w.Body.String(); !strings.HasPrefix(got, `<?xml version="1.0" encoding="UTF-8"?><Response><Say language="de-DE">`) || strings.Contains(got, "already ended") {
		t.Fatalf("German answer to a replay: %s", got)
	}
}

// Without the portal's languages set (Languages nil), the callback still
// speaks the call's language from Stepgate's own catalogues, with that
// language's voice, whatever language the callback's request asks for.
func TestCallInTheCatalogueLanguage(t *testing.T) {
	e := newEnv(t, PressKey)
	e.v.AuthToken, e.v.Host = token, callbackHost{}
	plain, err := messages.New(messages.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Start(messages.With(context.Background(), plain.Lang("fr")), e.alice, verifiers.Challenge{ID: "ch1"}); err != nil {
		t.Fatal(err)
	}
	c := e.tw.Calls()[0]
	fr := plain.Lang("fr")
	if !strings.Contains(c.Twiml, `<Say language="fr-FR">`) || strings.Contains(c.Twiml, "Someone is signing in") {
		t.Fatalf("French call: %s", c.Twiml)
	}
	m := actionRe.FindStringSubmatch(c.Twiml)
	if m == nil || !strings.Contains(html.UnescapeString(m[1]), "&l=fr&") {
		t.Fatalf("Gather action: %v", m)
	}
	if got := twilioPresses(t, e.v, m[1], "#", plain.Lang("de")).Body.String(); !strings.Contains(got, `<Say language="fr-FR">`) || !strings.Contains(got, html.EscapeString(fr.T("voice.call.signed_in"))) {
		t.Fatalf("answer: %s", got)
	}
	if l := e.v.callLanguage("fr"); l.Tag() != "fr" {
		t.Fatalf("the call's language: %s", l.Tag())
	}
	if l := e.v.callLanguage(""); l.Tag() != "en" {
		t.Fatalf("a call without a language: %s", l.Tag())
	}
}

// An English call is what it was before languages were offered: no
// language attribute, no language in the callback's URL.
func TestEnglishCallUnchanged(t *testing.T) {
	e := newEnv(t, PressKey)
	if _, err := e.v.Start(messages.With(context.Background(), messages.English()), e.alice, verifiers.Challenge{ID: "ch1"}); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?><Response><Gather numDigits="1" finishOnKey="" timeout="15" method="POST" action="https://auth.example.com/.stepgate/twilio/voice/gather?c=ch1&amp;u=alice">` +
		`<Say>This is Test App. Someone is signing in to your account. To finish signing in, press the pound key. If this wasn&#39;t you, press zero.</Say></Gather>` +
		`<Say>We didn&#39;t get your answer. Goodbye.</Say></Response>`
	if got := e.tw.Calls()[0].Twiml; got != want {
		t.Fatalf("English TwiML:\n got %s\nwant %s", got, want)
	}
}

// A call that reads out a code reads it in the language of the request
// that asked for it.
func TestCodeReadInTheSignInsLanguage(t *testing.T) {
	e := newEnv(t, ReadCode)
	set := languages(t)
	prompt, err := e.v.Start(messages.With(context.Background(), set.Lang("de")), e.alice, verifiers.Challenge{ID: "ch1"})
	if err != nil || prompt.Message != "Wir rufen +1 ••• ••• ••71 an." {
		t.Fatalf("Start: %q %v", prompt.Message, err)
	}
	if c := e.tw.Calls()[0]; !regexp.MustCompile(`<Say language="de-DE">Hier ist Test App\. Ihr Code: (\d, ){5}\d\. Noch einmal: (\d, ){5}\d\.</Say>`).MatchString(c.Twiml) {
		t.Fatalf("German code call: %s", c.Twiml)
	}
}

// Every language Stepgate speaks has a <Say> language.
func TestSayLanguages(t *testing.T) {
	for _, l := range messages.Languages {
		if sayLanguages[l.Tag] == "" {
			t.Errorf("no <Say> language for %s", l.Tag)
		}
	}
	if sayLanguages["zh-Hans"] != "cmn-CN" || sayLanguages["pt-BR"] != "pt-BR" {
		t.Errorf("<Say> languages: %v", sayLanguages)
	}
}

func TestCatalogueMatchesCode(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	pages, _ := filepath.Glob("pages/*.html")
	english := messages.Catalogue(messages.Default)
	used := map[string]bool{}
	idRe := regexp.MustCompile(`"(voice(?:\.[a-z0-9_]+)+)"`)
	for _, f := range append(files, pages...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range idRe.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
			if _, ok := english[m[1]]; !ok {
				t.Errorf("%s: %s is in no catalogue", f, m[1])
			}
		}
	}
	for id := range english {
		if strings.HasPrefix(id, "voice.") && !used[id] {
			t.Errorf("%s is in the catalogue but nothing shows it", id)
		}
	}
}
