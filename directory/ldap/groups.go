package ldap

import (
	"sort"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// groupTree is the directory's groups: each group's name (its cn) and the
// groups it is itself a member of, so a user's groups include those they
// are in through another group (nested groups; Active Directory's
// LDAP_MATCHING_RULE_IN_CHAIN answers the same question one user at a
// time, this answers it for every user from one search).
type groupTree struct {
	name    map[string]string   // canonical DN → cn
	parents map[string][]string // canonical DN → canonical DNs of its groups
}

func newGroupTree(entries []*goldap.Entry, memberOf string) *groupTree {
	t := &groupTree{name: map[string]string{}, parents: map[string][]string{}}
	for _, e := range entries {
		dn := canonDN(e.DN)
		name := e.GetAttributeValue("cn")
		if name == "" {
			name = rdnValue(e.DN)
		}
		t.name[dn] = name
		for _, p := range e.GetAttributeValues(memberOf) {
			t.parents[dn] = append(t.parents[dn], canonDN(p))
		}
	}
	return t
}

// namesOf returns the names of the groups a member of the groups direct
// (DNs) is in, directly or through others, sorted. Groups the group search
// did not return are named by their DN's first value. Cycles end.
func (t *groupTree) namesOf(direct []string) []string {
	seen := map[string]bool{}
	var walk func(dn string)
	walk = func(dn string) {
		if seen[dn] {
			return
		}
		seen[dn] = true
		for _, p := range t.parents[dn] {
			walk(p)
		}
	}
	for _, g := range direct {
		walk(canonDN(g))
	}
	names := make([]string, 0, len(seen))
	have := map[string]bool{}
	for dn := range seen {
		n, ok := t.name[dn]
		if !ok {
			n = rdnValue(dn)
		}
		if n != "" && !have[n] {
			have[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// canonDN is a DN for comparison: attribute types and values lower-cased,
// no spaces between parts. A DN that does not parse is only lower-cased.
func canonDN(s string) string {
	dn, err := goldap.ParseDN(s)
	if err != nil {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for i, rdn := range dn.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(a.Type))
			b.WriteByte('=')
			b.WriteString(goldap.EscapeDN(strings.ToLower(a.Value)))
		}
	}
	return b.String()
}

// rdnValue is the value of a DN's first part ("admins" of
// "cn=admins,ou=groups,…"), or "".
func rdnValue(s string) string {
	dn, err := goldap.ParseDN(s)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) == 0 {
		return ""
	}
	return dn.RDNs[0].Attributes[0].Value
}
