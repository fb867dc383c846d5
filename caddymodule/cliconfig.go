package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/spf13/cobra"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/portal"
	"github.com/stepgate/stepgate/store"
)

// loadAppConfig reads the Caddy config file at path, adapts it to JSON
// the way `caddy run --config PATH --adapter NAME` does, and returns its
// `stepgate` app, as the server would decode it. adapter "" means
// caddyfile when the file's name starts with "Caddyfile" or ends in
// ".caddyfile" (in any case), and JSON otherwise. Nothing is written.
func loadAppConfig(path, adapter string) (*App, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file %s: %w", path, err)
	}
	if adapter == "" {
		base := strings.ToLower(filepath.Base(path))
		if strings.HasPrefix(base, "caddyfile") || strings.HasSuffix(base, ".caddyfile") {
			adapter = "caddyfile"
		}
	}
	if adapter != "" && adapter != "json" {
		a := caddyconfig.GetAdapter(adapter)
		if a == nil {
			return nil, fmt.Errorf("config file %s: unknown config adapter %q (try --adapter caddyfile)", path, adapter)
		}
		if raw, _, err = a.Adapt(raw, map[string]any{"filename": path}); err != nil {
			return nil, fmt.Errorf("config file %s is not a valid %s: %w", path, adapter, err)
		}
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config file %s is not valid JSON (for a Caddyfile, pass --adapter caddyfile): %w", path, err)
	}
	app := new(App)
	rawApp, ok := cfg.Apps["stepgate"]
	if !ok {
		return nil, fmt.Errorf("config file %s has no stepgate app: add `stepgate { users_file PATH … }` to its global options", path)
	}
	if err := json.Unmarshal(rawApp, app); err != nil {
		return nil, fmt.Errorf("config file %s: the stepgate app: %w", path, err)
	}
	return app, nil
}

// defaultConfigFile is the config the `stepgate user` commands read when
// --config is not given: ./Caddyfile if it exists (as `caddy run` does),
// else none.
func defaultConfigFile() (string, error) {
	_, err := os.Stat("Caddyfile")
	switch {
	case err == nil:
		return "Caddyfile", nil
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	}
	return "", fmt.Errorf("reading the default Caddyfile: %w", err)
}

// accountOptions are the flags of the `stepgate user` commands that work on
// accounts: which config to read the users file and the store from, and
// overrides for either.
type accountOptions struct {
	config, adapter, usersFile, store string
}

// addAccountFlags adds the account flags to c.
func addAccountFlags(c *cobra.Command) *accountOptions {
	o := new(accountOptions)
	f := c.Flags()
	f.StringVarP(&o.config, "config", "c", "", "Caddy config file whose stepgate app names users_file and store (default: ./Caddyfile if it exists)")
	f.StringVarP(&o.adapter, "adapter", "a", "", "config adapter (default: caddyfile for a file named Caddyfile* or *.caddyfile, else JSON)")
	f.StringVarP(&o.usersFile, "users-file", "f", os.Getenv("STEPGATE_USERS_FILE"), "users file, instead of the config's users_file (default without a config: $STEPGATE_USERS_FILE)")
	f.StringVar(&o.store, "store", "", "SQLite state file, instead of the config's store (default without one: stepgate/state.db in Caddy's data directory)")
	return o
}

// accountPaths is where a command finds the accounts.
type accountPaths struct {
	usersFile string
	storePath string
	// storeURL is the PostgreSQL store the config file names ("" for
	// SQLite).
	storeURL string
	// storeFrom says where storePath came from, for error messages.
	storeFrom string
	// app is the config's stepgate app; nil when no config was read.
	app *App
}

// resolve finds the users file and the store: from --users-file and
// --store when given, else from the config (--config, or ./Caddyfile),
// else the defaults. The default ./Caddyfile is not read when the flags
// give everything the command needs (needStore: the store too).
func (o *accountOptions) resolve(cmd *cobra.Command, needStore bool) (accountPaths, error) {
	flags := cmd.Flags()
	var p accountPaths
	path := o.config
	switch {
	case flags.Changed("config") && path == "":
		return p, errors.New("--config: empty path")
	case !flags.Changed("config") && !(flags.Changed("users-file") && (flags.Changed("store") || !needStore)):
		var err error
		if path, err = defaultConfigFile(); err != nil {
			return p, err
		}
	}
	if path == "" && flags.Changed("adapter") {
		return p, errors.New("--adapter needs --config PATH (there is no ./Caddyfile)")
	}
	if path != "" {
		app, err := loadAppConfig(path, o.adapter)
		if err != nil {
			return p, err
		}
		repl := caddy.NewReplacer()
		if app.Store != nil && app.Store.Type == "postgres" {
			p.storeURL = repl.ReplaceKnown(app.Store.URL, "")
		} else if p.storePath, err = app.sqlitePath(repl); err != nil {
			return p, fmt.Errorf("config file %s: %w", path, err)
		}
		p.usersFile, p.app = app.usersFilePath(repl), app
		p.storeFrom = "the store of " + path
		if app.Store == nil || app.Store.Path == "" {
			p.storeFrom = "the default store, as " + path + " names none"
		}
	}
	if flags.Changed("users-file") || p.usersFile == "" {
		p.usersFile = o.usersFile
	}
	if flags.Changed("store") {
		p.storePath, p.storeFrom = o.store, "--store"
	}
	if p.storePath == "" {
		p.storePath, p.storeFrom = defaultSQLitePath(), "the default store; no config file was read"
	}
	return p, nil
}

// service returns the account service for the command's flags, and the
// function that releases it. With needStore it opens the store, which
// must exist already: a command never creates an empty one.
func (o *accountOptions) service(cmd *cobra.Command, needStore bool) (*account.Service, func(), error) {
	p, err := o.resolve(cmd, needStore)
	if err != nil {
		return nil, nil, err
	}
	cfg := account.Config{UsersFile: p.usersFile, Logger: caddy.Log().Named("stepgate.account")}
	var lockout portal.Lockout
	if p.app != nil {
		lockout = p.app.lockout()
		if p.app.SMS != nil {
			cfg.PhoneMethods = append(cfg.PhoneMethods, "sms")
		}
		if p.app.Voice != nil {
			cfg.PhoneMethods = append(cfg.PhoneMethods, "voice")
		}
	}
	cfg.Backoff = lockout.WithDefaults().Wait
	if p.app != nil {
		if p.app.Session != nil {
			cfg.SessionLifetime = max(time.Duration(p.app.Session.Lifetime), time.Duration(p.app.Session.Remember))
		}
		secrets, err := p.app.cliSecrets(caddy.NewReplacer())
		if err == nil {
			cfg.PassKeys, err = portal.AccessPassKeys(secrets)
		}
		cfg.PassKeyErr = err
	}
	closeFn := func() {}
	// With `directory ldap` (and no --users-file), the users are the
	// directory's, read once for this command.
	if p.app != nil && p.app.Directory != nil && !cmd.Flags().Changed("users-file") {
		d, err := openLDAP(p.app.Directory, caddy.NewReplacer(), caddy.Log().Named("stepgate.directory"))
		if err != nil {
			return nil, nil, err
		}
		cfg.Users, cfg.UsersFile = d, ""
		closeFn = d.Close
	}
	if needStore && p.storeURL != "" && !cmd.Flags().Changed("store") {
		st, err := openPostgres(p.storeURL)
		if err != nil {
			return nil, nil, err
		}
		prev := closeFn
		cfg.Store, closeFn = st, func() { st.Close(); prev() }
	} else if needStore {
		if _, err := os.Stat(p.storePath); errors.Is(err, fs.ErrNotExist) {
			if flags := cmd.Flags(); flags.Changed("store") {
				return nil, nil, fmt.Errorf("store %s (--store) does not exist", p.storePath)
			}
			return nil, nil, fmt.Errorf("store %s (%s) does not exist: the server creates it when it first starts; if it uses another, pass --config with its config file or --store PATH", p.storePath, p.storeFrom)
		} else if err != nil {
			return nil, nil, fmt.Errorf("store %s (%s): %w", p.storePath, p.storeFrom, err)
		}
		st, err := store.OpenSQLite(p.storePath)
		if err != nil {
			return nil, nil, err
		}
		prev := closeFn
		cfg.Store, closeFn = st, func() { st.Close(); prev() }
	}
	return account.New(cfg), closeFn, nil
}

// cliSecrets is secrets for a command: a secret_file that does not exist
// yet is an error (the server creates it at its first start; a command
// making one would only get a key the server does not use).
func (a *App) cliSecrets(repl *caddy.Replacer) ([]string, error) {
	if a.SecretFile != "" && a.Secret == "" {
		path := repl.ReplaceKnown(a.SecretFile, "")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("reading the secret_file %s: %w (the server creates it when it first starts)", path, err)
		}
	}
	return a.secrets(repl)
}
