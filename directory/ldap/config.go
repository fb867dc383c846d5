// Package ldap is the user directory of an LDAP server: Active Directory
// or OpenLDAP (or any server an admin describes with filters and
// attributes). Users and groups are read into memory in the background
// (every Refresh), so the per-request path never waits for the server; a
// sign-in searches for the user and binds as them.
package ldap

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The implementations with presets.
const (
	OpenLDAP        = "openldap"
	ActiveDirectory = "active_directory"
)

// Config is the `directory ldap { … }` block.
type Config struct {
	// URLs are the servers, tried in order: ldap:// or ldaps://.
	URLs []string
	// StartTLS upgrades ldap:// connections to TLS before binding.
	StartTLS bool
	// CAFile is a PEM file of the CAs the servers' certificates chain to
	// (default: the system's).
	CAFile string
	// BindDN and BindPassword are the service account Stepgate searches
	// with (read only: users, groups, the attributes below).
	BindDN       string
	BindPassword string
	// BaseDN is where users and groups are searched.
	BaseDN string
	// UserFilter finds one user by the name they typed: {username} is
	// replaced by the escaped name. UsersFilter lists every user (for the
	// background refresh). GroupFilter lists every group.
	UserFilter  string
	UsersFilter string
	GroupFilter string
	// Attributes name the user attributes Stepgate reads.
	Attributes Attributes
	// Implementation picks the presets: openldap or active_directory.
	Implementation string
	// Refresh is how often users and groups are read again (default 1m).
	Refresh time.Duration
	// Timeout bounds each connection and operation (default 5s).
	Timeout time.Duration
	// MaxConnections bounds the connections open to the servers at once
	// (default 8): sign-ins beyond it wait for one, up to Timeout.
	MaxConnections int
	// PasswordHelp finishes "Your password has expired: change it …"
	// (e.g. "at https://passwords.example.com"); default: "with your
	// usual password tool, or ask the help desk".
	PasswordHelp string
}

// Attributes are the LDAP attribute names of a user's fields.
type Attributes struct {
	Username    string
	DisplayName string
	Email       string
	// Groups is the attribute listing the groups a user or group is a
	// direct member of (memberOf); group names are the groups' cn.
	Groups string
}

// withDefaults fills what the admin left out from the implementation's
// presets, and checks the rest.
func (c Config) withDefaults() (Config, error) {
	switch c.Implementation {
	case "", OpenLDAP:
		c.Implementation = OpenLDAP
		def(&c.UserFilter, "(&(objectClass=inetOrgPerson)(uid={username}))")
		def(&c.UsersFilter, "(objectClass=inetOrgPerson)")
		def(&c.GroupFilter, "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))")
		def(&c.Attributes.Username, "uid")
	case ActiveDirectory:
		// People sign in with their sAMAccountName or userPrincipalName;
		// the username is the sAMAccountName.
		def(&c.UserFilter, "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={username})(userPrincipalName={username})))")
		def(&c.UsersFilter, "(&(objectCategory=person)(objectClass=user))")
		def(&c.GroupFilter, "(objectClass=group)")
		def(&c.Attributes.Username, "sAMAccountName")
	default:
		return c, fmt.Errorf("implementation %q: use openldap or active_directory", c.Implementation)
	}
	def(&c.Attributes.DisplayName, "displayName")
	def(&c.Attributes.Email, "mail")
	def(&c.Attributes.Groups, "memberOf")
	if c.Refresh == 0 {
		c.Refresh = time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 8
	}
	def(&c.PasswordHelp, "with your usual password tool, or ask the help desk")
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("no url: name the servers, e.g. `url ldaps://dc1.example.com ldaps://dc2.example.com`"))
	}
	for _, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "ldap" && p.Scheme != "ldaps") || p.Host == "" {
			errs = append(errs, fmt.Errorf("url %q: want ldap://host[:port] or ldaps://host[:port]", u))
			continue
		}
		if p.Scheme == "ldap" && !c.StartTLS && !isLoopback(p.Hostname()) {
			errs = append(errs, fmt.Errorf("url %q: passwords would cross the network in the clear: use ldaps://, or start_tls", u))
		}
	}
	if c.BaseDN == "" {
		errs = append(errs, errors.New("no base_dn: where to search for users and groups"))
	}
	if c.BindDN == "" || c.BindPassword == "" {
		errs = append(errs, errors.New("no bind_dn and bind_password: the read-only account Stepgate searches with"))
	}
	if !strings.Contains(c.UserFilter, "{username}") {
		errs = append(errs, fmt.Errorf("user_filter %q: must contain {username}", c.UserFilter))
	}
	if c.Refresh < time.Second || c.Timeout < 100*time.Millisecond || c.MaxConnections < 1 {
		errs = append(errs, errors.New("refresh must be at least 1s, timeout at least 100ms, max_connections at least 1"))
	}
	return c, errors.Join(errs...)
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
