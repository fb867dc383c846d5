package totp

import (
	"embed"

	"github.com/stepgate/stepgate/messages"
)

// localesFS holds the catalogues of the words users see (locales/<lang>/*.toml).
//
//go:embed locales
var localesFS embed.FS

func init() { messages.RegisterLocales("totp", localesFS) }
