package main

import (
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestRewriteArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"stepgate", "hash-password", "--password-stdin"}, []string{"stepgate", "user", "hash-password", "--password-stdin"}},
		{[]string{"stepgate", "run", "--config", "Caddyfile"}, []string{"stepgate", "run", "--config", "Caddyfile"}},
		{[]string{"stepgate"}, []string{"stepgate"}},
		{[]string{"stepgate", "user", "hash-password"}, []string{"stepgate", "user", "hash-password"}},
	} {
		if got := rewriteArgs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("rewriteArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestModulesRegistered is what `stepgate list-modules` shows for us.
func TestModulesRegistered(t *testing.T) {
	for _, id := range []string{"stepgate", "http.handlers.stepgate", "http.handlers.reverse_proxy"} {
		if _, err := caddy.GetModule(id); err != nil {
			t.Errorf("module %s not registered: %v", id, err)
		}
	}
}
