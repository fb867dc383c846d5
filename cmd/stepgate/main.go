// Command stepgate is Caddy with its standard modules and Stepgate's
// sign-in gateway built in. `stepgate run --config Caddyfile` serves;
// `stepgate user add` and `stepgate hash-password` manage the users file.
package main

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules, and Stepgate's.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/stepgate/stepgate/caddymodule"
)

func main() {
	// Caddy's own hash-password makes a base64 bcrypt string for
	// basic_auth; Stepgate's users file wants an argon2id PHC string, so
	// `stepgate hash-password` is ours (`stepgate user hash-password`).
	if len(os.Args) > 1 && os.Args[1] == "hash-password" {
		os.Args = append([]string{os.Args[0], "user", "hash-password"}, os.Args[2:]...)
	}
	caddycmd.Main()
}
