package totp

import (
	"embed"
	"io/fs"

	"github.com/stepgate/stepgate/messages"
)

// localesFS holds the catalogues of the words users see (locales/<lang>/*.toml).
//
//go:embed locales
var localesFS embed.FS

func init() {
	sub, err := fs.Sub(localesFS, "locales")
	if err != nil {
		panic(err)
	}
	messages.Register("totp", sub)
}
