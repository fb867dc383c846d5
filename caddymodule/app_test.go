package caddymodule

import (
	webpush "github.com/SherClockHolmes/webpush-go"

	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/stepgate/stepgate/verifiers/password"
)

func provision(t *testing.T, a *App) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	err := a.Provision(ctx)
	// Caddy cleans up after a failed Provision too.
	t.Cleanup(func() { a.Cleanup() })
	return err
}

// TestHashingGateOutlivesAConfigReload: a new configuration shares the
// running one's hashing gate, so a network that used its budget of failed
// attempts is still refused after a reload (and the two configurations'
// hashes share one set of slots, bounding memory across the reload).
func TestHashingGateOutlivesAConfigReload(t *testing.T) {
	dir := t.TempDir()
	h, _ := password.Hash("pw")
	users := filepath.Join(dir, "users.yaml")
	os.WriteFile(users, []byte("users:\n  alice:\n    password: '"+h+"'\n"), 0o600)
	cfg := func() *App {
		return &App{UsersFile: users, Secret: strings.Repeat("s", 32), Store: &StoreConfig{Path: filepath.Join(dir, "state.db")},
			PasswordAttempts: &PasswordAttemptsConfig{Count: 1, Per: caddy.Duration(time.Hour)}}
	}
	old := cfg()
	if err := provision(t, old); err != nil {
		t.Fatal(err)
	}
	const source = "203.0.113.77"
	if _, ok, err := old.users.Authenticate(context.Background(), source, "mallory", "guess"); ok || err != nil {
		t.Fatalf("first guess: %v %v", ok, err)
	}
	reloaded := cfg()
	if err := provision(t, reloaded); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reloaded.users.Authenticate(context.Background(), source, "mallory", "guess"); !errors.Is(err, password.ErrTooManyAttempts) {
		t.Fatalf("second guess after a reload: %v, want ErrTooManyAttempts", err)
	}
}

func TestProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	h, _ := password.Hash("pw")
	users := filepath.Join(dir, "users.yaml")
	os.WriteFile(users, []byte("users:\n  alice:\n    password: '"+h+"'\n"), 0o600)
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("users: [nope"), 0o600)
	unreadable := filepath.Join(dir, "unreadable.yaml")
	os.WriteFile(unreadable, []byte("users: {}"), 0o000)
	short := filepath.Join(dir, "short-secret")
	os.WriteFile(short, []byte("tooshort\n"), 0o600)
	good := strings.Repeat("k", 32)
	db := filepath.Join(dir, "state.db")
	t.Setenv("STEPGATE_TEST_UNSET", "")
	vapidPriv, _, _ := webpush.GenerateVAPIDKeys()
	notALogo := filepath.Join(dir, "logo.png")
	os.WriteFile(notALogo, []byte("<html>not an image</html>"), 0o600)
	_, otherPub, _ := webpush.GenerateVAPIDKeys()

	for name, tc := range map[string]struct {
		app  App
		want string
	}{
		"no users file":               {App{Secret: good}, "no users_file configured"},
		"users file and directory":    {App{UsersFile: users, Directory: &DirectoryConfig{Type: "ldap"}, Secret: good}, "both users_file and directory"},
		"directory password_hash":     {App{Directory: &DirectoryConfig{Type: "ldap"}, PasswordHash: &PasswordHashConfig{Passes: 3}, Secret: good}, "password_hash applies to the users file"},
		"directory type":              {App{Directory: &DirectoryConfig{Type: "nis"}, Secret: good}, `directory "nis"`},
		"directory no url":            {App{Directory: &DirectoryConfig{Type: "ldap"}, Secret: good}, "directory ldap: no url"},
		"directory unset password":    {App{Directory: &DirectoryConfig{Type: "ldap", URLs: []string{"ldaps://dc1"}, BindPassword: "{env.STEPGATE_TEST_UNSET}"}, Secret: good}, "bind_password is empty"},
		"directory unreachable":       {App{Directory: &DirectoryConfig{Type: "ldap", URLs: []string{"ldap://127.0.0.1:1"}, BindDN: "cn=x", BindPassword: "p", BaseDN: "dc=x", Timeout: caddy.Duration(time.Second)}, Secret: good}, "the user directory is unavailable"},
		"missing users file":          {App{UsersFile: filepath.Join(dir, "nope.yaml"), Secret: good}, "no such file"},
		"broken users file":           {App{UsersFile: broken, Secret: good}, "parsing YAML"},
		"no secret":                   {App{UsersFile: users}, "no secret configured"},
		"short secret":                {App{UsersFile: users, Secret: "0123456789"}, "at least 32"},
		"short secret file":           {App{UsersFile: users, SecretFile: short}, "at least 32"},
		"unset env secret":            {App{UsersFile: users, Secret: "{env.STEPGATE_TEST_UNSET}"}, "is the environment variable set"},
		"both secrets":                {App{UsersFile: users, Secret: good, SecretFile: short}, "not both"},
		"short old secret":            {App{UsersFile: users, Secret: good, OldSecrets: []string{"x"}}, "old secret #1"},
		"portal_url without a domain": {App{UsersFile: users, Secret: good, PortalURL: "https://auth.example.com"}, "needs session { cookie_domain"},
		"portal_url elsewhere":        {App{UsersFile: users, Secret: good, PortalURL: "https://auth.other.com", Session: &SessionConfig{CookieDomain: "example.com"}}, "not inside cookie_domain"},
		"unknown store":               {App{UsersFile: users, Secret: good, Store: &StoreConfig{Type: "mongodb"}}, `unknown store "mongodb"`},
		"twilio without from":         {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SMS: &SMSConfig{Transport: "twilio", Twilio: &TwilioConfig{AccountSID: "AC1", AuthToken: "t"}}}, "twilio: from is missing"},
		"twilio without token":        {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SMS: &SMSConfig{Transport: "twilio", Twilio: &TwilioConfig{AccountSID: "AC1", From: "+15555550100"}}}, "twilio: auth_token is missing"},
		"twilio no account":           {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SMS: &SMSConfig{Transport: "twilio"}}, "add account_sid, auth_token and from"},
		"service without countries":   {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SMS: &SMSConfig{Transport: "twilio", Twilio: &TwilioConfig{AccountSID: "AC1", AuthToken: "t", From: "MG123"}}}, "set allowed_countries"},
		"bad country":                 {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SMS: &SMSConfig{Transport: "outbox"}, AllowedCountries: []string{"uk"}}, `allowed_countries: country calling code "uk"`},
		"countries without sms":       {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, AllowedCountries: []string{"+1"}}, "need a text-message or phone-call transport"},
		"voice without public_url":    {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Voice: &VoiceConfig{Transport: "twilio", Twilio: &TwilioConfig{AccountSID: "AC1", AuthToken: "t", From: "+15555550100"}}}, "press_key mode needs public_url"},
		"voice plain-http public_url": {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, PublicURL: "http://app.example.com", Voice: &VoiceConfig{Transport: "twilio", Twilio: &TwilioConfig{AccountSID: "AC1", AuthToken: "t", From: "+15555550100"}}}, "needs public_url"},
		"voice bad mode":              {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Voice: &VoiceConfig{Transport: "outbox", Mode: "sing"}}, `unknown mode "sing"`},
		"voice transport":             {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Voice: &VoiceConfig{Transport: "fax"}}, `unknown voice transport "fax"`},
		"verify sid":                  {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SMS: &SMSConfig{Transport: "twilio", Twilio: &TwilioConfig{AccountSID: "AC1", AuthToken: "t", From: "+15555550100", VerifyServiceSID: "MG1"}}}, "not a Verify service SID"},
		"password_cpu range":          {App{UsersFile: users, Secret: good, PasswordCPU: 0.5}, "password_cpu 0.5%: must be between 1% and 100%"},
		"password_cpu_burst negative": {App{UsersFile: users, Secret: good, PasswordCPUBurst: -1}, "password_cpu_burst -1ns: must not be negative"},
		"password_attempts negative":  {App{UsersFile: users, Secret: good, PasswordAttempts: &PasswordAttemptsConfig{Count: -1}}, "password_attempts -1 per 0s: must not be negative"},
		"password_hash range":         {App{UsersFile: users, Secret: good, PasswordHash: &PasswordHashConfig{Passes: 100}}, "password_hash: argon2id parameters out of range (m=19456 KiB, t=100, p=1)"},
		"push half a key pair":        {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Push: &PushConfig{VAPIDPublicKey: "BAAA"}}, "push: vapid private key"},
		"push mismatched keys":        {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Push: &PushConfig{VAPIDPublicKey: otherPub, VAPIDPrivateKey: vapidPriv}}, "does not belong to the private key"},
		"push contact":                {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Push: &PushConfig{Contact: "ops@example.com"}}, "must be a mailto: address or an https URL"},
		"push service":                {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Push: &PushConfig{Services: []string{"https://push.example.com/path"}}}, `service "https://push.example.com/path"`},
		"store in a file":             {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: filepath.Join(users, "state.db")}}, "sqlite store"},
		"reauth negative":             {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SecurityInfo: &SecurityInfoConfig{Reauth: -1}}, "security_info: reauth must not be negative"},
		"reauth under a second":       {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, SecurityInfo: &SecurityInfoConfig{Reauth: caddy.Duration(500 * time.Millisecond)}}, "security_info: reauth must be at least 1s, not 500ms"},
		"password_reset methods 3":    {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, PasswordReset: &PasswordResetConfig{Methods: 3}}, "password_reset: methods must be 1 or 2, not 3"},
		"branding logo missing":       {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Branding: &BrandingConfig{Name: "X", Logo: filepath.Join(dir, "nope.svg")}}, "branding: logo " + filepath.Join(dir, "nope.svg") + ": open " + filepath.Join(dir, "nope.svg") + ": no such file or directory"},
		"branding logo not an image":  {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Branding: &BrandingConfig{Name: "X", Logo: notALogo}}, "branding: logo " + notALogo + ": not a PNG, JPEG, WebP or SVG image"},
		"branding logo env unset":     {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Branding: &BrandingConfig{Name: "X", Logo: "{env.STEPGATE_TEST_UNSET}"}}, `branding: logo "{env.STEPGATE_TEST_UNSET}" is empty after replacing placeholders`},
		"branding color (JSON)":       {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Branding: &BrandingConfig{Color: "#ccc"}}, `branding: color "#ccc" has a contrast of only 1.6`},
		"branding color not hex":      {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Branding: &BrandingConfig{Color: "rgb(0,0,0)"}}, `branding: color "rgb(0,0,0)": want #rgb or #rrggbb`},
		"languages unknown (JSON)":    {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Languages: &LanguagesConfig{Offer: []string{"klingon"}}}, `languages: language "klingon" is not one Stepgate speaks`},
		"languages overrides missing": {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Languages: &LanguagesConfig{Overrides: filepath.Join(dir, "nope")}}, "languages: message overrides: " + filepath.Join(dir, "nope") + " has no <language>.toml files"},
		"languages overrides env":     {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, Languages: &LanguagesConfig{Overrides: "{env.STEPGATE_TEST_UNSET}"}}, `languages: overrides "{env.STEPGATE_TEST_UNSET}" is empty after replacing placeholders`},
		"password_reset methods -1":   {App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: db}, PasswordReset: &PasswordResetConfig{Methods: -1}}, "password_reset: methods must be 1 or 2, not -1"},
	} {
		err := provision(t, &tc.app)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
	if os.Geteuid() != 0 { // root reads anything
		a := App{UsersFile: unreadable, Secret: good, Store: &StoreConfig{Path: db}}
		if err := provision(t, &a); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable users file: %v", err)
		}
	}
}

func TestProvisionAndSecretFile(t *testing.T) {
	dir := t.TempDir()
	h, _ := password.Hash("pw")
	users := filepath.Join(dir, "users.yaml")
	os.WriteFile(users, []byte("users:\n  alice:\n    password: '"+h+"'\n"), 0o600)
	secretFile := filepath.Join(dir, "state", "secret")
	t.Setenv("STEPGATE_TEST_USERS", users)

	a := App{UsersFile: "{env.STEPGATE_TEST_USERS}", SecretFile: secretFile, Store: &StoreConfig{Type: "sqlite", Path: filepath.Join(dir, "state", "state.db")}}
	if err := provision(t, &a); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(secretFile)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() < 32 {
		t.Fatalf("secret file not created safely: %v %v", st, err)
	}
	first, _ := os.ReadFile(secretFile)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	// A second provisioning reuses the same secret.
	b := App{UsersFile: users, SecretFile: secretFile, Store: &StoreConfig{Path: filepath.Join(dir, "state", "state.db")}}
	if err := provision(t, &b); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(secretFile); string(again) != string(first) {
		t.Fatal("secret file rewritten")
	}
	if a.Portal() == nil || b.Portal() == nil {
		t.Fatal("no portal")
	}
	// The password_* options reach the users directory; unset ones keep
	// the defaults.
	if got := a.users.(*password.Directory).Limits(); got != password.DefaultLimits {
		t.Errorf("default limits %+v, want %+v", got, password.DefaultLimits)
	}
	if got := a.users.(*password.Directory).Params(); got != password.DefaultParams {
		t.Errorf("default hash parameters %+v, want %+v", got, password.DefaultParams)
	}
	c := App{UsersFile: users, SecretFile: secretFile, PasswordCPU: 40, PasswordCPUBurst: caddy.Duration(time.Minute),
		PasswordAttempts: &PasswordAttemptsConfig{Count: 50, Per: caddy.Duration(time.Hour)},
		PasswordHash:     &PasswordHashConfig{MemoryKiB: 46 * 1024, Passes: 1},
		SecurityInfo:     &SecurityInfoConfig{Reauth: caddy.Duration(time.Second)}, // the shortest allowed
		Store:            &StoreConfig{Path: filepath.Join(dir, "state", "state.db")}}
	if err := provision(t, &c); err != nil {
		t.Fatal(err)
	}
	want := password.DefaultLimits
	want.CPUShare, want.CPUBurst, want.Attempts, want.Per = 0.4, time.Minute, 50, time.Hour
	if got := c.users.(*password.Directory).Limits(); got != want {
		t.Errorf("configured limits %+v, want %+v", got, want)
	}
	if got := c.users.(*password.Directory).Params(); got != (password.Params{Memory: 46 * 1024, Time: 1, Threads: 1}) {
		t.Errorf("configured hash parameters %+v", got)
	}
}

// TestProvisionPasswordReset: password_reset turns on the reset page (and
// the link to it); without it the page is not there.
func TestProvisionPasswordReset(t *testing.T) {
	dir := t.TempDir()
	h, _ := password.Hash("pw")
	users := filepath.Join(dir, "users.yaml")
	os.WriteFile(users, []byte("users:\n  alice:\n    password: '"+h+"'\n"), 0o600)
	good := strings.Repeat("k", 32)
	for name, tc := range map[string]struct {
		reset      *PasswordResetConfig
		page, link bool
	}{
		"off":       {nil, false, false},
		"on":        {&PasswordResetConfig{}, true, true},
		"methods 1": {&PasswordResetConfig{Methods: 1}, true, true},
	} {
		a := App{UsersFile: users, Secret: good, Store: &StoreConfig{Path: filepath.Join(dir, name+".db")}, PasswordReset: tc.reset}
		if err := provision(t, &a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		get := func(path string) *httptest.ResponseRecorder {
			r := httptest.NewRequest("GET", "http://localhost"+path, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			w := httptest.NewRecorder()
			a.Portal().ServeHTTP(w, r)
			return w
		}
		if got := get("/.stepgate/password-reset").Code == http.StatusOK; got != tc.page {
			t.Errorf("%s: reset page served: %v", name, got)
		}
		if got := strings.Contains(get("/.stepgate/").Body.String(), "Forgot my password?"); got != tc.link {
			t.Errorf("%s: Forgot my password? link: %v", name, got)
		}
	}
}
