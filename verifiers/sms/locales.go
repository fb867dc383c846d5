package sms

import (
	"embed"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
)

// The method's words are in locales/<lang>/sms.toml, area "sms".
//
//go:embed locales
var localesFS embed.FS

func init() { messages.RegisterLocales("sms", localesFS) }

var (
	textSent    = verifiers.WaitWords{Seconds: "sms.limit.text.sent.seconds", Minutes: "sms.limit.text.sent.minutes", Hour: "sms.limit.text.sent.hour"}
	textWait    = verifiers.WaitWords{Seconds: "sms.limit.text.wait.seconds", Minutes: "sms.limit.text.wait.minutes", Hour: "sms.limit.text.wait.hour"}
	textTooMany = verifiers.WaitWords{Seconds: "sms.limit.text.too_many.seconds", Minutes: "sms.limit.text.too_many.minutes", Hour: "sms.limit.text.too_many.hour"}
	callSent    = verifiers.WaitWords{Seconds: "sms.limit.call.sent.seconds", Minutes: "sms.limit.call.sent.minutes", Hour: "sms.limit.call.sent.hour"}
	callWait    = verifiers.WaitWords{Seconds: "sms.limit.call.wait.seconds", Minutes: "sms.limit.call.wait.minutes", Hour: "sms.limit.call.wait.hour"}
	callTooMany = verifiers.WaitWords{Seconds: "sms.limit.call.too_many.seconds", Minutes: "sms.limit.call.too_many.minutes", Hour: "sms.limit.call.too_many.hour"}
)
