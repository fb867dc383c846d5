package caddymodule

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestSiteHostsAndName(t *testing.T) {
	h, other := new(Handler), new(Handler)
	host := func(names ...string) caddyhttp.MatcherSet {
		m := caddyhttp.MatchHost(names)
		return caddyhttp.MatcherSet{&m}
	}
	path := caddyhttp.MatcherSet{caddyhttp.MatchPath{"/app/*"}}
	sub := func(routes ...caddyhttp.Route) *caddyhttp.Subroute { return &caddyhttp.Subroute{Routes: routes} }
	for name, tc := range map[string]struct {
		routes caddyhttp.RouteList
		hosts  []string
	}{
		"site block": {caddyhttp.RouteList{
			{MatcherSets: caddyhttp.MatcherSets{host("other.example.com")}, Handlers: []caddyhttp.MiddlewareHandler{other}},
			{MatcherSets: caddyhttp.MatcherSets{host("a.example.com", "b.example.com")}, Handlers: []caddyhttp.MiddlewareHandler{
				sub(caddyhttp.Route{MatcherSets: caddyhttp.MatcherSets{path}, Handlers: []caddyhttp.MiddlewareHandler{h}})}},
		}, []string{"a.example.com", "b.example.com"}},
		"inner host wins": {caddyhttp.RouteList{
			{MatcherSets: caddyhttp.MatcherSets{host("*.example.com")}, Handlers: []caddyhttp.MiddlewareHandler{
				sub(caddyhttp.Route{MatcherSets: caddyhttp.MatcherSets{host("app.example.com")}, Handlers: []caddyhttp.MiddlewareHandler{h}})}},
		}, []string{"app.example.com"}},
		"catch-all": {caddyhttp.RouteList{
			{Handlers: []caddyhttp.MiddlewareHandler{sub(caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{h}})}},
		}, nil},
		"host or path": {caddyhttp.RouteList{
			{MatcherSets: caddyhttp.MatcherSets{host("a.example.com"), path}, Handlers: []caddyhttp.MiddlewareHandler{h}},
		}, nil},
		"not found": {caddyhttp.RouteList{
			{MatcherSets: caddyhttp.MatcherSets{host("a.example.com")}, Handlers: []caddyhttp.MiddlewareHandler{other}},
		}, nil},
	} {
		if got, _ := siteHosts(tc.routes, h, nil); !slices.Equal(got, tc.hosts) {
			t.Errorf("%s: hosts %q, want %q", name, got, tc.hosts)
		}
	}

	for _, tc := range []struct {
		host  string
		hosts []string
		want  string
	}{
		{"b.example.com", []string{"a.example.com", "b.example.com"}, "b.example.com"},
		{"B.Example.com:8443", []string{"a.example.com", "b.example.com"}, "b.example.com"},
		{"evil.example.com", []string{"*.example.com"}, "*.example.com"},
		{"evil.example.com", []string{"{env.SITE}", "*.example.com"}, "*.example.com"},
		{"[::1]", []string{"::1"}, "::1"},
		{"anything.test", nil, ""},
	} {
		r := httptest.NewRequest("GET", "/.stepgate/", nil)
		r.Host = tc.host
		if got := siteName(r, tc.hosts); got != tc.want {
			t.Errorf("Host %q on %q: %q, want %q", tc.host, tc.hosts, got, tc.want)
		}
	}
}
