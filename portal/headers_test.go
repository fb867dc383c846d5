package portal

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestStripStepgateCookies(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string // nil: no Cookie header left
	}{
		{[]string{"_ga=GA1.2.3; theme=dark"}, []string{"_ga=GA1.2.3; theme=dark"}},
		{[]string{"stepgate=abc"}, nil},
		{[]string{"stepgate=abc; theme=dark"}, []string{"theme=dark"}},
		{[]string{"theme=dark; stepgate=abc"}, []string{"theme=dark"}},
		{[]string{"_ga=GA1.2.3; stepgate=abc; theme=dark"}, []string{"_ga=GA1.2.3; theme=dark"}},
		{[]string{"a=1;stepgate-pending=x;  b=\"2 3\" ;stepgate-csrf=y;c=3"}, []string{"a=1; b=\"2 3\"; c=3"}},
		{[]string{"__Host-stepgate=s; __Host-stepgate-pending=p; __Host-stepgate-csrf=c; __Secure-stepgate=d"}, nil},
		{[]string{"x=1; __Secure-stepgate=d; y=2", "stepgate=1", "z=3"}, []string{"x=1; y=2", "z=3"}},
		// Two copies, quoted values, and a name an app would trim.
		{[]string{"stepgate=\"q\"; keep=1; stepgate =again"}, []string{"keep=1"}},
		// Look-alikes are other cookies, kept as they are.
		{[]string{"stepgate2=1; my-stepgate=2; Stepgate=3; x=stepgate"}, []string{"stepgate2=1; my-stepgate=2; Stepgate=3; x=stepgate"}},
		{[]string{"a=1;; stepgate=x;"}, []string{"a=1"}},
	} {
		h := http.Header{"Cookie": append([]string(nil), tc.in...), "Accept": {"text/html"}}
		StripStepgateCookies(h)
		if got := h["Cookie"]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
		if h.Get("Accept") != "text/html" {
			t.Errorf("%q: another header changed", tc.in)
		}
	}
	h := http.Header{"Accept": {"text/html"}}
	StripStepgateCookies(h)
	if _, ok := h["Cookie"]; ok || len(h) != 1 {
		t.Errorf("a request without cookies got %v", h)
	}
}

// TestStripStepgateCookiesAllocations: a Cookie header without Stepgate
// cookies, or with them only at its start or end, costs no allocation.
func TestStripStepgateCookiesAllocations(t *testing.T) {
	long := strings.Repeat("k=v; ", 20) + "theme=dark"
	for _, line := range []string{long, "stepgate_like=1; xstepgate=2", "stepgate=abc; " + long, long + "; stepgate-csrf=x"} {
		cookies := make([]string, 1)
		h := http.Header{"Cookie": cookies}
		n := testing.AllocsPerRun(100, func() {
			cookies[0] = line
			h["Cookie"] = cookies
			StripStepgateCookies(h)
		})
		if n != 0 {
			t.Errorf("%q: %v allocations", line, n)
		}
	}
}

// TestStepgateCookiesNeverReachTheApp: the app behind the gateway sees its
// own cookies, unchanged, and none of Stepgate's.
func TestStepgateCookiesNeverReachTheApp(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.register("alice")
	session := b.cookie(plainNames.session)
	if session == nil {
		t.Fatal("not signed in")
	}
	cookie := "_ga=GA1.2.3; " + plainNames.session + "=" + session.Value + "; " + plainNames.csrf + "=tok; theme=\"dark blue\""
	r := e.rawGet("/", cookie, nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, "Remote-User: alice") {
		t.Fatalf("signed-in request: %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, "stepgate") || strings.Contains(r.body, session.Value) {
		t.Fatalf("a Stepgate cookie reached the app:\n%s", r.body)
	}
	if !strings.Contains(r.body+"\n", "\nCookie: _ga=GA1.2.3; theme=\"dark blue\"\n") {
		t.Fatalf("the app's own cookies changed:\n%s", r.body)
	}
}
