package gatewaytest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The test directory that scripts/install-test-deps.sh loads into its
// OpenLDAP (scripts/ldap/tree.ldif and groups.ldif). People: alice, bob,
// carol (locked by an administrator: pwdAccountLockedTime 000001010000Z),
// dave (password expired, no grace binds) and frank (cn "Frank, Jr."),
// each with the password "<uid>-ldap-pass". Groups (groupOfNames):
// admins (alice), staff (bob and the group admins), ops (frank).
const (
	LDAPBaseDN   = "dc=stepgate,dc=test"
	LDAPPeopleDN = "ou=people," + LDAPBaseDN
	LDAPGroupsDN = "ou=groups," + LDAPBaseDN

	// The root DN: it may read and change everything, the tests' own
	// entries included.
	LDAPAdminDN       = "cn=admin," + LDAPBaseDN
	LDAPAdminPassword = "admin-secret"

	// Stepgate's read-only service account: reads every entry and
	// attribute (memberOf and the ppolicy operational attributes
	// included) but userPassword.
	LDAPServiceDN       = "cn=stepgate,ou=services," + LDAPBaseDN
	LDAPServicePassword = "reader-secret"
)

// LDAPServer is the URL of the tests' OpenLDAP (StartTLS on the same
// port): STEPGATE_TEST_LDAP, or the one scripts/install-test-deps.sh
// starts.
func LDAPServer() string {
	if u := os.Getenv("STEPGATE_TEST_LDAP"); u != "" {
		return u
	}
	return "ldap://127.0.0.1:3389"
}

// LDAPSServer is the same server's LDAP-over-TLS URL: STEPGATE_TEST_LDAPS,
// or the one scripts/install-test-deps.sh starts.
func LDAPSServer() string {
	if u := os.Getenv("STEPGATE_TEST_LDAPS"); u != "" {
		return u
	}
	return "ldaps://127.0.0.1:3636"
}

// LDAPCA is the file of the CA certificate (PEM) that the server's
// certificate (for 127.0.0.1 and localhost) chains to:
// STEPGATE_TEST_LDAP_CA, or ca.pem in the instance directory of
// scripts/install-test-deps.sh, which is /var/lib/stepgate-test-ldap when
// it ran as root and ~/.cache/stepgate-test-ldap otherwise (the one that
// exists; a non-root user's own first).
func LDAPCA() string {
	if p := os.Getenv("STEPGATE_TEST_LDAP_CA"); p != "" {
		return p
	}
	dirs := []string{"/var/lib/stepgate-test-ldap"}
	if home, err := os.UserHomeDir(); err == nil && os.Getuid() != 0 {
		dirs = append([]string{filepath.Join(home, ".cache", "stepgate-test-ldap")}, dirs...)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "ca.pem")); err == nil {
			return filepath.Join(d, "ca.pem")
		}
	}
	return filepath.Join(dirs[0], "ca.pem")
}

// LDAPAdmin returns a connection to LDAPServer bound as the root DN,
// closed when the test ends. Without a server the test is skipped, or
// fails under CI=true.
func LDAPAdmin(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(LDAPServer(), ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err == nil {
		conn.SetTimeout(10 * time.Second)
		if err = conn.Bind(LDAPAdminDN, LDAPAdminPassword); err != nil {
			conn.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("OpenLDAP at %s: %v (scripts/install-test-deps.sh starts it)", LDAPServer(), err)
		}
		t.Skipf("no OpenLDAP at %s (%v): run scripts/install-test-deps.sh, or set STEPGATE_TEST_LDAP", LDAPServer(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// LDAPUser adds, through admin, a person for one test under ou=people and
// returns its DN; the entry is deleted when the test ends (its group
// memberships go with it). Its uid is uid with a random suffix
// ("uid-0123456789ab", so that tests and packages running at the same time
// never share one; LDAPUID gives it back from the DN), which is also its
// cn and sn unless attrs says otherwise. The password is stored hashed;
// an empty one leaves the entry without userPassword. attrs adds
// attributes or replaces these (the name compared without regard to case).
func LDAPUser(t testing.TB, admin *ldap.Conn, uid, password string, attrs map[string][]string) (dn string) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	uid += "-" + hex.EncodeToString(b)
	dn = "uid=" + ldap.EscapeDN(uid) + "," + LDAPPeopleDN

	all := map[string][]string{
		"objectClass": {"inetOrgPerson"},
		"uid":         {uid},
		"cn":          {uid},
		"sn":          {uid},
	}
	if password != "" {
		all["userPassword"] = []string{password}
	}
	for name, vals := range attrs {
		for old := range all {
			if strings.EqualFold(old, name) {
				delete(all, old)
			}
		}
		all[name] = vals
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	req := ldap.NewAddRequest(dn, nil)
	for _, name := range names {
		req.Attribute(name, all[name])
	}
	if err := admin.Add(req); err != nil {
		t.Fatalf("adding %s: %v", dn, err)
	}
	t.Cleanup(func() {
		err := admin.Del(ldap.NewDelRequest(dn, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			t.Errorf("deleting %s: %v", dn, err)
		}
	})
	return dn
}

// LDAPUID is the uid of a DN whose first component is uid=..., such as
// LDAPUser's, or "" for another DN.
func LDAPUID(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return ""
	}
	for _, a := range d.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, "uid") {
			return a.Value
		}
	}
	return ""
}

// LDAPDirectory is the Caddyfile's `directory ldap { … }` for the tests'
// OpenLDAP at url (LDAPServer, or a proxy in front of it), over StartTLS
// with its CA, as Stepgate's service account, with more options in
// extra. The bind password comes from the environment, as in production
// (t.Setenv, so the test may not be parallel).
func LDAPDirectory(t testing.TB, url, extra string) string {
	t.Helper()
	t.(interface{ Setenv(k, v string) }).Setenv("STEPGATE_TEST_LDAP_BIND", LDAPServicePassword)
	return fmt.Sprintf(`directory ldap {
			url %s
			start_tls
			ca_file %s
			bind_dn %s
			bind_password {env.STEPGATE_TEST_LDAP_BIND}
			base_dn %s
			%s
		}`, url, LDAPCA(), LDAPServiceDN, LDAPBaseDN, extra)
}
