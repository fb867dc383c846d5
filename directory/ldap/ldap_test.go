package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/internal/gatewaytest"
	"github.com/stepgate/stepgate/verifiers/password"
)

// testConfig is the tests' OpenLDAP (scripts/install-test-deps.sh), over
// StartTLS with its CA, as Stepgate's read-only account.
func testConfig(t *testing.T) Config {
	t.Helper()
	gatewaytest.LDAPAdmin(t) // skips, or fails under CI, without a server
	return Config{
		URLs: []string{gatewaytest.LDAPServer()}, StartTLS: true, CAFile: gatewaytest.LDAPCA(),
		BindDN: gatewaytest.LDAPServiceDN, BindPassword: gatewaytest.LDAPServicePassword,
		BaseDN: gatewaytest.LDAPBaseDN, Timeout: 2 * time.Second,
	}
}

func open(t *testing.T, cfg Config) *Directory {
	t.Helper()
	d, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	// No per-network budget in the way (TestBudget sets its own).
	d.SetLimits(password.Limits{CPUShare: 1, Attempts: 1 << 20})
	return d
}

var ctx = context.Background()

func TestUsersAndGroups(t *testing.T) {
	t.Parallel()
	d := open(t, testConfig(t))
	alice, groups, ok := d.LookupWithGroups("alice")
	if !ok || alice.DisplayName != "Alice Example" || alice.Email != "alice@stepgate.test" || alice.Disabled {
		t.Fatalf("alice = %+v, %v", alice, ok)
	}
	// admins directly, staff through admins (a nested group).
	if groups != "admins,staff" || !slices.Equal(alice.Groups, []string{"admins", "staff"}) {
		t.Errorf("alice's groups = %q %v, want admins,staff", groups, alice.Groups)
	}
	if bob, ok := d.Lookup("bob"); !ok || !slices.Equal(bob.Groups, []string{"staff"}) {
		t.Errorf("bob = %+v", bob)
	}
	if frank, ok := d.Lookup("frank"); !ok || frank.DisplayName != "Frank Jr." || !slices.Equal(frank.Groups, []string{"ops"}) {
		t.Errorf("frank = %+v", frank)
	}
	if carol, ok := d.Lookup("carol"); !ok || !carol.Disabled {
		t.Errorf("carol (locked by an administrator) = %+v, want disabled", carol)
	}
	var names []string
	for _, u := range d.Users() {
		names = append(names, u.Name)
	}
	for _, want := range []string{"alice", "bob", "carol", "dave", "frank"} {
		if !slices.Contains(names, want) {
			t.Errorf("Users() = %v, no %s", names, want)
		}
	}
	if !strings.Contains(d.Name(), gatewaytest.LDAPServer()) {
		t.Errorf("Name() = %q", d.Name())
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	d := open(t, testConfig(t))
	for _, c := range []struct {
		name, user, pw string
		ok             bool
	}{
		{"right password", "alice", "alice-ldap-pass", true},
		{"typed in capitals, with spaces", "  Alice ", "alice-ldap-pass", true},
		{"wrong password", "alice", "bob-ldap-pass", false},
		{"empty password (an unauthenticated bind)", "alice", "", false},
		{"unknown name", "zed", "alice-ldap-pass", false},
		{"locked by an administrator", "carol", "carol-ldap-pass", false},
	} {
		u, ok, err := d.Authenticate(ctx, "test", c.user, c.pw)
		if err != nil || ok != c.ok {
			t.Errorf("%s: ok %v, err %v; want ok %v", c.name, ok, err, c.ok)
		}
		if c.ok && (u.Name != "alice" || !slices.Equal(u.Groups, []string{"admins", "staff"})) {
			t.Errorf("%s: user %+v", c.name, u)
		}
	}
	// Dave's password expired: the right one is refused with what to do,
	// a wrong one is just wrong.
	_, ok, err := d.Authenticate(ctx, "test", "dave", "dave-ldap-pass")
	var pe *directory.PasswordError
	if ok || !errors.As(err, &pe) || !strings.Contains(pe.Reason, "Your password has expired") {
		t.Errorf("dave, expired: ok %v, err %v", ok, err)
	}
	if _, ok, err := d.Authenticate(ctx, "test", "dave", "wrong"); ok || err != nil {
		t.Errorf("dave, wrong password: ok %v, err %v", ok, err)
	}
}

// Whatever a name holds, it is a value in the filter, never filter syntax
// or a DN: none of these signs in with alice's (or anyone's) password.
func TestFilterInjection(t *testing.T) {
	t.Parallel()
	d := open(t, testConfig(t))
	for _, name := range []string{
		"*", "a*", "alice*", "*)(uid=*", "alice)(uid=*", "*)(|(uid=*", "alice)(|(objectClass=*",
		"(uid=alice)", "alice\x00", "\x00", `alice\00`, `\2a`, "alice)(&", "alice))(|(uid=*",
		"uid=alice," + gatewaytest.LDAPPeopleDN, "uid=alice", "cn=admin," + gatewaytest.LDAPBaseDN,
		gatewaytest.LDAPServiceDN, "alice,ou=people", strings.Repeat("a", 5000),
	} {
		for _, pw := range []string{"alice-ldap-pass", gatewaytest.LDAPAdminPassword, gatewaytest.LDAPServicePassword} {
			if u, ok, err := d.Authenticate(ctx, "test", name, pw); ok || err != nil {
				t.Errorf("name %q: signed in as %+v (err %v)", name, u, err)
			}
		}
	}
}

// Every character with a meaning in a filter is escaped in the value.
func TestFilterEscaping(t *testing.T) {
	d := &Directory{cfg: Config{UserFilter: "(&(objectClass=inetOrgPerson)(uid={username}))"}}
	for typed, want := range map[string]string{
		"alice":        `(&(objectClass=inetOrgPerson)(uid=alice))`,
		"*":            `(&(objectClass=inetOrgPerson)(uid=\2a))`,
		"alice)(uid=*": `(&(objectClass=inetOrgPerson)(uid=alice\29\28uid=\2a))`,
		"a\\00\x00b":   `(&(objectClass=inetOrgPerson)(uid=a\5c00\00b))`,
	} {
		if got := d.filterFor(typed); got != want {
			t.Errorf("filterFor(%q) = %s, want %s", typed, got, want)
		}
	}
}

// A name that cannot be a Stepgate username never reaches the server
// (the portal counts no lockout attempt for it): with the server down it
// is refused, not "unavailable".
func TestInvalidNamesNotSent(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	proxy := gatewaytest.NewOutage(t, strings.TrimPrefix(gatewaytest.LDAPServer(), "ldap://"))
	cfg.URLs = []string{"ldap://" + proxy.Addr()}
	d := open(t, cfg)
	proxy.Down()
	d.Close()
	for _, name := range []string{"alice+x@stepgate.test", "Frank, Jr.", "alice)(uid=*", "", strings.Repeat("a", 65)} {
		if _, ok, err := d.Authenticate(ctx, "test", name, "alice-ldap-pass"); ok || err != nil {
			t.Errorf("%q: ok %v, err %v; want refused without asking the server", name, ok, err)
		}
	}
	if _, _, err := d.Authenticate(ctx, "test", "alice", "alice-ldap-pass"); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("a valid name with the server down: %v", err)
	}
}

func TestRefreshSeesChanges(t *testing.T) {
	t.Parallel()
	admin := gatewaytest.LDAPAdmin(t)
	d := open(t, testConfig(t))
	dn := gatewaytest.LDAPUser(t, admin, "erin", "erin-ldap-pass", map[string][]string{"displayName": {"Erin Example"}})
	name := gatewaytest.LDAPUID(dn)
	if _, ok := d.Lookup(name); ok {
		t.Fatal("a user added after the last refresh is known already")
	}
	// Signing in before the refresh works (found by the search).
	if u, ok, err := d.Authenticate(ctx, "test", name, "erin-ldap-pass"); !ok || err != nil || u.DisplayName != "Erin Example" {
		t.Fatalf("new user: %+v %v %v", u, ok, err)
	}
	if changed, err := d.Reload(); !changed || err != nil {
		t.Fatalf("Reload: %v %v", changed, err)
	}
	if u, ok := d.Lookup(name); !ok || u.Disabled {
		t.Fatalf("after the refresh: %+v %v", u, ok)
	}
	// An administrator locks her: the next refresh has her disabled, and
	// her password no longer works.
	mod := goldap.NewModifyRequest(dn, nil)
	mod.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := admin.Modify(mod); err != nil {
		t.Fatal(err)
	}
	if changed, err := d.Reload(); !changed || err != nil {
		t.Fatalf("Reload: %v %v", changed, err)
	}
	if u, ok := d.Lookup(name); !ok || !u.Disabled {
		t.Errorf("locked in the directory, but %+v", u)
	}
	if _, ok, _ := d.Authenticate(ctx, "test", name, "erin-ldap-pass"); ok {
		t.Error("a locked user signed in")
	}
	// Nothing changed: Reload says so.
	if changed, err := d.Reload(); changed || err != nil {
		t.Errorf("second Reload: %v %v", changed, err)
	}
}

// The first server is down: the second answers, for the refresh and for
// sign-ins; the directory stopped altogether, sign-ins are "unavailable"
// (never a wrong password), the users in memory stay, and it comes back
// by itself.
func TestFailOverAndOutage(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	target := strings.TrimPrefix(gatewaytest.LDAPServer(), "ldap://")
	first, second := gatewaytest.NewOutage(t, target), gatewaytest.NewOutage(t, target)
	cfg.URLs = []string{"ldap://" + first.Addr(), "ldap://" + second.Addr()}
	first.Down()
	d := open(t, cfg)
	if _, ok := d.Lookup("alice"); !ok {
		t.Fatal("no users read through the second server")
	}
	if _, ok, err := d.Authenticate(ctx, "test", "alice", "alice-ldap-pass"); !ok || err != nil {
		t.Fatalf("sign-in with the first server down: %v %v", ok, err)
	}
	second.Down()
	d.Close() // the idle connections went with the servers
	_, ok, err := d.Authenticate(ctx, "test", "alice", "alice-ldap-pass")
	if ok || !errors.Is(err, directory.ErrUnavailable) {
		t.Fatalf("both down: ok %v, err %v; want ErrUnavailable", ok, err)
	}
	if _, err := d.Reload(); err == nil {
		t.Error("Reload with both servers down: no error")
	}
	if _, ok := d.Lookup("alice"); !ok {
		t.Error("the users in memory were dropped with the servers")
	}
	first.Up()
	if _, ok, err := d.Authenticate(ctx, "test", "alice", "alice-ldap-pass"); !ok || err != nil {
		t.Fatalf("after the first server came back: %v %v", ok, err)
	}
}

func TestBudgetPerNetwork(t *testing.T) {
	t.Parallel()
	d := open(t, testConfig(t))
	d.SetLimits(password.Limits{CPUShare: 1, Attempts: 2, Per: time.Hour, RefusalDelay: -1})
	for range 2 {
		if _, ok, err := d.Authenticate(ctx, "net-a", "alice", "wrong"); ok || err != nil {
			t.Fatalf("wrong password: %v %v", ok, err)
		}
	}
	var tooMany *password.TooManyAttemptsError
	if _, _, err := d.Authenticate(ctx, "net-a", "alice", "alice-ldap-pass"); !errors.As(err, &tooMany) {
		t.Errorf("third attempt from one network: %v, want TooManyAttemptsError", err)
	}
	if err := d.CheckSource(ctx, "net-a"); !errors.As(err, &tooMany) {
		t.Errorf("CheckSource: %v", err)
	}
	if _, ok, err := d.Authenticate(ctx, "net-b", "alice", "alice-ldap-pass"); !ok || err != nil {
		t.Errorf("another network: %v %v", ok, err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no url"},
		{Config{URLs: []string{"http://dc1"}}, "want ldap://"},
		{Config{URLs: []string{"ldap://dc1.example.com"}}, "in the clear"},
		{Config{URLs: []string{"ldaps://dc1"}}, "no base_dn"},
		{Config{URLs: []string{"ldaps://dc1"}, BaseDN: "dc=x"}, "no bind_dn"},
		{Config{URLs: []string{"ldaps://dc1"}, Implementation: "novell"}, "implementation"},
		{Config{URLs: []string{"ldaps://dc1"}, BaseDN: "dc=x", BindDN: "cn=a", BindPassword: "p", UserFilter: "(uid=alice)"}, "{username}"},
	} {
		if _, err := New(c.cfg, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	// A wrong service password is said as such.
	cfg := testConfig(t)
	cfg.BindPassword = "wrong"
	if _, err := Open(cfg, nil); err == nil || !strings.Contains(err.Error(), "wrong bind_password") {
		t.Errorf("wrong bind password: %v", err)
	}
}

// Entries whose username cannot be a Stepgate username are left out of
// the users (and counted for the log); the others stay.
func TestUnusableNamesLeftOut(t *testing.T) {
	t.Parallel()
	admin := gatewaytest.LDAPAdmin(t)
	gatewaytest.LDAPUser(t, admin, "Has Spaces", "pass-for-spaces", nil)
	d := open(t, testConfig(t))
	if n := d.current.Load().skipped; n < 1 {
		t.Errorf("skipped %d entries, want at least the one with spaces", n)
	}
	for _, u := range d.Users() {
		if strings.Contains(u.Name, " ") {
			t.Errorf("user %q kept", u.Name)
		}
	}
	if _, ok := d.Lookup("alice"); !ok {
		t.Error("alice left out too")
	}
}

// Active Directory says why it refuses a right password in the bind
// error's "data NNN"; its entries say disabled and expired accounts.
func TestActiveDirectoryAccountState(t *testing.T) {
	bindErr := func(data string) error {
		return goldap.NewError(goldap.LDAPResultInvalidCredentials,
			errors.New("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data "+data+", v4563"))
	}
	for data, want := range map[string]string{"52e": "52e", "532": "532", "533": "533", "701": "701", "773": "773", "775": "775"} {
		if got := adReason(bindErr(data)); got != want {
			t.Errorf("data %s: adReason %q", data, got)
		}
	}
	if got := adReason(goldap.NewError(goldap.LDAPResultInvalidCredentials, errors.New("Invalid credentials"))); got != "" {
		t.Errorf("OpenLDAP's message: %q", got)
	}
	d := &Directory{cfg: Config{Implementation: ActiveDirectory}}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	ticks := func(t time.Time) string { return fmt.Sprint(t.UnixNano()/100 + 116444736000000000) }
	for _, c := range []struct {
		attrs    map[string][]string
		disabled bool
	}{
		{map[string][]string{"userAccountControl": {"512"}}, false},                                            // normal account
		{map[string][]string{"userAccountControl": {"514"}}, true},                                             // ACCOUNTDISABLE
		{map[string][]string{"userAccountControl": {"512"}, "accountExpires": {"0"}}, false},                   // never expires
		{map[string][]string{"userAccountControl": {"512"}, "accountExpires": {"9223372036854775807"}}, false}, // never expires
		{map[string][]string{"userAccountControl": {"512"}, "accountExpires": {ticks(now.Add(-time.Hour))}}, true},
		{map[string][]string{"userAccountControl": {"512"}, "accountExpires": {ticks(now.Add(time.Hour))}}, false},
	} {
		if got := d.disabled(goldap.NewEntry("cn=x", c.attrs), now); got != c.disabled {
			t.Errorf("%v: disabled %v, want %v", c.attrs, got, c.disabled)
		}
	}
}

// Where the user filter finds people by another name too (mail here,
// userPrincipalName in Active Directory's preset), that name is counted
// as the username it belongs to, so both share one lockout.
func TestOtherNamesShareTheUsername(t *testing.T) {
	t.Parallel()
	admin := gatewaytest.LDAPAdmin(t)
	cfg := testConfig(t)
	cfg.UserFilter = "(&(objectClass=inetOrgPerson)(|(uid={username})(mail={username})))"
	suffix := fmt.Sprint(time.Now().UnixNano())
	shared := "shared-" + suffix + "@stepgate.test"
	one := gatewaytest.LDAPUID(gatewaytest.LDAPUser(t, admin, "one", "one-ldap-pass", map[string][]string{"mail": {shared}}))
	gatewaytest.LDAPUser(t, admin, "two", "two-ldap-pass", map[string][]string{"mail": {shared}})
	gatewaytest.LDAPUser(t, admin, "three", "three-ldap-pass", map[string][]string{"mail": {"bob"}})
	d := open(t, cfg)
	if got := d.aliasAttributes(); !slices.Equal(got, []string{"mail"}) {
		t.Errorf("aliasAttributes = %v", got)
	}
	for typed, want := range map[string]string{
		"alice":                "alice",
		"alice@stepgate.test":  "alice",
		"frank@stepgate.test":  "frank",
		"nobody@stepgate.test": "nobody@stepgate.test",
		shared:                 shared, // two people's: counted as typed
		"bob":                  "bob",  // a username is nobody's other name
	} {
		if got := directory.Canonical(d, typed); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", typed, got, want)
		}
	}
	if u, ok, err := d.Authenticate(ctx, "test", "Alice@stepgate.test", "alice-ldap-pass"); !ok || err != nil || u.Name != "alice" {
		t.Errorf("signing in with the mail address: %+v %v %v", u, ok, err)
	}
	if _, ok := d.Lookup(one); !ok {
		t.Errorf("%s is not known", one)
	}

	adCfg := testConfig(t)
	adCfg.Implementation = ActiveDirectory
	ad, err := adCfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got := (&Directory{cfg: ad}).aliasAttributes(); !slices.Equal(got, []string{"userPrincipalName"}) {
		t.Errorf("Active Directory's other names: %v", got)
	}
}

// A sign-in of a name the search did not find is made longer by how much
// faster such sign-ins are than those of found names, in the median.
func TestUnknownNameWait(t *testing.T) {
	d := &Directory{}
	if w := d.unknownNameWait(time.Millisecond); w != 0 {
		t.Errorf("with no found sign-in yet: wait %v", w)
	}
	for i := 0; i < 64; i++ {
		d.took.add(time.Duration(9+i%3) * time.Millisecond) // median 10 ms
	}
	for i := 0; i < 63; i++ {
		d.unknownNameWait(time.Duration(7+i%3) * time.Millisecond) // median 8 ms
	}
	if w := d.unknownNameWait(8 * time.Millisecond); w != 2*time.Millisecond {
		t.Errorf("wait %v, want 2ms", w)
	}
	// Found sign-ins the faster: no wait.
	for i := 0; i < 64; i++ {
		d.unknownNameWait(20 * time.Millisecond)
	}
	if w := d.unknownNameWait(20 * time.Millisecond); w != 0 {
		t.Errorf("unknown names already slower, but wait %v", w)
	}
}

// Wrong passwords for names the directory has and for names it does not
// take the same time in Authenticate itself (no HTTP around it to hide a
// difference): 300 of each, interleaved, medians within 5 %, in one of
// two rounds (a loaded machine's noise can fail one). Without the wait
// for unknown names they differ by 10-15 %.
func TestUnknownNamesTakeAsLong(t *testing.T) {
	d := open(t, testConfig(t))
	known := []string{"alice", "bob", "frank"}
	round := func() (mk, mu time.Duration) {
		var kt, ut []time.Duration
		for i := range 330 {
			pair := []string{known[i%len(known)], fmt.Sprintf("nobody%d", i)}
			if i%2 == 1 {
				pair[0], pair[1] = pair[1], pair[0]
			}
			for _, name := range pair {
				start := time.Now()
				if _, ok, err := d.Authenticate(ctx, "test", name, "wrong-password"); ok || err != nil {
					t.Fatalf("%s: %v %v", name, ok, err)
				}
				if i < 30 {
					continue // warm-up: the rings fill
				}
				if strings.HasPrefix(name, "nobody") {
					ut = append(ut, time.Since(start))
				} else {
					kt = append(kt, time.Since(start))
				}
			}
		}
		slices.Sort(kt)
		slices.Sort(ut)
		return kt[len(kt)/2], ut[len(ut)/2]
	}
	for r := 1; r <= 2; r++ {
		mk, mu := round()
		t.Logf("round %d, medians: %v (known names) vs %v (unknown)", r, mk, mu)
		if diff := mk - mu; diff <= mk*5/100 && -diff <= mk*5/100 {
			return
		}
	}
	t.Error("the medians differ by more than 5 % in both rounds")
}
