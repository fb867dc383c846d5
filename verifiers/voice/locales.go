package voice

import (
	"embed"

	"github.com/stepgate/stepgate/messages"
)

// The method's words are in locales/<lang>/voice.toml, area "voice".
//
//go:embed locales
var localesFS embed.FS

func init() { messages.RegisterLocales("voice", localesFS) }

// sayLanguages are the <Say> language attribute's values (Twilio's
// text-to-speech locales) of the languages Stepgate speaks.
var sayLanguages = map[string]string{
	"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "pt-BR": "pt-BR",
	"it": "it-IT", "nl": "nl-NL", "pl": "pl-PL", "ja": "ja-JP", "zh-Hans": "cmn-CN",
}

// speech is what one <Say> says, and in which language: "" is English,
// said as before languages were offered (no attribute: Twilio's en-US, or
// the account's own default voice).
type speech struct{ text, lang string }

// speak is message id, with args, in l's language, said in that language.
// A message l's language lacks comes back in English (from the
// catalogues' fallback): it is then said in English too, not read out by
// another language's voice.
func speak(l *messages.Localizer, id string, args ...any) speech {
	text := l.T(id, args...)
	if l.Tag() == messages.Default || text == messages.English().T(id, args...) {
		return speech{text: text}
	}
	return speech{text: text, lang: sayLanguages[l.Tag()]}
}

// langParam is the query parameter of the press-# callback that keeps
// the language of the request that placed the call (absent: English).
// Twilio signs the whole URL, so it cannot be changed on the way.
const langParam = "l"

// callLanguage is the language a call was placed in, by the tag kept in
// its callback's URL: Twilio's request that fetches what the call says
// next has no cookie or Accept-Language of the user's.
func (v *Verifier) callLanguage(tag string) *messages.Localizer {
	if tag == "" {
		tag = messages.Default
	}
	set := v.Languages
	if set == nil {
		set = messages.All()
	}
	return set.Lang(tag)
}
