package attack

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stepgate/stepgate/internal/gatewaytest"
)

// TestUserEnumerationLDAP is TestUserEnumeration with the users in an LDAP
// directory: a name the search finds is bound to with the password, and
// one it does not find is bound to as an entry that does not exist, so
// the two take the same round trips. 200 directory users and 200 names
// that are not there, wrong passwords, interleaved: the same status and
// page, and response times that cannot be told apart. (A sign-in here
// takes about 2 ms, so the medians' 10 % is 0.2 ms: 200 of each keep a
// loaded machine's noise under that.)
func TestUserEnumerationLDAP(t *testing.T) {
	if testing.Short() {
		t.Skip("400 sign-ins against the directory")
	}
	admin := gatewaytest.LDAPAdmin(t)
	known := make([]string, 200)
	for i := range known {
		known[i] = gatewaytest.LDAPUID(gatewaytest.LDAPUser(t, admin, fmt.Sprintf("enum%03d", i), "their-ldap-pass", nil))
	}
	startWith(t, gatewaytest.LDAPDirectory(t, gatewaytest.LDAPServer(), ""), "", "stepgate\n\treverse_proxy %s")
	try := wrongPassword(t)
	// Each entry bound once first: the directory's caches hold them all,
	// as they hold the entries of people who sign in every day.
	for _, name := range known {
		try(name)
	}
	indistinguishable(t, "wrong passwords against LDAP", known, http.StatusUnauthorized, try)
}
