package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/stepgate/stepgate/caddymodule"
	"github.com/stepgate/stepgate/internal/testmethod"
	"github.com/stepgate/stepgate/verifiers"
)

// backupModule brings the test-only backup-code method into Caddy the
// way a third party's method arrives with `xcaddy build --with`: a module
// in the stepgate.methods namespace.
type backupModule struct {
	// Label is parsed from the Caddyfile, to prove the block reaches the
	// module.
	Label string `json:"label,omitempty"`
}

func init() { caddy.RegisterModule(backupModule{}) }

func (backupModule) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "stepgate.methods.backup", New: func() caddy.Module { return new(backupModule) }}
}

func (*backupModule) NewMethod(env verifiers.Env) (verifiers.Method, error) {
	return testmethod.New(env)
}

func (b *backupModule) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the method's name
	for d.NextBlock(0) {
		switch d.Val() {
		case "label":
			if !d.Args(&b.Label) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown backup option %q", d.Val())
		}
	}
	return nil
}

var _ caddymodule.MethodModule = (*backupModule)(nil)

var backupCode = regexp.MustCompile(`id="backup-code">([0-9]{8})<`)

// TestMethodModuleThroughCaddy: a method added as a module (`method
// backup` in the Caddyfile) is offered at first sign-in, set up with its
// own page and used as the second step, through a real Caddy.
func TestMethodModuleThroughCaddy(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), `method backup {
			label "for the test"
		}`)
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	stepgate
	reverse_proxy %s
}
`, echoBackend(t)))
	c := newClient(t)
	c.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}})
	if r := c.get("/.stepgate/register"); !strings.Contains(r.body, "Use a backup code instead") {
		t.Fatalf("registration does not offer the module's method: %s", r.body)
	}
	page := c.get("/.stepgate/register/backup")
	m := backupCode.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("set-up page: %d %s", page.status, page.body)
	}
	if r := c.post("/.stepgate/register/backup", "/.stepgate/register/backup", url.Values{"code": {m[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("confirming: %d %s", r.status, r.body)
	}
	// A new browser signs in with the code.
	d := newClient(t)
	if r := d.post("/.stepgate/", "/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}}); r.location != "/.stepgate/verify" {
		t.Fatalf("password step: %d %q", r.status, r.location)
	}
	if r := d.post("/.stepgate/verify", "/.stepgate/verify", url.Values{"code": {m[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("second step with the module's method: %d %s", r.status, r.body)
	}
	if r := d.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatalf("app: %d %s", r.status, r.body)
	}
}
