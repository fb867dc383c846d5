package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/stepgate/stepgate/verifiers"
)

// MethodModule is a second-step method added as a Caddy module: its ID is
// stepgate.methods.<name>, and `xcaddy build --with` brings it into a
// build. The built-in methods (sms, voice, push and the authenticator app)
// keep their own directives; a module adds one more.
//
// In the Caddyfile, `method <name> [{ … }]` in the stepgate global option
// loads it; the module parses its block if it implements
// caddyfile.Unmarshaler.
type MethodModule interface {
	caddy.Module
	// NewMethod builds the method with what the portal gives every method.
	NewMethod(env verifiers.Env) (verifiers.Method, error)
}

// loadMethods loads the method modules of the app's configuration.
func (a *App) loadMethods(ctx caddy.Context) ([]verifiers.Factory, error) {
	if len(a.MethodsRaw) == 0 {
		return nil, nil
	}
	mods, err := ctx.LoadModule(a, "MethodsRaw")
	if err != nil {
		return nil, fmt.Errorf("loading sign-in methods: %w", err)
	}
	var out []verifiers.Factory
	for _, m := range mods.([]any) {
		mm, ok := m.(MethodModule)
		if !ok {
			return nil, fmt.Errorf("module %T is not a sign-in method (it has no NewMethod)", m)
		}
		out = append(out, mm.NewMethod)
	}
	return out, nil
}

// parseMethod reads `method <name> [{ … }]` into the module's JSON.
func parseMethod(d *caddyfile.Dispenser) (json.RawMessage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	unm, err := caddyfile.UnmarshalModule(d, "stepgate.methods."+name)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, "method", name, nil), nil
}
