package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stepgate/stepgate/verifiers/password"
)

// users writes a users file with n users (PREFIX001 …), all with the same
// password (hashed once, with Stepgate's default parameters).
func users(args []string) error {
	fs := flag.NewFlagSet("users", flag.ExitOnError)
	file := fs.String("file", "", "users file to write")
	n := fs.Int("n", 100, "number of users")
	prefix := fs.String("prefix", "user", "user name prefix")
	extra := fs.String("extra", "", "users file whose users are kept")
	pw := fs.String("password", "", "password")
	fs.Parse(args)
	h, err := password.Hash(*pw)
	if err != nil {
		return err
	}
	if *extra != "" {
		raw, err := os.ReadFile(*extra)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*file, raw, 0o600); err != nil {
			return err
		}
	}
	for i := 1; i <= *n; i++ {
		if err := password.AddUser(*file, password.NewUser{Name: fmt.Sprintf("%s%03d", *prefix, i), Hash: h}); err != nil {
			return err
		}
	}
	return nil
}

// fromAddr makes b's connections come from the local address ip, so the
// gateway sees each simulated person at their own address.
func (b *browser) fromAddr(ip netip.Addr) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip.AsSlice()}, Timeout: 10 * time.Second}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
}

// rushResult is one person's sign-in at 9 o'clock.
type rushResult struct {
	status int // of the password step
	took   time.Duration
	err    error
}

// rush signs n people in, each once, from their own loopback address
// (FIRST, FIRST+1, …), their starts spread evenly over SPREAD: the
// 9 o'clock rush. Each does the whole first sign-in (password, then
// authenticator set-up with a TOTP code).
func rush(args []string) error {
	fs := flag.NewFlagSet("rush", flag.ExitOnError)
	base := fs.String("base", "", "site URL")
	n := fs.Int("n", 100, "number of people")
	prefix := fs.String("prefix", "user", "user name prefix (users PREFIX001 …)")
	pw := fs.String("password", "", "password")
	first := fs.String("first", "127.0.0.2", "source address of the first person")
	spread := fs.Duration("spread", 50*time.Second, "the starts are spread over this long")
	fs.Parse(args)
	addr, err := netip.ParseAddr(*first)
	if err != nil {
		return err
	}
	results := make([]rushResult, *n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *n {
		ip := addr
		addr = addr.Next()
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(*spread * time.Duration(i) / time.Duration(*n))))
			b := newBrowser(*base)
			b.fromAddr(ip)
			t0 := time.Now()
			status, err := signinOnce(b, fmt.Sprintf("%s%03d", *prefix, i+1), *pw)
			results[i] = rushResult{status: status, took: time.Since(t0), err: err}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	statuses := map[int]int{}
	var ok, failed int
	var took []time.Duration
	var firstErr error
	for _, r := range results {
		statuses[r.status]++
		if r.err == nil {
			ok++
			took = append(took, r.took)
		} else {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	pct := func(p float64) time.Duration {
		if len(took) == 0 {
			return 0
		}
		return took[min(len(took)-1, int(p*float64(len(took))))]
	}
	var parts []string
	for s, c := range statuses {
		parts = append(parts, fmt.Sprintf("%d×%d", c, s))
	}
	sort.Strings(parts)
	fmt.Printf("people %d signed in %d failed %d in %.1fs; password step statuses %s; whole sign-in p50 %s p90 %s max %s\n",
		*n, ok, failed, total.Seconds(), strings.Join(parts, " "), pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	if firstErr != nil {
		fmt.Printf("first failure: %v\n", firstErr)
	}
	return nil
}

// signinOnce runs signin's steps and returns the password step's status.
func signinOnce(b *browser, user, pw string) (int, error) {
	jar, _ := cookiejar.New(nil)
	b.c.Jar = jar
	_, err := signinWith(context.Background(), b, user, pw)
	var se *stepError
	if errors.As(err, &se) {
		return se.status, err
	}
	if err != nil {
		return 0, err
	}
	return http.StatusSeeOther, nil
}
