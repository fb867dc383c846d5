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
