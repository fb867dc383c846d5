package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

var (
	csrfRe   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	secretRe = regexp.MustCompile(`id="secret">([A-Z2-7 ]+)<`)
	errorRe  = regexp.MustCompile(`(?s)class="error"[^>]*>\s*(.*?)\s*<`)
)

// browser is a cookie-keeping client that does not follow redirects, so
// each step of the sign-in can be checked.
type browser struct {
	base string
	c    *http.Client
}

func newBrowser(base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{base: strings.TrimSuffix(base, "/"), c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, string, http.Header, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	res, err := b.c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, string(raw), res.Header, err
}

// post submits a form to path with the CSRF token from the page at from.
func (b *browser) post(from, path string, form url.Values) (int, string, http.Header, error) {
	_, page, _, err := b.do("GET", from, nil)
	if err != nil {
		return 0, "", nil, err
	}
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		return 0, "", nil, fmt.Errorf("no CSRF token on %s", from)
	}
	form.Set("csrf", m[1])
	return b.do("POST", path, form)
}

func signin(args []string) error {
	fs := flag.NewFlagSet("signin", flag.ExitOnError)
	base := fs.String("base", "", "site URL, e.g. http://127.0.0.1:9112")
	user := fs.String("user", "alice", "user name")
	pw := fs.String("password", "", "password")
	fs.Parse(args)
	cookie, err := signinWith(context.Background(), newBrowser(*base), *user, *pw)
	if err != nil {
		return err
	}
	fmt.Println(cookie)
	return nil
}

// stepError is a sign-in step that answered with the wrong status.
type stepError struct {
	step   string
	status int
	detail string
}

func (e *stepError) Error() string {
	return fmt.Sprintf("%s step: got %d %s", e.step, e.status, e.detail)
}

// signinWith signs user in through the portal (password, then the
// first-sign-in authenticator set-up) and returns the session cookie as
// name=value.
func signinWith(_ context.Context, b *browser, user, pw string) (string, error) {
	status, body, hdr, err := b.post("/.stepgate/", "/.stepgate/", url.Values{"username": {user}, "password": {pw}})
	if err != nil {
		return "", err
	}
	if status != http.StatusSeeOther || hdr.Get("Location") != "/.stepgate/register" {
		detail := fmt.Sprintf("%q, want 303 to the registration page (is this the user's first sign-in, with registration first_sign_in?)", hdr.Get("Location"))
		if m := errorRe.FindStringSubmatch(body); m != nil {
			detail = fmt.Sprintf("%q", m[1])
		}
		return "", &stepError{"password", status, detail}
	}
	_, page, _, err := b.do("GET", "/.stepgate/register", nil)
	if err != nil {
		return "", err
	}
	m := secretRe.FindStringSubmatch(page)
	if m == nil {
		return "", errors.New("registration page shows no secret")
	}
	code, err := totp.GenerateCodeCustom(strings.ReplaceAll(m[1], " ", ""), time.Now(),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	status, _, _, err = b.post("/.stepgate/register", "/.stepgate/register", url.Values{"code": {code}})
	if err != nil {
		return "", err
	}
	if status != http.StatusSeeOther {
		return "", &stepError{"code", status, ""}
	}
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "stepgate") && !strings.Contains(c.Name, "-") {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", errors.New("signed in, but no session cookie was set")
}

// flood posts wrong passwords for random user names, as a password-spraying
// attacker would: every attempt costs the gateway one full password hash
// (unknown names are checked against a dummy hash) and no account locks.
func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	base := fs.String("base", "", "site URL")
	clients := fs.Int("c", 20, "concurrent clients")
	dur := fs.Duration("d", 10*time.Second, "duration")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var mu sync.Mutex
	statuses := map[int]int{}
	says := map[int]string{} // the first error message seen per status
	var errs atomic.Int64
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBrowser(*base)
			_, page, _, err := b.do("GET", "/.stepgate/", nil)
			if err != nil {
				errs.Add(1)
				return
			}
			m := csrfRe.FindStringSubmatch(page)
			if m == nil {
				errs.Add(1)
				return
			}
			for ctx.Err() == nil {
				var r [8]byte
				rand.Read(r[:])
				status, body, _, err := b.do("POST", "/.stepgate/", url.Values{"username": {"u" + hex.EncodeToString(r[:])},
					"password": {"wrong password"}, "csrf": {m[1]}})
				if err != nil {
					errs.Add(1)
					continue
				}
				mu.Lock()
				statuses[status]++
				if _, seen := says[status]; !seen {
					if e := errorRe.FindStringSubmatch(body); e != nil {
						says[status] = e[1]
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var total int
	var parts []string
	for s, n := range statuses {
		total += n
		parts = append(parts, fmt.Sprintf("%d×%d", n, s))
	}
	sort.Strings(parts)
	fmt.Printf("attempts %d (%.1f/s) statuses %s errors %d\n", total, float64(total)/dur.Seconds(), strings.Join(parts, " "), errs.Load())
	for _, s := range slices.Sorted(maps.Keys(says)) {
		fmt.Printf("  %d says: %s\n", s, says[s])
	}
	return nil
}
