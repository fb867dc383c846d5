package gatewaytest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// dialLDAP connects to rawURL without binding; closed when the test ends.
func dialLDAP(t *testing.T, rawURL string, opts ...ldap.DialOpt) *ldap.Conn {
	t.Helper()
	opts = append(opts, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	conn, err := ldap.DialURL(rawURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetTimeout(10 * time.Second)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// testCAConfig verifies the server's certificate for host with LDAPCA().
func testCAConfig(t *testing.T, host string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(LDAPCA())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", LDAPCA())
	}
	return &tls.Config{RootCAs: pool, ServerName: host}
}

// bindWithPolicy binds dn on a new connection asking for the password
// policy response control, which it returns with the bind's error.
func bindWithPolicy(t *testing.T, dn, password string) (*ldap.ControlBeheraPasswordPolicy, error) {
	t.Helper()
	conn := dialLDAP(t, LDAPServer())
	req := ldap.NewSimpleBindRequest(dn, password, []ldap.Control{ldap.NewControlBeheraPasswordPolicy()})
	res, err := conn.SimpleBind(req)
	var pp *ldap.ControlBeheraPasswordPolicy
	if res != nil {
		pp, _ = ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy)
	}
	return pp, err
}

// memberOf reads dn's memberOf as the service account.
func memberOf(t *testing.T, conn *ldap.Conn, dn string) []string {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"memberOf"}, nil))
	if err != nil {
		t.Fatalf("reading %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValues("memberOf")
}

func TestLDAPServer(t *testing.T) {
	admin := LDAPAdmin(t)
	people := func(uid string) string { return "uid=" + uid + "," + LDAPPeopleDN }

	t.Run("passwords", func(t *testing.T) {
		if _, err := bindWithPolicy(t, people("alice"), "alice-ldap-pass"); err != nil {
			t.Errorf("alice with her password: %v", err)
		}
		if _, err := bindWithPolicy(t, people("alice"), "bob-ldap-pass"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("alice with a wrong password: %v, want invalid credentials", err)
		}
		if _, err := bindWithPolicy(t, people("frank"), "frank-ldap-pass"); err != nil {
			t.Errorf("frank with his password: %v", err)
		}
	})

	// Both are refused with invalidCredentials. The password policy
	// response says why for dave (passwordExpired); for carol, locked by
	// an administrator, it carries no error (slapd only tells
	// accountLocked with olcPPolicyUseLockout, which is not set).
	t.Run("disabled and expired", func(t *testing.T) {
		pp, err := bindWithPolicy(t, people("carol"), "carol-ldap-pass")
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("carol (locked) with her password: %v, want invalid credentials", err)
		}
		t.Logf("carol: %v; password policy response %+v", err, pp)
		pp, err = bindWithPolicy(t, people("dave"), "dave-ldap-pass")
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("dave (expired) with his password: %v, want invalid credentials", err)
		}
		if pp == nil || pp.Error != 0 || pp.ErrorString != "Password expired" {
			t.Errorf("dave's password policy response: %+v, want error 0, Password expired", pp)
		}
	})

	// The default policy never locks for wrong passwords, but honours an
	// administrator's lock (which OpenLDAP 2.5 only does under a policy
	// with pwdLockout TRUE).
	t.Run("locking", func(t *testing.T) {
		dn := LDAPUser(t, admin, "lock", "lock-pass", nil)
		for range 20 {
			if _, err := bindWithPolicy(t, dn, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if _, err := bindWithPolicy(t, dn, "lock-pass"); err != nil {
			t.Errorf("right password after 20 wrong ones: %v", err)
		}
		mod := ldap.NewModifyRequest(dn, nil)
		mod.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
		if err := admin.Modify(mod); err != nil {
			t.Fatal(err)
		}
		if _, err := bindWithPolicy(t, dn, "lock-pass"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			t.Errorf("locked by the admin: %v, want invalid credentials", err)
		}
		mod = ldap.NewModifyRequest(dn, nil)
		mod.Delete("pwdAccountLockedTime", nil)
		if err := admin.Modify(mod); err != nil {
			t.Fatal(err)
		}
		if _, err := bindWithPolicy(t, dn, "lock-pass"); err != nil {
			t.Errorf("unlocked: %v", err)
		}
	})

	t.Run("tls", func(t *testing.T) {
		u, err := url.Parse(LDAPServer())
		if err != nil {
			t.Fatal(err)
		}
		conn := dialLDAP(t, LDAPServer())
		if err := conn.StartTLS(testCAConfig(t, u.Hostname())); err != nil {
			t.Fatalf("StartTLS verified with %s: %v", LDAPCA(), err)
		}
		if err := conn.Bind(LDAPServiceDN, LDAPServicePassword); err != nil {
			t.Errorf("service bind after StartTLS: %v", err)
		}
		// Without the test CA, the certificate does not verify.
		conn = dialLDAP(t, LDAPServer())
		if err := conn.StartTLS(&tls.Config{ServerName: u.Hostname()}); err == nil {
			t.Error("StartTLS verified without the test CA")
		}

		s, err := url.Parse(LDAPSServer())
		if err != nil {
			t.Fatal(err)
		}
		// The certificate is for localhost too.
		conn = dialLDAP(t, LDAPSServer(), ldap.DialWithTLSConfig(testCAConfig(t, "localhost")))
		if err := conn.Bind(LDAPServiceDN, LDAPServicePassword); err != nil {
			t.Errorf("service bind over %s: %v", s, err)
		}
	})

	t.Run("access", func(t *testing.T) {
		svc := dialLDAP(t, LDAPServer())
		if err := svc.Bind(LDAPServiceDN, LDAPServicePassword); err != nil {
			t.Fatal(err)
		}
		for dn, want := range map[string][]string{
			people("alice"):             {"cn=admins," + LDAPGroupsDN},
			people("bob"):               {"cn=staff," + LDAPGroupsDN},
			people("frank"):             {"cn=ops," + LDAPGroupsDN},
			"cn=admins," + LDAPGroupsDN: {"cn=staff," + LDAPGroupsDN},
			people("carol"):             nil,
		} {
			if got := memberOf(t, svc, dn); !slices.Equal(got, want) {
				t.Errorf("memberOf of %s: %q, want %q", dn, got, want)
			}
		}
		res, err := svc.Search(ldap.NewSearchRequest(people("carol"), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"cn", "userPassword", "pwdAccountLockedTime"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		e := res.Entries[0]
		if e.GetAttributeValue("pwdAccountLockedTime") != "000001010000Z" || e.GetAttributeValue("cn") != "Carol Example" {
			t.Errorf("carol as the service account: %+v", e.Attributes)
		}
		if v := e.GetAttributeValues("userPassword"); len(v) != 0 {
			t.Error("the service account reads userPassword")
		}
		res, err = svc.Search(ldap.NewSearchRequest(people("dave"), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"pwdChangedTime"}, nil))
		if err != nil || res.Entries[0].GetAttributeValue("pwdChangedTime") != "20200101000000Z" {
			t.Errorf("dave's pwdChangedTime as the service account: %v", err)
		}
		res, err = svc.Search(ldap.NewSearchRequest(people("frank"), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"cn", "displayName"}, nil))
		if err != nil || res.Entries[0].GetAttributeValue("cn") != "Frank, Jr." {
			t.Errorf("frank's cn: %v", err)
		}

		anon := dialLDAP(t, LDAPServer())
		res, err = anon.Search(ldap.NewSearchRequest(LDAPBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", nil, nil))
		if err == nil && len(res.Entries) > 0 {
			t.Errorf("anonymous reads %d entries", len(res.Entries))
		}
	})

	t.Run("LDAPUser", func(t *testing.T) {
		var dn string
		t.Run("add", func(t *testing.T) {
			dn = LDAPUser(t, admin, "erin", "erin-pass", map[string][]string{
				"displayName": {"Erin Example"},
				"CN":          {"Erin Example"},
			})
			uid := LDAPUID(dn)
			if len(uid) != len("erin-0123456789ab") || uid[:5] != "erin-" {
				t.Errorf("uid %q", uid)
			}
			if _, err := bindWithPolicy(t, dn, "erin-pass"); err != nil {
				t.Errorf("binding the new user: %v", err)
			}
			res, err := admin.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
				0, 0, false, "(objectClass=*)", []string{"cn", "displayName", "uid", "userPassword"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			e := res.Entries[0]
			if e.GetAttributeValue("cn") != "Erin Example" || e.GetAttributeValue("uid") != uid {
				t.Errorf("new entry: %+v", e.Attributes)
			}
			if p := e.GetAttributeValue("userPassword"); p == "erin-pass" {
				t.Error("the password is stored in clear")
			}
		})
		_, err := admin.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"dn"}, nil))
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			t.Errorf("%s after its test: %v, want no such object", dn, err)
		}
	})
}
