package caddymodule

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/password"
)

// accountsSetup is a directory with a Caddyfile whose stepgate app names a
// users file (alice, bob) and a SQLite store where alice has an
// authenticator app, a phone, a device, 4 wrong passwords (locked with
// the Caddyfile's threshold 3, not with the default 5) and a sign-in.
type accountsSetup struct {
	dir, caddyfile, users, state string
}

func newAccountsSetup(t *testing.T) accountsSetup {
	t.Helper()
	dir := t.TempDir()
	s := accountsSetup{dir: dir, caddyfile: filepath.Join(dir, "Caddyfile"), users: cliUsers(t, "alice", "bob"), state: filepath.Join(dir, "state", "state.db")}
	writeFile(t, s.caddyfile, `{
	stepgate {
		users_file `+s.users+`
		secret 0123456789abcdef0123456789abcdef
		store sqlite `+s.state+`
		sms outbox `+filepath.Join(dir, "outbox.jsonl")+`
		lockout {
			threshold 3
		}
	}
}

localhost:9443 {
	stepgate
	respond "hi"
}
`)
	st, err := store.OpenSQLite(s.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.SetTOTP(ctx, "alice", []byte("sealed"), 1))
	must(st.SetPhone(ctx, "alice", "+14155552671"))
	_, err = st.RememberDevice(ctx, store.RememberedDevice{ID: "rb1", Username: "alice", Name: "Firefox on Linux", Created: now, Expires: now.Add(time.Hour)}, 10)
	must(err)
	must(st.PutPushEnrolment(ctx, []byte("t"), "c", "alice", now.Add(time.Minute), false))
	_, _, err = st.EnrolPushDevice(ctx, []byte("t"), store.PushDevice{ID: "dev1", Name: "Pixel", PublicKey: []byte{4}}, now)
	must(err)
	for range 4 {
		_, err := st.AddFailure(ctx, "alice", store.FailuresPassword, now)
		must(err)
	}
	must(st.RecordSignInEvent(ctx, store.SignInEvent{Username: "alice", At: time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC), Method: "totp", ClientIP: "192.0.2.1", Site: "app.example.com", Outcome: "success"}))
	return s
}

var cliHash = sync.OnceValue(func() string {
	h, err := password.Hash("pw")
	if err != nil {
		panic(err)
	}
	return h
})

// cliUsers writes a users file with the given users (password "pw").
func cliUsers(t *testing.T, users ...string) string {
	return gatewaytest.WriteUsers(t, cliHash(), users...)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUserListCommand(t *testing.T) {
	s := newAccountsSetup(t)
	out, err := runCmd(t, userListCommand(), "", "--config", s.caddyfile)
	if err != nil {
		t.Fatalf("list: %v %s", err, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("list printed %q", out)
	}
	for i, want := range []*regexp.Regexp{
		regexp.MustCompile(`^NAME +DISPLAY NAME +GROUPS +METHODS +LOCKED +DISABLED +LAST SIGN-IN$`),
		regexp.MustCompile(`^alice +Alice Example +staff +totp,sms,push:1 +yes +no +2026-11-30 09:15 UTC$`),
		regexp.MustCompile(`^bob +Bob Example +staff +- +no +no +never$`),
	} {
		if !want.MatchString(lines[i]) {
			t.Errorf("line %d: %q, want %s", i, lines[i], want)
		}
	}
	// The columns line up.
	col := strings.Index(lines[0], "METHODS")
	if strings.Index(lines[1], "totp") != col || strings.Index(lines[2], "- ") != col {
		t.Errorf("columns not aligned:\n%s", out)
	}

	out, err = runCmd(t, userListCommand(), "", "-c", s.caddyfile, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if len(list) != 2 {
		t.Fatalf("--json: %v", list)
	}
	want := map[string]any{
		"name": "alice", "display_name": "Alice Example", "email": "alice@example.com",
		"groups": []any{"staff"}, "methods": []any{"totp", "sms", "push:1"},
		"locked": true, "disabled": false, "last_sign_in": "2026-11-30T09:15:00Z",
	}
	for k, v := range want {
		if got, _ := json.Marshal(list[0][k]); string(got) != mustJSON(v) {
			t.Errorf("alice %s = %s, want %s", k, got, mustJSON(v))
		}
	}
	if len(list[0]) != len(want) {
		t.Errorf("alice has fields %v, want exactly %v", list[0], want)
	}
	if list[1]["last_sign_in"] != nil || mustJSON(list[1]["methods"]) != "[]" {
		t.Errorf("bob: %v", list[1])
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUserShowCommand(t *testing.T) {
	s := newAccountsSetup(t)
	out, err := runCmd(t, userShowCommand(), "", "Alice", "--config", s.caddyfile)
	if err != nil {
		t.Fatalf("show: %v %s", err, out)
	}
	for _, want := range []string{
		"alice (Alice Example) <alice@example.com>\n",
		"  groups:          staff\n",
		"  locked:          yes: password in back-off after 4 failures in a row, until ",
		"  last sign-in:    2026-11-30 09:15 UTC\n",
		"    authenticator app, added ",
		"    phone +1 ••• ••• ••71 (sms), added ",
		`    device "Pixel" (ID dev1), set up `,
		"last approved never, notifications off\n",
		`  remembered browser "Firefox on Linux" (skips the second step), remembered `,
		"  recent activity:\n    WHEN                  OUTCOME  METHOD  CLIENT     SITE\n    2026-11-30 09:15 UTC  success  totp    192.0.2.1  app.example.com\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "4155552671") || strings.Contains(out, "sealed") {
		t.Errorf("show reveals the phone number or the secret:\n%s", out)
	}

	out, err = runCmd(t, userShowCommand(), "", "alice", "--config", s.caddyfile, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var d account.Details
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if d.Name != "alice" || d.Phone == nil || d.Phone.Masked != "+1 ••• ••• ••71" || len(d.Devices) != 1 || d.Devices[0].Name != "Pixel" ||
		!d.Locked || d.Lockout[0].Counter != "password" || d.Lockout[0].LockedUntil == nil || len(d.RecentActivity) != 1 {
		t.Errorf("--json: %+v", d)
	}
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"name", "methods", "default_method", "totp", "phone", "devices", "credentials", "remembered_browsers", "lockout", "blocked_methods", "recent_activity"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("--json has no %q: %s", k, out)
		}
	}

	out, err = runCmd(t, userShowCommand(), "", "bob", "--config", s.caddyfile)
	if err != nil || !strings.Contains(out, "  methods:\n    none\n") || !strings.Contains(out, "  locked:          no\n") || !strings.Contains(out, "  recent activity:\n    none\n") {
		t.Errorf("show bob: %v\n%s", err, out)
	}
}

// TestUserCommandsFindConfig: the default ./Caddyfile, a JSON config,
// the adapter flag, placeholders, and the overrides.
func TestUserCommandsFindConfig(t *testing.T) {
	s := newAccountsSetup(t)
	t.Chdir(s.dir)
	if out, err := runCmd(t, userListCommand(), ""); err != nil || !strings.Contains(out, "alice ") {
		t.Errorf("list with ./Caddyfile: %v %q", err, out)
	}

	// The same app as JSON, under a name that says nothing.
	app, err := loadAppConfig(s.caddyfile, "")
	if err != nil {
		t.Fatal(err)
	}
	app.UsersFile = "{env.STEPGATE_TEST_USERS}"
	t.Setenv("STEPGATE_TEST_USERS", s.users)
	js := filepath.Join(s.dir, "stepgate.conf")
	writeFile(t, js, `{"apps": {"stepgate": `+mustJSON(app)+`}}`)
	if out, err := runCmd(t, userShowCommand(), "", "bob", "--config", js); err != nil || !strings.Contains(out, "bob (Bob Example)") {
		t.Errorf("show with a JSON config and a placeholder: %v %q", err, out)
	}
	if _, err := runCmd(t, userShowCommand(), "", "bob", "--config", js, "--adapter", "caddyfile"); err == nil || !strings.Contains(err.Error(), js) {
		t.Errorf("JSON read as a Caddyfile: %v", err)
	}
	// A Caddyfile under another name needs --adapter.
	other := filepath.Join(s.dir, "gateway.conf")
	raw, _ := os.ReadFile(s.caddyfile)
	writeFile(t, other, string(raw))
	if _, err := runCmd(t, userListCommand(), "", "--config", other); err == nil || !strings.Contains(err.Error(), "--adapter caddyfile") {
		t.Errorf("a Caddyfile read as JSON: %v", err)
	}
	if out, err := runCmd(t, userListCommand(), "", "--config", other, "--adapter", "caddyfile"); err != nil || !strings.Contains(out, "alice ") {
		t.Errorf("list with --adapter caddyfile: %v %q", err, out)
	}

	// --users-file and --store override the config.
	carol := cliUsers(t, "carol")
	out, err := runCmd(t, userListCommand(), "", "--users-file", carol)
	if err != nil || !strings.Contains(out, "carol ") || strings.Contains(out, "alice") {
		t.Errorf("list --users-file: %v %q", err, out)
	}
	emptyStore := filepath.Join(t.TempDir(), "state.db")
	st, _ := store.OpenSQLite(emptyStore)
	st.Close()
	out, err = runCmd(t, userListCommand(), "", "--store", emptyStore)
	if err != nil || !regexp.MustCompile(`(?m)^alice .* - +no +no +never$`).MatchString(out) {
		t.Errorf("list --store (empty): %v %q", err, out)
	}
	// With both overrides a broken ./Caddyfile is not even read.
	writeFile(t, s.caddyfile, "{\n\tstepgate {\n")
	if _, err := runCmd(t, userShowCommand(), "", "alice", "--users-file", s.users, "--store", s.state); err != nil {
		t.Errorf("show with both overrides and a broken ./Caddyfile: %v", err)
	}
	if _, err := runCmd(t, userShowCommand(), "", "alice", "--users-file", s.users); err == nil || !strings.Contains(err.Error(), "Caddyfile") {
		t.Errorf("show needing the broken ./Caddyfile: %v", err)
	}
}

func TestUserCommandsBadInput(t *testing.T) {
	s := newAccountsSetup(t)
	malformed := filepath.Join(s.dir, "Caddyfile.broken")
	const broken = "{\n\tstepgate {\n\t\tusers_file\n\t}\n}\n"
	writeFile(t, malformed, broken)
	unbalanced := filepath.Join(s.dir, "Caddyfile.unbalanced")
	writeFile(t, unbalanced, "{\n\tstepgate {\n\t\tusers_file /x\n")
	noApp := filepath.Join(s.dir, "Caddyfile.noapp")
	writeFile(t, noApp, "localhost:9443 {\n\trespond hi\n}\n")
	noUsers := filepath.Join(s.dir, "Caddyfile.nousers")
	writeFile(t, noUsers, "{\n\tstepgate {\n\t\tusers_file "+filepath.Join(s.dir, "missing.yaml")+"\n\t\tstore sqlite "+s.state+"\n\t}\n}\n")
	noStore := filepath.Join(s.dir, "Caddyfile.nostore")
	writeFile(t, noStore, "{\n\tstepgate {\n\t\tusers_file "+s.users+"\n\t\tstore sqlite "+filepath.Join(s.dir, "none", "state.db")+"\n\t}\n}\n")
	missing := filepath.Join(s.dir, "Caddyfile.missing")

	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"missing Caddyfile":          {[]string{"list", "--config", missing}, []string{missing, "no such file"}},
		"malformed Caddyfile":        {[]string{"list", "--config", malformed}, []string{malformed, "users_file"}},
		"unbalanced Caddyfile":       {[]string{"show", "alice", "--config", unbalanced}, []string{unbalanced}},
		"no stepgate app":            {[]string{"list", "--config", noApp}, []string{noApp, "no stepgate app"}},
		"unknown adapter":            {[]string{"list", "--config", s.caddyfile, "--adapter", "toml"}, []string{s.caddyfile, `"toml"`}},
		"adapter without config":     {[]string{"list", "--adapter", "caddyfile"}, []string{"--adapter needs --config"}},
		"unknown user (show)":        {[]string{"show", "zed", "--config", s.caddyfile}, []string{`no user "zed"`, s.users}},
		"unknown user (unlock)":      {[]string{"unlock", "zed", "--config", s.caddyfile}, []string{`no user "zed"`}},
		"unknown user (devices)":     {[]string{"devices", "zed", "--config", s.caddyfile}, []string{`no user "zed"`}},
		"users file missing (list)":  {[]string{"list", "--config", noUsers}, []string{filepath.Join(s.dir, "missing.yaml")}},
		"users file missing (show)":  {[]string{"show", "alice", "--config", noUsers}, []string{filepath.Join(s.dir, "missing.yaml")}},
		"store missing":              {[]string{"list", "--config", noStore}, []string{filepath.Join(s.dir, "none", "state.db"), "--store"}},
		"show without a name":        {[]string{"show", "--config", s.caddyfile}, []string{"accepts 1 arg"}},
		"list with an extra arg":     {[]string{"list", "alice", "--config", s.caddyfile}, []string{"unknown command"}},
		"add to a missing Caddyfile": {[]string{"add", "dave", "--config", missing, "--password-stdin"}, []string{missing}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no ./Caddyfile
			cmds := map[string]func() *cobra.Command{"list": userListCommand, "show": userShowCommand, "unlock": userUnlockCommand, "devices": userDevicesCommand, "add": userAddCommand}
			out, err := runCmd(t, cmds[tc.args[0]](), "pw\n", tc.args[1:]...)
			if err == nil {
				t.Fatalf("no error; printed %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if raw, _ := os.ReadFile(malformed); string(raw) != broken {
		t.Errorf("the malformed Caddyfile changed: %q", raw)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "none")); err == nil {
		t.Error("a missing store was created")
	}
	if _, err := os.Stat(filepath.Join(s.dir, "missing.yaml")); err == nil {
		t.Error("a missing users file was created by a read")
	}
}

func TestUserAddUnlockDevicesWithConfig(t *testing.T) {
	s := newAccountsSetup(t)
	out, err := runCmd(t, userAddCommand(), "dave has a long password\n", "dave", "--config", s.caddyfile, "--group", "ops", "--password-stdin")
	if err != nil || out != "added user dave to "+s.users+"\n" {
		t.Fatalf("add: %v %q", err, out)
	}
	d, err := password.Open(s.users)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := d.Lookup("dave"); !ok || !slices.Equal(u.Groups, []string{"ops"}) {
		t.Errorf("dave: %+v %v", u, ok)
	}
	if _, ok := d.Lookup("alice"); !ok {
		t.Error("adding dave lost alice")
	}

	out, err = runCmd(t, userUnlockCommand(), "", "alice", "--config", s.caddyfile)
	if err != nil || out != "unlocked alice (1 counters cleared)\n" {
		t.Errorf("unlock: %v %q", err, out)
	}
	out, _ = runCmd(t, userListCommand(), "", "--config", s.caddyfile)
	if !regexp.MustCompile(`(?m)^alice .*push:1 +no +no `).MatchString(out) {
		t.Errorf("alice still locked after unlock:\n%s", out)
	}

	out, err = runCmd(t, userDevicesCommand(), "", "alice", "--config", s.caddyfile)
	if err != nil || !strings.Contains(out, "dev1\tPixel\tset up ") {
		t.Errorf("devices: %v %q", err, out)
	}
	out, err = runCmd(t, userDevicesCommand(), "", "alice", "--config", s.caddyfile, "--remove", "dev1")
	if err != nil || !strings.Contains(out, "removed dev1 of alice") {
		t.Errorf("devices --remove: %v %q", err, out)
	}
	if _, err := runCmd(t, userDevicesCommand(), "", "bob", "--config", s.caddyfile, "--remove", "dev1"); err == nil || !strings.Contains(err.Error(), `bob has no device "dev1"`) {
		t.Errorf("removing a device bob doesn't have: %v", err)
	}
}

// TestUserCommandsDefaultStore: a config without `store` means the store
// the server uses without one, stepgate/state.db in Caddy's data
// directory (a temporary one in these tests).
func TestUserCommandsDefaultStore(t *testing.T) {
	dir := t.TempDir()
	users := cliUsers(t, "alice")
	caddyfile := filepath.Join(dir, "Caddyfile")
	writeFile(t, caddyfile, "{\n\tstepgate {\n\t\tusers_file "+users+"\n\t}\n}\n")
	def := defaultSQLitePath()
	if !strings.HasPrefix(def, os.Getenv("XDG_DATA_HOME")) || os.Getenv("XDG_DATA_HOME") == "" {
		t.Fatalf("default store %s is not in the tests' data directory", def)
	}
	os.Remove(def)
	_, err := runCmd(t, userShowCommand(), "", "alice", "--config", caddyfile)
	if err == nil || !strings.Contains(err.Error(), def) || !strings.Contains(err.Error(), "names none") {
		t.Fatalf("show with no store yet: %v", err)
	}
	st, err := store.OpenSQLite(def)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(def)
	st.AddFailure(context.Background(), "alice", store.FailuresPassword, time.Now())
	st.Close()
	out, err := runCmd(t, userShowCommand(), "", "alice", "--config", caddyfile)
	if err != nil || !strings.Contains(out, "password not locked, 1 failure in a row") {
		t.Errorf("show with the default store: %v\n%s", err, out)
	}
}

// TestUserCommandsWithPostgres: the `stepgate user` commands open the
// PostgreSQL store a config file names.
func TestUserCommandsWithPostgres(t *testing.T) {
	pg := gatewaytest.PostgresURL(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	writeFile(t, path, `{
	stepgate {
		users_file `+cliUsers(t, "alice", "bob")+`
		secret 0123456789abcdef0123456789abcdef
		store postgres "`+pg+`"
	}
}

localhost:9443 {
	stepgate
	respond "hi"
}
`)
	st, err := store.OpenPostgres(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := st.AddFailure(context.Background(), "bob", store.FailuresPassword, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, err := runCmd(t, userShowCommand(), "", "bob", "--config", path)
	if err != nil || !strings.Contains(out, "2 failures in a row") && !strings.Contains(out, "2 in a row") {
		t.Fatalf("user show: %v %q", err, out)
	}
	if out, err = runCmd(t, userUnlockCommand(), "", "bob", "--config", path); err != nil {
		t.Fatalf("user unlock: %v %q", err, out)
	}
	st, _ = store.OpenPostgres(context.Background(), pg)
	defer st.Close()
	if f, _ := st.Failures(context.Background(), "bob", store.FailuresPassword); f.Count != 0 {
		t.Fatalf("after unlock: %+v", f)
	}
}

// TestStoreMigrateCommand: `stepgate store migrate` copies a SQLite store
// into an empty PostgreSQL database, and refuses one that is not empty.
func TestStoreMigrateCommand(t *testing.T) {
	s := newAccountsSetup(t)
	pg := gatewaytest.PostgresURL(t)
	t.Setenv("STEPGATE_MIGRATE_TO", pg)
	out, err := runCmd(t, storeMigrateCommand(), "", "--from", "sqlite:"+s.state, "--to", "postgres:env:STEPGATE_MIGRATE_TO")
	if err != nil || !strings.Contains(out, "push_devices\t1\n") || !strings.Contains(out, "failures\t1\n") {
		t.Fatalf("migrate: %v %q", err, out)
	}
	if _, err := runCmd(t, storeMigrateCommand(), "", "--from", "sqlite:"+s.state, "--to", "postgres:"+pg); err == nil ||
		!strings.Contains(err.Error(), "nothing was copied: the target store is not empty") {
		t.Fatalf("migrate again: %v", err)
	}
	for _, args := range [][]string{{"--from", s.state, "--to", "postgres:" + pg}, {"--from", "sqlite:" + s.state, "--to", pg},
		{"--from", "sqlite:/nonexistent/state.db", "--to", "postgres:" + pg}, {"--from", "sqlite:" + s.state, "--to", "postgres:env:STEPGATE_UNSET_VAR"}} {
		if _, err := runCmd(t, storeMigrateCommand(), "", args...); err == nil {
			t.Fatalf("%v: no error", args)
		}
	}
	st, err := store.OpenPostgres(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if info, err := st.SecurityInfo(context.Background(), "alice"); err != nil || string(info.TOTPSecret) != "sealed" {
		t.Fatalf("alice in PostgreSQL: %+v, %v", info, err)
	}
}
