package caddymodule

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// siteHosts returns the host names the routes leading to h match, as the
// configuration writes them (a Caddyfile's site addresses become these
// host matchers); nil when h is on a route that any host reaches (a
// catch-all site such as ":443" or "http://"), or is not found.
//
// The innermost host matcher on the way to h wins: it is the most
// specific. A route matched by several matcher sets names hosts only if
// every set has a host matcher; otherwise any host can reach it.
func siteHosts(routes caddyhttp.RouteList, h *Handler, outer []string) ([]string, bool) {
	for _, rt := range routes {
		hosts := outer
		if len(rt.MatcherSets) > 0 {
			var names []string
			all, none := true, true
			for _, set := range rt.MatcherSets {
				found := false
				for _, m := range set {
					switch mh := m.(type) {
					case *caddyhttp.MatchHost:
						names, found = append(names, *mh...), true
					case caddyhttp.MatchHost:
						names, found = append(names, mh...), true
					}
				}
				all, none = all && found, none && !found
			}
			switch {
			case all:
				hosts = names
			case !none:
				hosts = nil
			}
		}
		for _, mh := range rt.Handlers {
			switch v := mh.(type) {
			case *Handler:
				if v == h {
					return hosts, true
				}
			case *caddyhttp.Subroute:
				if got, ok := siteHosts(v.Routes, h, hosts); ok {
					return got, true
				}
			}
		}
	}
	return nil, false
}

// siteName is how approval requests name the site r arrived on: r's host
// when the site's addresses name it exactly, else the site's first
// address (a wildcard such as "*.example.com"), else "" (a catch-all
// site: the portal then names the issuer). It never passes on a host
// name that only the client chose.
func siteName(r *http.Request, hosts []string) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	literal := func(n string) bool { return !strings.ContainsAny(n, "*{") }
	if slices.ContainsFunc(hosts, func(n string) bool { return literal(n) && strings.EqualFold(n, host) }) {
		return host
	}
	for _, n := range hosts {
		if !strings.Contains(n, "{") {
			return strings.ToLower(n)
		}
	}
	return ""
}
