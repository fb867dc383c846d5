package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// wrkRun is what one wrk run reports.
type wrkRun struct {
	rps      float64
	p50, p99 time.Duration
	errors   int // non-2xx/3xx responses plus socket errors
	requests int // answered in the run
}

// parseWrk reads wrk's text output (run with --latency).
func parseWrk(text string) (wrkRun, error) {
	var r wrkRun
	var haveRPS, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("requests/sec %q: %w", f[1], err)
			}
			r.rps, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50, have50 = d, true
			} else {
				r.p99, have99 = d, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.Atoi(f[0])
		case len(f) >= 5 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[len(f)-1])
			r.errors += n
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				r.errors += n
			}
		}
	}
	if !haveRPS || !have50 || !have99 {
		return r, errors.New("not a wrk --latency report (missing Requests/sec or the 50%/99% lines)")
	}
	return r, nil
}

// parseWrkDuration reads wrk's latency format: 812.00us, 1.23ms, 2.01s, 1.5m.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		scale  float64
	}{{"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("latency %q: %w", s, err)
			}
			return time.Duration(math.Round(f * u.scale)), nil
		}
	}
	return 0, fmt.Errorf("latency %q: unknown unit", s)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// stdout is where report prints (a buffer in tests).
var stdout io.Writer = os.Stdout

func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fs.String("dir", "", "results directory written by run.sh")
	phase := fs.String("phase", "r", "file prefix of the phase to report: PHASE<round>-<scenario>.wrk")
	baseline := fs.String("baseline", "proxy", "scenario the ratios are taken against")
	pairs := fs.String("pairs", "", "more same-round ratios to print, as A/B[,C/D…]: A's throughput over B's")
	fs.Parse(args)
	names, err := readLines(filepath.Join(*dir, *phase+"-scenarios"))
	if err != nil {
		return err
	}
	// runs[scenario][round]
	runs := map[string]map[int]wrkRun{}
	rounds := 0
	for _, name := range names {
		runs[name] = map[int]wrkRun{}
		for round := 1; ; round++ {
			raw, err := os.ReadFile(filepath.Join(*dir, fmt.Sprintf("%s%d-%s.wrk", *phase, round, name)))
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err != nil {
				return err
			}
			r, err := parseWrk(string(raw))
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, name, err)
			}
			runs[name][round] = r
			rounds = max(rounds, round)
		}
	}
	base, ok := runs[*baseline]
	if !ok {
		return fmt.Errorf("no baseline scenario %q", *baseline)
	}
	fmt.Fprintf(stdout, "%d rounds; ratio and Δµs are taken against %q in the same round, then the median over rounds.\n\n", rounds, *baseline)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s median\t(min–max)\tratio\t(min–max)\tΔµs/req\tp50\tp99\tΔp99\tpeak RSS\tTIME_WAIT\terrors\t")
	for _, name := range names {
		var rps, ratio, dus, p50, p99, dp99 []float64
		errs := 0
		for round, r := range runs[name] {
			rps = append(rps, r.rps)
			p50 = append(p50, float64(r.p50))
			p99 = append(p99, float64(r.p99))
			errs += r.errors
			if b, ok := base[round]; ok && r.rps > 0 && b.rps > 0 {
				ratio = append(ratio, r.rps/b.rps)
				dus = append(dus, 1e6/r.rps-1e6/b.rps)
				dp99 = append(dp99, float64(r.p99-b.p99))
			}
		}
		if len(rps) == 0 {
			fmt.Fprintf(tw, "%s\t(no runs)\t\t\t\t\t\t\t\t\t\t\t\n", name)
			continue
		}
		rss := "?"
		if kb, err := readInt(filepath.Join(*dir, name+".rss")); err == nil {
			rss = fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
		tws := "?"
		if n, err := maxIntOverRounds(*dir, *phase, name, rounds, "tw"); err == nil {
			tws = strconv.Itoa(n)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t(%.0f–%.0f)\t%.3f\t(%.3f–%.3f)\t%+.1f\t%s\t%s\t%s\t%s\t%s\t%d\t\n", name,
			median(rps), slices.Min(rps), slices.Max(rps),
			median(ratio), slices.Min(ratio), slices.Max(ratio), median(dus),
			dur(median(p50)), dur(median(p99)), signedDur(median(dp99)), rss, tws, errs)
	}
	tw.Flush()
	if *pairs != "" {
		fmt.Fprintln(stdout)
	}
	for _, pair := range strings.Split(*pairs, ",") {
		if pair == "" {
			continue
		}
		a, b, ok := strings.Cut(pair, "/")
		ra, okA := runs[a]
		rb, okB := runs[b]
		if !ok || !okA || !okB {
			return fmt.Errorf("pair %q: want two scenarios of this phase as A/B", pair)
		}
		if err := reportPair(a, b, ra, rb, rounds); err != nil {
			return err
		}
	}
	if err := reportCPU(*dir, *phase, names, runs, rounds); err != nil {
		return err
	}
	floods, _ := filepath.Glob(filepath.Join(*dir, *phase+"*-flood.txt"))
	slices.Sort(floods)
	for _, f := range floods {
		raw, err := os.ReadFile(f)
		if err == nil {
			fmt.Fprintf(stdout, "%s: %s", strings.TrimSuffix(filepath.Base(f), ".txt"), raw)
		}
	}
	return nil
}

// reportPair prints a's throughput over b's, round by round and as the
// median over rounds, with the server CPU a adds per request (Δµs).
func reportPair(a, b string, ra, rb map[int]wrkRun, rounds int) error {
	var ratio, dus []float64
	var each []string
	for round := 1; round <= rounds; round++ {
		x, okA := ra[round]
		y, okB := rb[round]
		if !okA || !okB || x.rps <= 0 || y.rps <= 0 {
			continue
		}
		ratio = append(ratio, x.rps/y.rps)
		dus = append(dus, 1e6/x.rps-1e6/y.rps)
		each = append(each, fmt.Sprintf("%.3f", x.rps/y.rps))
	}
	if len(ratio) == 0 {
		return fmt.Errorf("%s / %s: no round has both", a, b)
	}
	fmt.Fprintf(stdout, "%s / %s, same round: %.3f median (%.3f–%.3f), Δµs/req %+.1f; by round: %s\n",
		a, b, median(ratio), slices.Min(ratio), slices.Max(ratio), median(dus), strings.Join(each, " "))
	return nil
}

// reportCPU prints, when run.sh recorded them (PHASE<round>-<scenario>.cpu:
// one "process µs" line per server process), the CPU time each server
// process spent per answered request, median over rounds: where a
// scenario's cost goes between its Caddy, the auth service and the upstream.
func reportCPU(dir, phase string, names []string, runs map[string]map[int]wrkRun, rounds int) error {
	var procs []string
	perReq := map[string]map[string][]float64{} // scenario → process → µs/request per round
	for _, name := range names {
		perReq[name] = map[string][]float64{}
		for round := 1; round <= rounds; round++ {
			raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s%d-%s.cpu", phase, round, name)))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			r := runs[name][round]
			if r.requests == 0 {
				continue
			}
			all := 0.0
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				f := strings.Fields(line)
				if len(f) != 2 {
					return fmt.Errorf("%s round %d: bad CPU line %q", name, round, line)
				}
				us, err := strconv.ParseFloat(f[1], 64)
				if err != nil {
					return fmt.Errorf("%s round %d: %w", name, round, err)
				}
				if !slices.Contains(procs, f[0]) {
					procs = append(procs, f[0])
				}
				perReq[name][f[0]] = append(perReq[name][f[0]], us/float64(r.requests))
				all += us
			}
			perReq[name]["all"] = append(perReq[name]["all"], all/float64(r.requests))
		}
	}
	if len(procs) == 0 {
		return nil
	}
	procs = append(procs, "all")
	fmt.Fprintf(stdout, "\nServer CPU per request, µs (user + system, median over rounds; \"front\" is the scenario's Caddy):\n\n")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\t%s\t\n", strings.Join(procs, "\t"))
	for _, name := range names {
		row := []string{name}
		for _, proc := range procs {
			row = append(row, fmt.Sprintf("%.1f", median(perReq[name][proc])))
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func dur(ns float64) string {
	d := time.Duration(ns)
	if d < time.Millisecond {
		return fmt.Sprintf("%.0fµs", ns/1e3)
	}
	return fmt.Sprintf("%.2fms", ns/1e6)
}

func signedDur(ns float64) string {
	if ns < 0 {
		return "-" + dur(-ns)
	}
	return "+" + dur(ns)
}

func readLines(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(raw)), nil
}

func readInt(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

func maxIntOverRounds(dir, phase, name string, rounds int, ext string) (int, error) {
	best, found := 0, false
	for round := 1; round <= rounds; round++ {
		n, err := readInt(filepath.Join(dir, fmt.Sprintf("%s%d-%s.%s", phase, round, name, ext)))
		if err != nil {
			continue
		}
		best, found = max(best, n), true
	}
	if !found {
		return 0, errors.New("no counts")
	}
	return best, nil
}
