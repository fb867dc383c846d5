package caddymodule_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestMetricsOnCaddysRegistry: Caddy's `metrics` handler shows
// Stepgate's counters: decisions by outcome, sign-in events by method and
// outcome, store errors, and the age of the revocation feed.
func TestMetricsOnCaddysRegistry(t *testing.T) {
	users := writeUsers(t, "alice")
	block, _ := stepgateBlock(t, users, "")
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080, http://127.0.0.1:9080 {
	handle /metrics {
		metrics
	}
	handle {
		stepgate
		reverse_proxy %s
	}
}
`, echoBackend(t)))
	c := newClient(t)
	if r := c.get("/reports"); r.status != http.StatusFound {
		t.Fatalf("not signed in: %d", r.status)
	}
	c.register("alice", "/")
	for range 3 {
		if r := c.get("/reports"); r.status != http.StatusOK {
			t.Fatalf("signed in: %d", r.status)
		}
	}
	page := c.get("/metrics").body
	value := func(series string) string {
		m := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + " (\\S+)$").FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s in:\n%s", series, grepLines(page, "stepgate_"))
		}
		return m[1]
	}
	for series, want := range map[string]string{
		`stepgate_decisions_total{outcome="allow"}`:                                      "3",
		`stepgate_decisions_total{outcome="sign-in"}`:                                    "1",
		`stepgate_events_total{event="sign-in",method="password",outcome="password-ok"}`: "1",
		`stepgate_store_errors_total`:                                                    "0",
	} {
		if got := value(series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
	if n := value(`stepgate_store_seconds_count{op="TakeAttempt"}`); n == "0" {
		t.Errorf("TakeAttempt timed %s times", n)
	}
	if age := value("stepgate_revocation_feed_age_seconds"); age == "" || strings.HasPrefix(age, "-") {
		t.Errorf("feed age %q", age)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
