// Command stepgate is Caddy with its standard modules and Stepgate's
// sign-in gateway built in. `stepgate run --config Caddyfile` serves;
// `stepgate user …` (list, show, add, unlock, devices) manages users and
// their accounts, and `stepgate hash-password` hashes a password for the
// users file.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules, and Stepgate's.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/stepgate/stepgate/caddymodule"
)

// version is Stepgate's own version, shown by `stepgate version` before
// Caddy's.
const version = "0.1.0-dev"

func main() {
	caddy.CustomBinaryName = "stepgate"
	caddy.CustomVersion = "Stepgate " + version + " on Caddy"
	os.Args = rewriteArgs(os.Args)
	a, err := configFor(os.Args)
	if err == nil {
		err = a.free()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stepgate: "+err.Error())
		os.Exit(1)
	}
	if a.Message != "" {
		go a.announceWhenServed(os.Stderr, time.Minute)
	}
	caddycmd.Main()
}

// rewriteArgs routes `stepgate hash-password` to `stepgate user
// hash-password`: Caddy's own hash-password makes a base64 bcrypt string for
// basic_auth, while Stepgate's users file wants an argon2id PHC string.
func rewriteArgs(args []string) []string {
	if len(args) > 1 && args[1] == "hash-password" {
		return append([]string{args[0], "user", "hash-password"}, args[2:]...)
	}
	return args
}
