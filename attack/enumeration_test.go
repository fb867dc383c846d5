package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUserEnumeration signs in 200 times with wrong passwords for existing
// users and 200 times for names that do not exist, interleaved: the status
// and the page (minus the echoed name and the form token) are the same,
// and the response times cannot be told apart by their medians (within
// 10 %) or by a two-sample Kolmogorov–Smirnov test (p > 0.01), in one of
// two rounds.
func TestUserEnumeration(t *testing.T) {
	if testing.Short() {
		t.Skip("400 password checks take about a minute")
	}
	known := names("staff", 200)
	start(t, known, "")
	try := wrongPassword(t)
	indistinguishable(t, "wrong passwords", known, http.StatusUnauthorized, try)
}

// wrongPassword returns a function that posts a wrong password for a name
// on the sign-in page and returns how long the answer took, its status and
// its page without the echoed name and the form token.
func wrongPassword(t *testing.T) func(name string) (time.Duration, int, string) {
	token := regexp.MustCompile(`name="csrf" value="[^"]+"`)
	c := newClient(t)
	csrf := c.csrf("/.stepgate/")
	return func(name string) (time.Duration, int, string) {
		f := url.Values{"username": {name}, "password": {"wrong password"}, "csrf": {csrf}}
		t0 := time.Now()
		r := c.do("POST", "/.stepgate/", strings.NewReader(f.Encode()), nil)
		d := time.Since(t0)
		return d, r.status, token.ReplaceAllString(strings.ReplaceAll(r.body, name, "NAME"), "")
	}
}

// indistinguishable compares the answers to try for the existing names
// known and as many names that do not exist, interleaved: each must have
// status want and the same page, and the response times must not be told
// apart by their medians (within 10 %) or by a two-sample
// Kolmogorov–Smirnov test (p > 0.01), in one of two rounds.
func indistinguishable(t *testing.T, what string, known []string, want int, try func(name string) (time.Duration, int, string)) {
	t.Helper()
	// Warm-up: the first requests open the connection and load the pages.
	try("warm-up-a")
	try("warm-up-b")
	var body string
	measure := func(round int) (kt, ut []float64) {
		for i := range known {
			pair := []string{known[i], fmt.Sprintf("nobody%d-%s", round, known[i])}
			if rand.IntN(2) == 0 { // no systematic order: GC and caches favour neither
				pair[0], pair[1] = pair[1], pair[0]
			}
			for _, name := range pair {
				d, status, b := try(name)
				if status != want {
					t.Fatalf("%s: status %d", name, status)
				}
				if body == "" {
					body = b
				} else if b != body {
					t.Fatalf("%s: the page differs:\n%s\n---\n%s", name, b, body)
				}
				if strings.HasPrefix(name, "nobody") {
					ut = append(ut, d.Seconds())
				} else {
					kt = append(kt, d.Seconds())
				}
			}
		}
		return kt, ut
	}
	// A test at p = 0.01 fails one run in a hundred by chance alone, so a
	// failed round is measured once more: a real difference fails both.
	for round := 1; round <= 2; round++ {
		kt, ut := measure(round)
		mk, mu := median(kt), median(ut)
		d, p := ksTest(kt, ut)
		t.Logf("round %d, %d + %d %s: median %.1f ms (existing) vs %.1f ms (unknown); KS D=%.3f p=%.3f", round, len(kt), len(ut), what, mk*1000, mu*1000, d, p)
		var why string
		switch {
		case math.Abs(mk-mu) > 0.10*math.Max(mk, mu):
			why = fmt.Sprintf("medians differ by more than 10%%: %.1f ms vs %.1f ms", mk*1000, mu*1000)
		case p <= 0.01:
			why = fmt.Sprintf("the Kolmogorov–Smirnov test tells them apart: D=%.3f p=%.4f", d, p)
		default:
			return
		}
		if round == 2 {
			t.Error(why)
		}
	}
}

// TestUserEnumerationPasswordReset: "Forgot my password?" for 200
// existing users without the methods a reset needs and 200 names that do
// not exist, interleaved, as TestUserEnumeration does for passwords: the
// same status and page (minus the echoed name and the form token), and
// response times that cannot be told apart.
func TestUserEnumerationPasswordReset(t *testing.T) {
	known := names("staff", 200)
	start(t, known, "password_reset")
	token := regexp.MustCompile(`name="csrf" value="[^"]+"`)
	c := newClient(t)
	csrf := c.csrf("/.stepgate/password-reset")
	try := func(name string) (time.Duration, int, string) {
		f := url.Values{"username": {name}, "csrf": {csrf}}
		t0 := time.Now()
		r := c.do("POST", "/.stepgate/password-reset", strings.NewReader(f.Encode()), nil)
		d := time.Since(t0)
		return d, r.status, token.ReplaceAllString(strings.ReplaceAll(r.body, name, "NAME"), "")
	}
	indistinguishable(t, "password resets", known, http.StatusForbidden, try)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// ksTest is the two-sample Kolmogorov–Smirnov test: the largest distance
// between the empirical distributions, and its asymptotic p-value.
func ksTest(a, b []float64) (d, p float64) {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		x := math.Min(a[i], b[j])
		for i < len(a) && a[i] <= x {
			i++
		}
		for j < len(b) && b[j] <= x {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	ne := float64(len(a)*len(b)) / float64(len(a)+len(b))
	lambda := (math.Sqrt(ne) + 0.12 + 0.11/math.Sqrt(ne)) * d
	if lambda < 0.2 {
		return d, 1 // the series does not converge near 0, where Q is 1
	}
	for k := 1; k <= 100; k++ {
		term := 2 * math.Pow(-1, float64(k-1)) * math.Exp(-2*float64(k*k)*lambda*lambda)
		p += term
		if math.Abs(term) < 1e-10 {
			break
		}
	}
	return d, math.Min(1, math.Max(0, p))
}

// TestKSTestCanTellApart keeps the statistic honest: it must separate two
// samples whose timings differ by 15 %.
func TestKSTestCanTellApart(t *testing.T) {
	var a, b []float64
	for i := range 200 {
		x := 0.160 + float64(i%20)*0.001
		a = append(a, x)
		b = append(b, x*1.15)
	}
	if _, p := ksTest(a, b); p > 0.01 {
		t.Fatalf("15 %% slower not detected: p=%.3f", p)
	}
	if _, p := ksTest(a, a); p < 0.99 {
		t.Fatalf("identical samples: p=%.3f", p)
	}
}
