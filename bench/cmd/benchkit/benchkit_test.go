package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://127.0.0.1:9112/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.43ms    1.21ms  31.02ms   90.12%
    Req/Sec    11.82k   512.33    12.60k    71.00%
  Latency Distribution
     50%    5.27ms
     75%    5.80ms
     90%    6.51ms
     99%   10.03ms
  117612 requests in 10.00s, 45.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  11760.55
Transfer/sec:      4.51MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 11760.55 || r.p50 != 5270*time.Microsecond || r.p99 != 10030*time.Microsecond || r.errors != 7 || r.requests != 117612 {
		t.Fatalf("parsed %+v", r)
	}
	// Without --latency there are no percentiles: refuse rather than
	// report zeros.
	noLatency := strings.Replace(wrkOutput, "     99%   10.03ms\n", "", 1)
	if _, err := parseWrk(noLatency); err == nil {
		t.Fatal("a report without the 99% line was accepted")
	}
	if _, err := parseWrk("connection refused"); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"812.00us": 812 * time.Microsecond,
		"1.50ms":   1500 * time.Microsecond,
		"2.01s":    2010 * time.Millisecond,
		"1.50m":    90 * time.Second,
	} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"12", "1.2h", "xms"} {
		if _, err := parseWrkDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd: %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even: %v", m)
	}
}

// The forward-auth service accepts exactly the cookies fwdcookie makes.
func TestForwardAuthCookie(t *testing.T) {
	key := []byte("k")
	now := time.Unix(1_700_000_000, 0)
	good := sign(key, "alice|1700000100")
	if user, err := checkCookie(key, good, now); err != nil || user != "alice" {
		t.Fatalf("good cookie: %q %v", user, err)
	}
	for name, v := range map[string]string{
		"other key": sign([]byte("other"), "alice|1700000100"),
		"expired":   sign(key, "alice|1699999999"),
		"no dot":    strings.ReplaceAll(good, ".", ""),
		"flipped":   good[:len(good)-2] + "AA",
		"no expiry": sign(key, "alice"),
	} {
		if _, err := checkCookie(key, v, now); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// The report takes each ratio against the baseline of the same round, not
// against the baseline's median: a slow round must not flatter or punish
// whichever scenario ran in it.
func TestReportUsesSameRoundRatios(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) { writeReportFile(t, dir, name, content) }
	run := func(rps string) string {
		return strings.Replace(wrkOutput, "11760.55", rps, 1)
	}
	write("r-scenarios", "proxy\nstepgate\n")
	// Round 2 is a slow round for everything.
	write("r1-proxy.wrk", run("10000"))
	write("r1-stepgate.wrk", run("9500"))
	write("r2-proxy.wrk", run("5000"))
	write("r2-stepgate.wrk", run("4900"))
	write("r3-proxy.wrk", run("10000"))
	write("r3-stepgate.wrk", run("9000"))
	write("stepgate.rss", "204800\n")
	write("r1-stepgate.tw", "3\n")
	var out strings.Builder
	stdout = &out
	defer func() { stdout = os.Stdout }()
	if err := report([]string{"-dir", dir, "-phase", "r", "-baseline", "proxy"}); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "stepgate") {
			line = l
		}
	}
	// Same-round ratios 0.95, 0.98, 0.90: median 0.950, range 0.900–0.980.
	// Δµs: 5.26, 4.08, 11.11 → median +5.3.
	for _, want := range []string{"0.950", "(0.900–0.980)", "+5.3", "200 MiB"} {
		if !strings.Contains(line, want) {
			t.Errorf("stepgate row lacks %q:\n%s", want, out.String())
		}
	}
	if err := report([]string{"-dir", dir, "-phase", "r", "-baseline", "nginx"}); err == nil {
		t.Error("unknown baseline accepted")
	}
}

// A pair's ratio is also taken round by round: stepgate over proxy here
// is 0.95, 0.98, 0.90, whatever the baseline of the table.
func TestReportPairs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) { writeReportFile(t, dir, name, content) }
	run := func(rps string) string {
		return strings.Replace(wrkOutput, "11760.55", rps, 1)
	}
	write("r-scenarios", "proxy\nstepgate\n")
	for i, rps := range [][2]string{{"10000", "9500"}, {"5000", "4900"}, {"10000", "9000"}} {
		write(fmt.Sprintf("r%d-proxy.wrk", i+1), run(rps[0]))
		write(fmt.Sprintf("r%d-stepgate.wrk", i+1), run(rps[1]))
	}
	var out strings.Builder
	stdout = &out
	defer func() { stdout = os.Stdout }()
	if err := report([]string{"-dir", dir, "-baseline", "stepgate", "-pairs", "stepgate/proxy"}); err != nil {
		t.Fatal(err)
	}
	want := "stepgate / proxy, same round: 0.950 median (0.900–0.980), Δµs/req +5.3; by round: 0.950 0.980 0.900\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("no %q in:\n%s", want, out.String())
	}
	for _, bad := range []string{"stepgate", "stepgate/nginx", "nginx/proxy"} {
		if err := report([]string{"-dir", dir, "-pairs", bad}); err == nil {
			t.Errorf("pair %q accepted", bad)
		}
	}
}

// The CPU table divides each process's CPU time by the requests wrk got
// answered in the same run.
func TestReportCPU(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) { writeReportFile(t, dir, name, content) }
	write("r-scenarios", "proxy\n")
	// 117612 requests; 11761200 µs is 100 µs per request, 1176120 is 10.
	write("r1-proxy.wrk", wrkOutput)
	write("r1-proxy.cpu", "front 11761200\nupstream 1176120\n")
	var out strings.Builder
	stdout = &out
	defer func() { stdout = os.Stdout }()
	if err := report([]string{"-dir", dir}); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^\s*proxy\s+100\.0\s+10\.0\s+110\.0\s*$`)
	if !want.MatchString(out.String()) {
		t.Errorf("no proxy row with 100.0, 10.0, 110.0 in:\n%s", out.String())
	}
}

// writeReportFile writes one of run.sh's result files for the report.
func writeReportFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
