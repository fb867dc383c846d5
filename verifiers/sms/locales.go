package sms

import (
	"embed"
	"time"

	"github.com/stepgate/stepgate/messages"
)

// The method's words are in locales/<lang>/sms.toml, area "sms".
//
//go:embed locales
var localesFS embed.FS

func init() { messages.RegisterLocales("sms", localesFS) }

// waitMessages are the three forms of one message about a wait: in
// seconds, in minutes (plurals counting them), and "an hour".
type waitMessages struct{ seconds, minutes, hour string }

// say is the message for wait d in l's language, rounded up to whole
// seconds under a minute and to whole minutes under an hour, and an hour
// above (as verifiers.HumanWait words it in English).
func (m waitMessages) say(l *messages.Localizer, d time.Duration) string {
	switch {
	case d <= time.Second:
		return l.T(m.seconds, "Count", 1)
	case d < time.Minute:
		return l.T(m.seconds, "Count", int((d+time.Second-1)/time.Second))
	case d <= time.Minute:
		return l.T(m.minutes, "Count", 1)
	}
	if n := int((d + time.Minute - 1) / time.Minute); n < 60 {
		return l.T(m.minutes, "Count", n)
	}
	return l.T(m.hour)
}

var (
	textSent    = waitMessages{"sms.limit.text.sent.seconds", "sms.limit.text.sent.minutes", "sms.limit.text.sent.hour"}
	textWait    = waitMessages{"sms.limit.text.wait.seconds", "sms.limit.text.wait.minutes", "sms.limit.text.wait.hour"}
	textTooMany = waitMessages{"sms.limit.text.too_many.seconds", "sms.limit.text.too_many.minutes", "sms.limit.text.too_many.hour"}
	callSent    = waitMessages{"sms.limit.call.sent.seconds", "sms.limit.call.sent.minutes", "sms.limit.call.sent.hour"}
	callWait    = waitMessages{"sms.limit.call.wait.seconds", "sms.limit.call.wait.minutes", "sms.limit.call.wait.hour"}
	callTooMany = waitMessages{"sms.limit.call.too_many.seconds", "sms.limit.call.too_many.minutes", "sms.limit.call.too_many.hour"}
)
