package caddymodule

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/portal"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("stepgate", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("stepgate", parseHandler)
	// Authentication runs where basic_auth would: after rewrites and
	// header manipulation, before anything that serves content.
	httpcaddyfile.RegisterDirectiveOrder("stepgate", httpcaddyfile.Before, "basic_auth")
}

// parseGlobal sets up the stepgate app from the global option. Syntax:
//
//	stepgate {
//		users_file   <path>
//		secret       <secret>              # or: secret_file <path>
//		old_secrets  <secret...>
//		store        sqlite [<path>]
//		session {
//			lifetime      <duration>
//			idle          <duration>
//			cookie_domain <domain>
//		}
//		portal_url <https://auth.example.com>  # a central portal, inside cookie_domain
//		totp {
//			issuer <name>
//		}
//		registration first_sign_in
//		security_info {
//			reauth <duration>              # default 10m, at least 1s
//		}
//		password_reset [{                  # "Forgot my password?"; off when absent
//			methods 1|2                    # different methods to verify with; default 2
//		}]
//		method <name> [{ … }]              # a method module: stepgate.methods.<name>
//		branding {
//			name  <organisation name>
//			logo  <file path or https:// URL>  # PNG, JPEG, WebP or SVG; needs name
//			color "<#rgb or #rrggbb>"          # quoted: # starts a comment
//		}
//		languages {
//			offer     <tag...>             # default: all (en de fr es pt-BR it nl pl ja zh-Hans)
//			default   <tag>                # when the browser asks for none offered; default en
//			overrides <directory>          # <tag>.toml files with your own wording
//		}
//		help_contact <text>
//		password_cpu <percent>%
//		password_cpu_burst <duration>
//		password_attempts <count> per <duration>
//		password_hash {
//			memory <size>                  # e.g. 19MiB, 19456KiB
//			passes <n>
//			lanes  <n>
//		}
//		sms outbox [<file>]                # development: codes go to the log
//		sms twilio {
//			account_sid <sid>
//			auth_token  <token>
//			from        <number or messaging service SID>
//			api_url     <url>              # optional
//			verify_service_sid <VA…>       # optional: Twilio Verify
//		}
//		voice outbox [<file>] [{ mode press_key|read_code }]
//		voice twilio {
//			account_sid <sid>
//			auth_token  <token>
//			from        <number>
//			mode        press_key|read_code
//			api_url     <url>              # optional
//		}
//		push [{
//			contact           <mailto:… or https://…>
//			vapid_public_key  <base64url>
//			vapid_private_key <base64url>
//			max_pending       <n>
//			per_user          <n>
//			window            <duration>
//			pause_after       <n>
//			pause             <duration>
//			service           <host[:port] or http://host:port...>
//		}]
//		passkeys [{
//			user_verification preferred|required
//			allowed_models    <AAGUID...>
//		}]
//		public_url <https://site as Twilio reaches it>
//		allowed_countries <+code...>
//		send_limits {
//			cooldown          <duration>
//			per_user          <n>
//			per_number        <n>
//			per_ip            <n>
//			global_per_minute <n>
//		}
//		outbox_allowed
//		lockout {
//			threshold  <n>
//			base_delay <duration>
//			max_delay  <duration>
//			hard_limit <n>
//		}
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		return nil, d.Err("the stepgate global option may appear only once")
	}
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "users_file":
			if err := oneArg(d, &app.UsersFile); err != nil {
				return nil, err
			}
		case "directory":
			c, err := parseDirectory(d)
			if err != nil {
				return nil, err
			}
			app.Directory = c
		case "secret":
			if err := oneArg(d, &app.Secret); err != nil {
				return nil, err
			}
		case "secret_file":
			if err := oneArg(d, &app.SecretFile); err != nil {
				return nil, err
			}
		case "old_secrets":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			app.OldSecrets = append(app.OldSecrets, args...)
		case "store":
			args := d.RemainingArgs()
			if len(args) == 0 || len(args) > 2 {
				return nil, d.ArgErr()
			}
			switch {
			case args[0] == "postgres" && len(args) != 2:
				return nil, d.Errf("store postgres needs the database URL: store postgres {env.STEPGATE_PG_URL}")
			case args[0] == "postgres":
				app.Store = &StoreConfig{Type: args[0], URL: args[1]}
			case args[0] != "sqlite":
				return nil, d.Errf("unknown store %q: the supported stores are sqlite and postgres", args[0])
			default:
				app.Store = &StoreConfig{Type: args[0]}
				if len(args) == 2 {
					app.Store.Path = args[1]
				}
			}
		case "session":
			app.Session = new(SessionConfig)
			err := subBlock(d, map[string]func() error{
				"lifetime":        func() error { return durationArg(d, &app.Session.Lifetime) },
				"idle":            func() error { return durationArg(d, &app.Session.Idle) },
				"cookie_domain":   func() error { return oneArg(d, &app.Session.CookieDomain) },
				"remember":        func() error { return durationArg(d, &app.Session.Remember) },
				"remember_device": func() error { return durationArg(d, &app.Session.RememberDevice) },
			})
			if err != nil {
				return nil, err
			}
		case "totp":
			app.TOTP = new(TOTPConfig)
			err := subBlock(d, map[string]func() error{
				"issuer": func() error { return oneArg(d, &app.TOTP.Issuer) },
			})
			if err != nil {
				return nil, err
			}
		case "registration":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.ArgErr()
			}
			if args[0] != "first_sign_in" {
				return nil, d.Errf("unknown registration mode %q (want first_sign_in)", args[0])
			}
			app.Registration = &RegistrationConfig{FirstSignIn: true}
		case "security_info":
			app.SecurityInfo = new(SecurityInfoConfig)
			err := subBlock(d, map[string]func() error{
				"reauth": func() error { return durationArg(d, &app.SecurityInfo.Reauth) },
			})
			if err != nil {
				return nil, err
			}
		case "password_reset":
			app.PasswordReset = new(PasswordResetConfig)
			err := subBlock(d, map[string]func() error{
				"methods": func() error {
					var n string
					if !d.AllArgs(&n) {
						return d.ArgErr()
					}
					if n != "1" && n != "2" {
						return d.Errf("password_reset: methods must be 1 or 2, not %q", n)
					}
					app.PasswordReset.Methods = int(n[0] - '0')
					return nil
				},
			})
			if err != nil {
				return nil, err
			}
		case "method":
			raw, err := parseMethod(d)
			if err != nil {
				return nil, err
			}
			app.MethodsRaw = append(app.MethodsRaw, raw)
		case "branding":
			b, err := parseBranding(d)
			if err != nil {
				return nil, err
			}
			app.Branding = b
		case "languages":
			l, err := parseLanguages(d)
			if err != nil {
				return nil, err
			}
			app.Languages = l
		case "help_contact":
			if err := oneArg(d, &app.HelpContact); err != nil {
				return nil, err
			}
		case "announce":
			if err := oneArg(d, &app.Announce); err != nil {
				return nil, err
			}
		case "portal_url":
			if err := oneArg(d, &app.PortalURL); err != nil {
				return nil, err
			}
		case "password_cpu":
			var v string
			if err := oneArg(d, &v); err != nil {
				return nil, err
			}
			num, ok := strings.CutSuffix(v, "%")
			pct, err := strconv.ParseFloat(num, 64)
			if !ok || err != nil || pct < 1 || pct > 100 {
				return nil, d.Errf("password_cpu %q: want a percentage from 1%% to 100%%, e.g. 15%%", v)
			}
			app.PasswordCPU = pct
		case "password_cpu_burst":
			if err := durationArg(d, &app.PasswordCPUBurst); err != nil {
				return nil, err
			}
		case "password_attempts":
			var n, per, dur string
			if !d.AllArgs(&n, &per, &dur) || per != "per" {
				return nil, d.Errf("want password_attempts <count> per <duration>, e.g. password_attempts 20 per 1m")
			}
			count, err := strconv.Atoi(n)
			if err != nil || count < 1 || count > 1_000_000 {
				return nil, d.Errf("password_attempts %q: want a count from 1 to 1000000", n)
			}
			window, err := caddy.ParseDuration(dur)
			if err != nil || window <= 0 {
				return nil, d.Errf("password_attempts: invalid duration %q", dur)
			}
			app.PasswordAttempts = &PasswordAttemptsConfig{Count: count, Per: caddy.Duration(window)}
		case "password_hash":
			app.PasswordHash = new(PasswordHashConfig)
			ph := app.PasswordHash
			err := subBlock(d, map[string]func() error{
				"memory": func() error {
					var v string
					if err := oneArg(d, &v); err != nil {
						return err
					}
					kib, err := parseKiB(v)
					if err != nil {
						return d.Errf("password_hash memory %q: %v", v, err)
					}
					ph.MemoryKiB = kib
					return nil
				},
				"passes": func() error {
					var n int
					if err := intArg(d, &n, 1, 64); err != nil {
						return err
					}
					ph.Passes = uint32(n)
					return nil
				},
				"lanes": func() error {
					var n int
					if err := intArg(d, &n, 1, 255); err != nil {
						return err
					}
					ph.Lanes = uint8(n)
					return nil
				},
			})
			if err != nil {
				return nil, err
			}
		case "sms":
			b, err := parsePhone(d, false)
			if err != nil {
				return nil, err
			}
			app.SMS = &SMSConfig{Transport: b.transport, Twilio: b.twilio, OutboxFile: b.outboxFile}
		case "voice":
			b, err := parsePhone(d, true)
			if err != nil {
				return nil, err
			}
			app.Voice = &VoiceConfig{Transport: b.transport, Twilio: b.twilio, OutboxFile: b.outboxFile, Mode: b.mode}
		case "push":
			app.Push = new(PushConfig)
			c := app.Push
			err := subBlock(d, map[string]func() error{
				"contact":           func() error { return oneArg(d, &c.Contact) },
				"vapid_public_key":  func() error { return oneArg(d, &c.VAPIDPublicKey) },
				"vapid_private_key": func() error { return oneArg(d, &c.VAPIDPrivateKey) },
				"max_pending":       func() error { return intArg(d, &c.MaxPending, 1, 20) },
				"per_user":          func() error { return intArg(d, &c.PerUser, 1, 1000) },
				"window":            func() error { return durationArg(d, &c.Window) },
				"pause_after":       func() error { return intArg(d, &c.PauseAfter, 1, 100) },
				"pause":             func() error { return durationArg(d, &c.Pause) },
				"service": func() error {
					args := d.RemainingArgs()
					if len(args) == 0 {
						return d.ArgErr()
					}
					c.Services = append(c.Services, args...)
					return nil
				},
			})
			if err != nil {
				return nil, err
			}
		case "passkeys":
			app.Passkeys = new(PasskeysConfig)
			c := app.Passkeys
			err := subBlock(d, map[string]func() error{
				"user_verification": func() error { return oneArg(d, &c.UserVerification) },
				"allowed_models": func() error {
					args := d.RemainingArgs()
					if len(args) == 0 {
						return d.ArgErr()
					}
					c.AllowedModels = append(c.AllowedModels, args...)
					return nil
				},
			})
			if err != nil {
				return nil, err
			}
		case "public_url":
			if err := oneArg(d, &app.PublicURL); err != nil {
				return nil, err
			}
		case "allowed_countries":
			app.AllowedCountries = d.RemainingArgs()
			if len(app.AllowedCountries) == 0 {
				return nil, d.ArgErr()
			}
		case "send_limits":
			app.SendLimits = new(SendLimitsConfig)
			l := app.SendLimits
			err := subBlock(d, map[string]func() error{
				"cooldown":          func() error { return durationArg(d, &l.Cooldown) },
				"per_user":          func() error { return intArg(d, &l.PerUser, 1, 1000) },
				"per_number":        func() error { return intArg(d, &l.PerNumber, 1, 1000) },
				"per_ip":            func() error { return intArg(d, &l.PerIP, 1, 100000) },
				"global_per_minute": func() error { return intArg(d, &l.GlobalPerMinute, 1, 100000) },
			})
			if err != nil {
				return nil, err
			}
		case "outbox_allowed":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			app.OutboxAllowed = true
		case "lockout":
			app.Lockout = new(LockoutConfig)
			err := subBlock(d, map[string]func() error{
				"threshold":  func() error { return intArg(d, &app.Lockout.Threshold, 1, 100) },
				"hard_limit": func() error { return intArg(d, &app.Lockout.HardLimit, 1, 100) },
				"base_delay": func() error { return durationArg(d, &app.Lockout.BaseDelay) },
				"max_delay":  func() error { return durationArg(d, &app.Lockout.MaxDelay) },
			})
			if err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unknown stepgate option %q", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "stepgate", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseBranding reads the branding block, checking what it can without
// the logo file (read at provision), so `caddy adapt` already refuses a
// bad colour, name or logo URL.
func parseBranding(d *caddyfile.Dispenser) (*BrandingConfig, error) {
	b := new(BrandingConfig)
	err := subBlock(d, map[string]func() error{
		"name": func() error {
			if err := oneArg(d, &b.Name); err != nil {
				return err
			}
			if err := portal.CheckBrandName(b.Name); err != nil {
				return d.Err(err.Error())
			}
			return nil
		},
		"logo": func() error {
			if err := oneArg(d, &b.Logo); err != nil {
				return err
			}
			if strings.Contains(b.Logo, "://") {
				if err := portal.CheckLogoURL(b.Logo); err != nil {
					return d.Err(err.Error())
				}
			}
			return nil
		},
		"color": func() error {
			args := d.RemainingArgs()
			switch {
			case len(args) == 0:
				// The lexer took an unquoted #0067b8 for a comment.
				return d.Err(`branding: color needs a value in quotes, e.g. color "#0067b8" (# starts a comment in a Caddyfile)`)
			case len(args) > 1:
				return d.ArgErr()
			}
			if err := portal.CheckBrandColor(args[0]); err != nil {
				return d.Err(err.Error())
			}
			b.Color = args[0]
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if b.Logo != "" && b.Name == "" {
		return nil, d.Err("branding: a logo needs a name too: the header shows the name beside the logo, and titles and screen readers use it")
	}
	return b, nil
}

// parseLanguages reads the languages block, refusing a language Stepgate
// does not speak already when the Caddyfile is adapted.
func parseLanguages(d *caddyfile.Dispenser) (*LanguagesConfig, error) {
	l := new(LanguagesConfig)
	tag := func(t string) (string, error) {
		c, ok := messages.Canonical(t)
		if !ok {
			return "", d.Errf("languages: %q is not a language Stepgate speaks (%s)", t, messages.TagList())
		}
		return c, nil
	}
	err := subBlock(d, map[string]func() error{
		"offer": func() error {
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				c, err := tag(a)
				if err != nil {
					return err
				}
				l.Offer = append(l.Offer, c)
			}
			return nil
		},
		"default": func() error {
			if err := oneArg(d, &l.Default); err != nil {
				return err
			}
			c, err := tag(l.Default)
			l.Default = c
			return err
		},
		"overrides": func() error { return oneArg(d, &l.Overrides) },
	})
	if err != nil {
		return nil, err
	}
	if l.Default != "" && len(l.Offer) > 0 && !slices.Contains(l.Offer, l.Default) {
		return nil, d.Errf("languages: default %s is not one of those offered (%s)", l.Default, strings.Join(l.Offer, " "))
	}
	return l, nil
}

// phoneBlock is what `sms …` and `voice …` read.
type phoneBlock struct {
	transport, outboxFile, mode string
	twilio                      *TwilioConfig
}

// parsePhone reads `sms|voice outbox [file] [{ mode … }]` or
// `sms|voice twilio { … }`; mode is allowed for voice only.
func parsePhone(d *caddyfile.Dispenser, withMode bool) (phoneBlock, error) {
	what := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return phoneBlock{}, d.ArgErr()
	}
	b := phoneBlock{transport: args[0]}
	opts := map[string]func() error{}
	if withMode {
		opts["mode"] = func() error {
			if err := oneArg(d, &b.mode); err != nil {
				return err
			}
			if b.mode != "press_key" && b.mode != "read_code" {
				return d.Errf("unknown voice mode %q (want press_key or read_code)", b.mode)
			}
			return nil
		}
	}
	switch args[0] {
	case "outbox":
		if len(args) > 2 {
			return b, d.ArgErr()
		}
		if len(args) == 2 {
			b.outboxFile = args[1]
		}
	case "twilio":
		if len(args) != 1 {
			return b, d.ArgErr()
		}
		b.twilio = new(TwilioConfig)
		t := b.twilio
		opts["account_sid"] = func() error { return oneArg(d, &t.AccountSID) }
		opts["auth_token"] = func() error { return oneArg(d, &t.AuthToken) }
		opts["from"] = func() error { return oneArg(d, &t.From) }
		opts["api_url"] = func() error { return oneArg(d, &t.APIURL) }
		if !withMode { // texts only
			opts["verify_service_sid"] = func() error { return oneArg(d, &t.VerifyServiceSID) }
		}
	default:
		return b, d.Errf("unknown %s transport %q (want twilio or outbox)", what, args[0])
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		parse, ok := opts[d.Val()]
		if !ok {
			return b, d.Errf("unknown %s %s option %q", what, args[0], d.Val())
		}
		if err := parse(); err != nil {
			return b, err
		}
	}
	return b, nil
}

// parseHandler sets up the handler from the site directive. Syntax:
//
//	stepgate [<matcher>] {
//		allow user  <username...>
//		allow group <group...>
//		deny  user  <username...>
//		deny  group <group...>
//		require phishing_resistant
//	}
//
// Without allow lines every signed-in user may pass; deny lines refuse
// users an allow line (or its absence) would admit.
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // directive name
	handler := new(Handler)
	if h.NextArg() {
		if h.Val() != "portal" || h.NextArg() {
			return nil, h.Errf("stepgate takes no arguments but \"portal\" (a central portal's site), not %q", h.Val())
		}
		handler.Portal = true
	}
	for h.NextBlock(0) {
		if handler.Portal {
			return nil, h.Errf("stepgate portal serves only the sign-in pages: it takes no %q (put allow and deny on the protected sites)", h.Val())
		}
		switch h.Val() {
		case "require":
			args := h.RemainingArgs()
			if len(args) != 1 || args[0] != "phishing_resistant" {
				return nil, h.Errf("require takes one argument: phishing_resistant")
			}
			handler.Require = append(handler.Require, args[0])
		case "allow", "deny":
			rule := h.Val()
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			kind := h.Val()
			names := h.RemainingArgs()
			if len(names) == 0 {
				return nil, h.Errf("%s %s: name at least one %s", rule, kind, kind)
			}
			dst := &handler.Allow
			if rule == "deny" {
				dst = &handler.Deny
			}
			if *dst == nil {
				*dst = new(portal.Policy)
			}
			switch kind {
			case "user":
				(*dst).Users = append((*dst).Users, names...)
			case "group":
				(*dst).Groups = append((*dst).Groups, names...)
			default:
				return nil, h.Errf("%s %q: want %s user … or %s group …", rule, kind, rule, rule)
			}
		default:
			return nil, h.Errf("unknown stepgate subdirective %q", h.Val())
		}
	}
	return handler, nil
}

// subBlock parses a nested block whose lines are handled by the named
// functions; any other line is an error naming the block.
func subBlock(d *caddyfile.Dispenser, options map[string]func() error) error {
	block := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		parse, ok := options[d.Val()]
		if !ok {
			return d.Errf("unknown %s option %q", block, d.Val())
		}
		if err := parse(); err != nil {
			return err
		}
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("%s: invalid duration %q", d.Val(), s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int, lo, hi int) error {
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return d.Errf("invalid number %q (want %d to %d)", s, lo, hi)
	}
	*dst = n
	return nil
}

// parseKiB reads a memory size with a KiB, MiB or GiB suffix, in KiB,
// within what argon2id accepts here (8 KiB to 2 GiB).
func parseKiB(v string) (uint32, error) {
	units := []struct {
		suffix string
		kib    uint64
	}{{"KiB", 1}, {"MiB", 1 << 10}, {"GiB", 1 << 20}}
	for _, u := range units {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return 0, errors.New("want a whole number of KiB, MiB or GiB, e.g. 19MiB")
		}
		if kib := n * u.kib; kib >= 8 && kib <= 1<<21 {
			return uint32(kib), nil
		}
		return 0, errors.New("want 8KiB to 2GiB")
	}
	return 0, errors.New("want a size ending in KiB, MiB or GiB, e.g. 19MiB")
}
