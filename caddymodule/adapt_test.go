package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/stepgate/stepgate/caddymodule"
)

// TestCaddyfileAdapt checks each testdata/adapt/*.caddyfiletest: a
// Caddyfile, a line of dashes, and the JSON it must adapt to.
func TestCaddyfileAdapt(t *testing.T) {
	files, _ := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no adapt tests found")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		caddyfile, json, ok := strings.Cut(string(raw), "----------")
		if !ok {
			t.Fatalf("%s: no ---------- separator", f)
		}
		if !caddytest.CompareAdapt(t, f, caddyfile, "caddyfile", strings.TrimSpace(json)) {
			t.Errorf("%s: adapted JSON differs", f)
		}
	}
}

// TestCaddyfileErrors checks that every mistake is reported with the file
// and line, at adapt time.
func TestCaddyfileErrors(t *testing.T) {
	for name, tc := range map[string]struct{ global, site, want string }{
		"unknown option":       {"users_file u\n\t\tbogus 1", "", `unknown stepgate option "bogus"`},
		"unknown store":        {"store postgresql x", "", `unknown store "postgresql"`},
		"method without name":  {"method", "", "wrong argument count"},
		"unknown method":       {"method carrier_pigeon", "", "stepgate.methods.carrier_pigeon"},
		"method option":        {"method backup {\n\t\t\tcolour red\n\t\t}", "", `unknown backup option "colour"`},
		"security_info option": {"security_info {\n\t\t\tforever 1\n\t\t}", "", `unknown security_info option "forever"`},
		"reauth duration":      {"security_info {\n\t\t\treauth soon\n\t\t}", "", `invalid duration "soon"`},
		"password_reset 3":     {"password_reset {\n\t\t\tmethods 3\n\t\t}", "", `password_reset: methods must be 1 or 2, not "3"`},
		"password_reset none":  {"password_reset {\n\t\t\tmethods\n\t\t}", "", "wrong argument count"},
		"password_reset opt":   {"password_reset {\n\t\t\tquestions 3\n\t\t}", "", `unknown password_reset option "questions"`},
		"password_reset arg":   {"password_reset on", "", "wrong argument count"},
		"store without type":   {"store", "", "wrong argument count"},
		"unknown session opt":  {"session {\n\t\t\tforever 1\n\t\t}", "", `unknown session option "forever"`},
		"directory type":       {"directory nis", "", "directory: write `directory ldap { … }`"},
		"directory option":     {"directory ldap {\n\t\t\tserver x\n\t\t}", "", `unknown ldap option "server"`},
		"directory attribute":  {"directory ldap {\n\t\t\tattributes {\n\t\t\t\tphone x\n\t\t\t}\n\t\t}", "", `unknown attributes option "phone"`},
		"directory start_tls":  {"directory ldap {\n\t\t\tstart_tls yes\n\t\t}", "", "wrong argument count"},
		"directory refresh":    {"directory ldap {\n\t\t\trefresh often\n\t\t}", "", `invalid duration "often"`},
		"bad duration":         {"session {\n\t\t\tidle soon\n\t\t}", "", `invalid duration "soon"`},
		"remember no duration": {"session {\n\t\t\tremember\n\t\t}", "", "wrong argument count"},
		"remember_device bad":  {"session {\n\t\t\tremember_device forever\n\t\t}", "", `invalid duration "forever"`},
		"bad lockout number":   {"lockout {\n\t\t\tthreshold 1000\n\t\t}", "", `invalid number "1000"`},
		"unknown registration": {"registration always", "", `unknown registration mode "always"`},
		"two secrets args":     {"secret a b", "", "wrong argument count"},
		"sms transport":        {"sms pigeon", "", `unknown sms transport "pigeon"`},
		"sms nothing":          {"sms", "", "wrong argument count"},
		"twilio option":        {"sms twilio {\n\t\t\tsid x\n\t\t}", "", `unknown sms twilio option "sid"`},
		"send limit number":    {"send_limits {\n\t\t\tper_user lots\n\t\t}", "", `invalid number "lots"`},
		"voice mode":           {"voice outbox {\n\t\t\tmode sing\n\t\t}", "", `unknown voice mode "sing"`},
		"sms has no mode":      {"sms outbox {\n\t\t\tmode read_code\n\t\t}", "", `unknown sms outbox option "mode"`},
		"voice has no verify":  {"voice twilio {\n\t\t\tverify_service_sid VA1\n\t\t}", "", `unknown voice twilio option "verify_service_sid"`},
		"outbox_allowed arg":   {"outbox_allowed yes", "", "wrong argument count"},
		"no countries":         {"allowed_countries", "", "wrong argument count"},
		"password_cpu no %":    {"password_cpu 15", "", `password_cpu "15": want a percentage`},
		"password_cpu zero":    {"password_cpu 0%", "", `password_cpu "0%"`},
		"password_cpu over":    {"password_cpu 150%", "", `password_cpu "150%"`},
		"password_cpu_burst":   {"password_cpu_burst soon", "", `invalid duration "soon"`},
		"password_attempts":    {"password_attempts 20/1m", "", "want password_attempts <count> per <duration>"},
		"password_attempts 0":  {"password_attempts 0 per 1m", "", `password_attempts "0": want a count`},
		"password_attempts d":  {"password_attempts 5 per ever", "", `password_attempts: invalid duration "ever"`},
		"password_hash memory": {"password_hash {\n\t\t\tmemory 19MB\n\t\t}", "", "want a size ending in KiB, MiB or GiB"},
		"password_hash huge":   {"password_hash {\n\t\t\tmemory 4GiB\n\t\t}", "", "want 8KiB to 2GiB"},
		"password_hash passes": {"password_hash {\n\t\t\tpasses 0\n\t\t}", "", `invalid number "0"`},
		"password_hash option": {"password_hash {\n\t\t\tsalt x\n\t\t}", "", `unknown password_hash option "salt"`},
		"push argument":        {"push on", "", "wrong argument count"},
		"push option":          {"push {\n\t\t\tvapid x\n\t\t}", "", `unknown push option "vapid"`},
		"push max_pending":     {"push {\n\t\t\tmax_pending 50\n\t\t}", "", `invalid number "50"`},
		"push service empty":   {"push {\n\t\t\tservice\n\t\t}", "", "wrong argument count"},
		"unknown subdirective": {"users_file u", "stepgate {\n\t\tforbid user x\n\t}", `unknown stepgate subdirective "forbid"`},
		"allow what":           {"users_file u", "stepgate {\n\t\tallow team x\n\t}", `want allow user … or allow group …`},
		"allow nobody":         {"users_file u", "stepgate {\n\t\tallow user\n\t}", "name at least one user"},
		"deny what":            {"users_file u", "stepgate {\n\t\tdeny team x\n\t}", `want deny user … or deny group …`},
		"deny nobody":          {"users_file u", "stepgate {\n\t\tdeny group\n\t}", "deny group: name at least one group"},
		"handler argument":     {"users_file u", "stepgate now", `takes no arguments but "portal"`},
		"portal twice":         {"users_file u", "stepgate portal portal", `takes no arguments but "portal"`},
		"portal with a policy": {"users_file u", "stepgate portal {\n\t\tallow group admins\n\t}", `stepgate portal serves only the sign-in pages: it takes no "allow"`},
		"portal_url twice":     {"portal_url a b", "", "wrong argument count"},
		"branding argument":    {"branding on", "", "wrong argument count"},
		"branding option":      {"branding {\n\t\t\tslogan x\n\t\t}", "", `unknown branding option "slogan"`},
		"branding no name":     {"branding {\n\t\t\tname\n\t\t}", "", "wrong argument count"},
		"branding empty name":  {"branding {\n\t\t\tname \" \"\n\t\t}", "", "branding: name is empty"},
		"branding long name":   {"branding {\n\t\t\tname " + strings.Repeat("x", 61) + "\n\t\t}", "", "is longer than 60 characters"},
		"branding color #":     {"branding {\n\t\t\tcolor #0067b8\n\t\t}", "", `branding: color needs a value in quotes, e.g. color "#0067b8" (# starts a comment in a Caddyfile)`},
		"branding color name":  {"branding {\n\t\t\tcolor blue\n\t\t}", "", `branding: color "blue": want #rgb or #rrggbb`},
		"branding color light": {"branding {\n\t\t\tcolor \"#ffcc00\"\n\t\t}", "", `branding: color "#ffcc00" has a contrast of only 1.51:1 with white; buttons have white text on this colour and need at least 4.5:1`},
		"branding color two":   {"branding {\n\t\t\tcolor \"#000\" \"#fff\"\n\t\t}", "", "wrong argument count"},
		"branding http logo":   {"branding {\n\t\t\tname X\n\t\t\tlogo http://cdn.example.com/l.png\n\t\t}", "", "a logo URL must be https://host/path"},
		"branding logo only":   {"branding {\n\t\t\tlogo /etc/logo.png\n\t\t}", "", "branding: a logo needs a name too"},
		"languages unknown":    {"languages {\n\t\t\toffer en sv\n\t\t}", "", `languages: "sv" is not a language Stepgate speaks (en, de, fr, es, pt-BR, it, nl, pl, ja, zh-Hans)`},
		"languages no offer":   {"languages {\n\t\t\toffer\n\t\t}", "", "wrong argument count"},
		"languages default":    {"languages {\n\t\t\toffer en de\n\t\t\tdefault fr\n\t\t}", "", "languages: default fr is not one of those offered (en de)"},
		"languages option":     {"languages {\n\t\t\tlocale de\n\t\t}", "", `unknown languages option "locale"`},
	} {
		site := tc.site
		if site == "" {
			site = "stepgate"
		}
		cf := "{\n\tstepgate {\n\t\t" + tc.global + "\n\t}\n}\n\nexample.com {\n\t" + site + "\n}\n"
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%s: got %v, want an error with %q and the file:line", name, err, tc.want)
		}
	}
}

// TestDemoCaddyfileAdapts keeps Caddyfile.example (the README's first
// command) valid: it adapts, and turns on what the README says it does.
func TestDemoCaddyfileAdapts(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(raw, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("Caddyfile.example: %v", err)
	}
	for _, want := range []string{`"registration":{"first_sign_in":true}`, `"sms":{"transport":"outbox"`, `"voice":{"transport":"outbox"`, `"push":{"contact":"mailto:admin@localhost"}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted demo config lacks %s:\n%s", want, out)
		}
	}
}

// FuzzCaddyfileBlock adapts arbitrary stepgate blocks: no panic, and
// whatever adapts is JSON the app can decode.
func FuzzCaddyfileBlock(f *testing.F) {
	for _, s := range []string{
		"users_file u\n\t\tsecret s",
		"push {\n\t\t\tservice http://127.0.0.1:1 x\n\t\t\tpause 1h\n\t\t}",
		"sms twilio {\n\t\t\taccount_sid {env.X}\n\t\t}",
		"voice outbox f {\n\t\t\tmode press_key\n\t\t}",
		"send_limits {\n\t\t\tper_user -1\n\t\t}",
		"password_cpu 1e9%",
		"lockout {\n\t\t\tthreshold 0x10\n\t\t}",
		"session {\n\t\t\tidle 9999999999h\n\t\t}",
		"{\n}\n}\n{",
		"\"unterminated",
		"branding {\n\t\t\tname \"Example Corp\"\n\t\t\tlogo https://cdn.example.com/l.svg\n\t\t\tcolor \"#0067b8\"\n\t\t}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, block string) {
		if strings.Contains(block, "import") {
			// Caddy's own import reads files and globs from disk: not
			// our parser, and slow enough to starve the fuzz workers.
			return
		}
		cf := "{\n\tstepgate {\n\t\t" + block + "\n\t}\n}\n\nexample.com {\n\tstepgate\n}\n"
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
		if err != nil {
			return
		}
		var cfg struct {
			Apps struct {
				Stepgate *caddymodule.App `json:"stepgate"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatalf("adapted JSON does not decode: %v\n%s", err, out)
		}
	})
}
