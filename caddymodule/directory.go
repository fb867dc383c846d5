package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory/ldap"
)

// DirectoryConfig is `directory ldap { … }`: the users come from an LDAP
// server (Active Directory, OpenLDAP) instead of a users file. Every
// string may hold placeholders such as {env.LDAP_PASSWORD}.
type DirectoryConfig struct {
	// Type is "ldap".
	Type           string               `json:"type"`
	URLs           []string             `json:"url,omitempty"`
	StartTLS       bool                 `json:"start_tls,omitempty"`
	CAFile         string               `json:"ca_file,omitempty"`
	BindDN         string               `json:"bind_dn,omitempty"`
	BindPassword   string               `json:"bind_password,omitempty"`
	BaseDN         string               `json:"base_dn,omitempty"`
	UserFilter     string               `json:"user_filter,omitempty"`
	UsersFilter    string               `json:"users_filter,omitempty"`
	GroupFilter    string               `json:"group_filter,omitempty"`
	Attributes     *DirectoryAttributes `json:"attributes,omitempty"`
	Implementation string               `json:"implementation,omitempty"`
	Refresh        caddy.Duration       `json:"refresh,omitempty"`
	Timeout        caddy.Duration       `json:"timeout,omitempty"`
	MaxConnections int                  `json:"max_connections,omitempty"`
	PasswordHelp   string               `json:"password_help,omitempty"`
}

// DirectoryAttributes name the user attributes Stepgate reads (see
// ldap.Attributes); empty ones take the implementation's defaults.
type DirectoryAttributes struct {
	Username    string `json:"username,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Email       string `json:"email,omitempty"`
	Groups      string `json:"groups,omitempty"`
}

// ldapConfig is the LDAP directory's configuration with the placeholders
// replaced.
func (c *DirectoryConfig) ldapConfig(repl *caddy.Replacer) (ldap.Config, error) {
	if c.Type != "ldap" {
		return ldap.Config{}, fmt.Errorf("directory %q: the directory types are ldap (or users_file for a users file)", c.Type)
	}
	r := func(s string) string { return repl.ReplaceKnown(s, "") }
	out := ldap.Config{
		StartTLS: c.StartTLS, CAFile: r(c.CAFile), BindDN: r(c.BindDN), BindPassword: r(c.BindPassword), BaseDN: r(c.BaseDN),
		UserFilter: c.UserFilter, UsersFilter: c.UsersFilter, GroupFilter: c.GroupFilter,
		Implementation: c.Implementation, Refresh: time.Duration(c.Refresh), Timeout: time.Duration(c.Timeout),
		MaxConnections: c.MaxConnections, PasswordHelp: c.PasswordHelp,
	}
	for _, u := range c.URLs {
		out.URLs = append(out.URLs, r(u))
	}
	if a := c.Attributes; a != nil {
		out.Attributes = ldap.Attributes{Username: a.Username, DisplayName: a.DisplayName, Email: a.Email, Groups: a.Groups}
	}
	if c.BindPassword != "" && out.BindPassword == "" {
		return out, errors.New("directory ldap: bind_password is empty once its placeholders are replaced (is the environment variable set?)")
	}
	return out, nil
}

// openLDAP opens the LDAP directory of the configuration.
func openLDAP(c *DirectoryConfig, repl *caddy.Replacer, logger *zap.Logger) (*ldap.Directory, error) {
	cfg, err := c.ldapConfig(repl)
	if err != nil {
		return nil, err
	}
	return ldap.Open(cfg, logger)
}

// parseDirectory parses `directory ldap { … }`.
func parseDirectory(d *caddyfile.Dispenser) (*DirectoryConfig, error) {
	if !d.NextArg() || d.Val() != "ldap" {
		return nil, d.Err("directory: write `directory ldap { … }` (a users file is `users_file PATH`)")
	}
	c := &DirectoryConfig{Type: "ldap"}
	str := func(dst *string) func() error { return func() error { return oneArg(d, dst) } }
	err := subBlock(d, map[string]func() error{
		"url": func() error {
			c.URLs = append(c.URLs, d.RemainingArgs()...)
			if len(c.URLs) == 0 {
				return d.ArgErr()
			}
			return nil
		},
		"start_tls": func() error {
			if d.NextArg() {
				return d.ArgErr()
			}
			c.StartTLS = true
			return nil
		},
		"ca_file":         str(&c.CAFile),
		"bind_dn":         str(&c.BindDN),
		"bind_password":   str(&c.BindPassword),
		"base_dn":         str(&c.BaseDN),
		"user_filter":     str(&c.UserFilter),
		"users_filter":    str(&c.UsersFilter),
		"group_filter":    str(&c.GroupFilter),
		"implementation":  str(&c.Implementation),
		"password_help":   str(&c.PasswordHelp),
		"refresh":         func() error { return durationArg(d, &c.Refresh) },
		"timeout":         func() error { return durationArg(d, &c.Timeout) },
		"max_connections": func() error { return intArg(d, &c.MaxConnections, 1, 1024) },
		"attributes": func() error {
			c.Attributes = new(DirectoryAttributes)
			a := c.Attributes
			return subBlock(d, map[string]func() error{
				"username":     str(&a.Username),
				"display_name": str(&a.DisplayName),
				"email":        str(&a.Email),
				"groups":       str(&a.Groups),
			})
		},
	})
	return c, err
}
