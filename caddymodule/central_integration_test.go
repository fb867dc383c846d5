package caddymodule_test

import (
	"context"

	"crypto/tls"
	"fmt"
	"github.com/chromedp/chromedp"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/internal/gatewaytest"
)

// The central portal's test set-up: the portal and two protected sites
// under cookie_domain example.test, over HTTPS from Caddy's internal CA.
const (
	portalOrigin = "https://auth.example.test:9443"
	siteA        = "https://a.example.test:9443"
	siteB        = "https://b.example.test:9443"
)

// startCentralPortal starts the set-up with alice as its user, the echo
// app behind both sites, and waits for the certificates.
func startCentralPortal(t *testing.T) {
	t.Helper()
	backend := echoBackend(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), `
		session {
			cookie_domain example.test
		}
		portal_url `+portalOrigin)
	startCaddyfile(t, block, fmt.Sprintf(`
%s {
	tls internal
	stepgate portal
}
%s, %s {
	tls internal
	stepgate
	reverse_proxy %s
}
`, portalOrigin, siteA, siteB, backend))
	waitForCertificates(t, portalOrigin, siteA, siteB)
}

// ssoClient is a browser for the *.example.test sites of
// TestCentralPortalSingleSignOn: every name reaches the test's Caddy, whose
// internal CA it trusts blindly.
func ssoClient(t *testing.T, origin string) *gatewaytest.Client {
	c := gatewaytest.NewClient(t, origin)
	d := new(net.Dialer)
	c.HTTP.Transport = &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, "127.0.0.1:9443")
		},
	}
	return c
}

// TestCentralPortalSingleSignOn: two sites and a central portal share one
// sign-in through cookie_domain. A visit to either site goes to the
// portal and back; the other site then needs no sign-in; the sites' own
// pages (Security info, sign-out) live on the portal; signing out there
// ends the session on both sites, a copy of the cookie included.
func TestCentralPortalSingleSignOn(t *testing.T) {
	startCentralPortal(t)
	c := ssoClient(t, portalOrigin)

	// Site A sends alice to the portal, with the whole URL to return to.
	r := c.Get(siteA + "/reports?q=1")
	wantSignIn := portalOrigin + "/.stepgate/?rd=" + url.QueryEscape(siteA+"/reports?q=1")
	if r.Status != http.StatusFound || r.Location != wantSignIn {
		t.Fatalf("site A, not signed in: %d %q, want %q", r.Status, r.Location, wantSignIn)
	}
	// The portal's own root is its sign-in page.
	if r := c.Get(portalOrigin + "/"); r.Status != http.StatusFound || r.Location != "/.stepgate/" {
		t.Fatalf("the portal's root: %d %q", r.Status, r.Location)
	}
	// Nothing but the pages lives there: anything else posted is not found.
	if r := c.Do("POST", portalOrigin+"/anything", strings.NewReader("x=1"), nil); r.Status != http.StatusNotFound {
		t.Fatalf("a POST to the portal outside its pages: %d %q", r.Status, r.Location)
	}
	// A site's own sign-in page, Security info and the Authenticator are
	// the portal's.
	for path, want := range map[string]string{
		"/.stepgate/?rd=%2Fwiki":      portalOrigin + "/.stepgate/?rd=" + url.QueryEscape(siteB+"/wiki"),
		"/.stepgate/security-info":    portalOrigin + "/.stepgate/security-info",
		"/.stepgate/authenticator/":   portalOrigin + "/.stepgate/authenticator/",
		"/.stepgate/logout":           portalOrigin + "/.stepgate/logout",
		"/.stepgate/register/totp/x1": portalOrigin + "/.stepgate/register/totp/x1",
	} {
		if r := c.Get(siteB + path); r.Status != http.StatusFound || r.Location != want {
			t.Errorf("site B's %s: %d %q, want %q", path, r.Status, r.Location, want)
		}
	}

	// alice signs in on the portal and is sent back to site A.
	secret, r := c.Register("alice", testPassword, siteA+"/reports?q=1")
	if r.Status != http.StatusSeeOther || r.Location != siteA+"/reports?q=1" {
		t.Fatalf("sign-in at the portal: %d %q %s", r.Status, r.Location, r.Body)
	}
	sc := strings.Join(r.Header.Values("Set-Cookie"), "\n")
	if !strings.Contains(sc, "__Secure-stepgate=") || !strings.Contains(strings.ToLower(sc), "domain=example.test") || !strings.Contains(sc, "; Secure") {
		t.Fatalf("the session cookie: %q", sc)
	}
	copied := c.Cookie("__Secure-stepgate")
	for _, u := range []string{siteA + "/reports?q=1", siteB + "/wiki"} {
		if r := c.Get(u); r.Status != http.StatusOK || !strings.Contains(r.Body, "Remote-User: alice") {
			t.Fatalf("%s after one sign-in: %d %q %.300s", u, r.Status, r.Location, r.Body)
		}
	}

	if r := c.Get(siteA + "/.stepgate/security-info"); r.Status != http.StatusFound || r.Location != portalOrigin+"/.stepgate/security-info" {
		t.Fatalf("site A's Security info, signed in: %d %q", r.Status, r.Location)
	}
	// The portal's pages lead back to the site it last sent alice to.
	back := `<a href="` + siteA + `/">Back to the app</a>`
	if r := c.Get(portalOrigin + "/.stepgate/security-info"); r.Status != http.StatusOK || !strings.Contains(r.Body, back) {
		t.Fatalf("Security info on the portal, without %s: %d %.300s", back, r.Status, r.Body)
	}
	if r := c.Get(portalOrigin + "/.stepgate/"); r.Status != http.StatusOK || !strings.Contains(r.Body, `href="`+siteA+`/">Continue</a>`) {
		t.Fatalf("the portal's signed-in page leads nowhere: %d %.600s", r.Status, r.Body)
	}
	// Signed in, a visit to B through the portal makes B the way back.
	if r := c.Get(siteB + "/.stepgate/?rd=%2Fwiki"); r.Location != portalOrigin+"/.stepgate/?rd="+url.QueryEscape(siteB+"/wiki") {
		t.Fatalf("site B's sign-in page, signed in: %q", r.Location)
	}
	if r := c.Get(portalOrigin + "/.stepgate/?rd=" + url.QueryEscape(siteB+"/wiki")); r.Status != http.StatusFound || r.Location != siteB+"/wiki" {
		t.Fatalf("the portal, signed in, with B's return URL: %d %q", r.Status, r.Location)
	}
	if r := c.Get(portalOrigin + "/.stepgate/security-info"); !strings.Contains(r.Body, `<a href="`+siteB+`/">Back to the app</a>`) {
		t.Fatalf("Security info after going to B: %.300s", r.Body)
	}
	// A way back planted in the cookie is checked like any return URL.
	planted := ssoClient(t, portalOrigin)
	if r := planted.Do("GET", portalOrigin+"/.stepgate/security-info", nil, map[string]string{"Cookie": "__Host-stepgate-site=https://evil.test:9443; __Secure-stepgate=" + c.Cookie("__Secure-stepgate")}); strings.Contains(r.Body, "evil.test") || strings.Contains(r.Body, "Back to the app") {
		t.Fatalf("a planted way back: %d %.300s", r.Status, r.Body)
	}

	// Signing out from site B's link: the portal asks, and ends the
	// session for both sites.
	r = c.Get(siteB + "/.stepgate/logout")
	if r.Status != http.StatusFound || r.Location != portalOrigin+"/.stepgate/logout" {
		t.Fatalf("site B's sign-out link: %d %q", r.Status, r.Location)
	}
	if r := c.Post(portalOrigin+"/.stepgate/logout", portalOrigin+"/.stepgate/logout", url.Values{}); r.Status != http.StatusOK || !strings.Contains(r.Body, "signed out") {
		t.Fatalf("sign-out: %d %.300s", r.Status, r.Body)
	}
	for _, u := range []string{siteA + "/reports", siteB + "/wiki"} {
		if r := c.Get(u); r.Status != http.StatusFound || !strings.HasPrefix(r.Location, portalOrigin+"/.stepgate/?rd=") {
			t.Fatalf("%s after signing out: %d %q", u, r.Status, r.Location)
		}
		// A copy of the cookie kept from before is revoked too.
		mallory := ssoClient(t, u)
		if r := mallory.Do("GET", u, nil, map[string]string{"Cookie": "__Secure-stepgate=" + copied}); r.Status != http.StatusFound || strings.Contains(r.Body, "BACKEND") {
			t.Fatalf("%s with the cookie copied before sign-out: %d %.200s", u, r.Status, r.Body)
		}
	}

	// The portal returns people only to sites on the cookie domain.
	r = c.Post(portalOrigin+"/.stepgate/", portalOrigin+"/.stepgate/", url.Values{"username": {"alice"}, "password": {testPassword}, "rd": {"https://evil.test:9443/"}})
	if r.Status != http.StatusSeeOther || r.Location != "/.stepgate/verify" {
		t.Fatalf("password step with a foreign return URL: %d %q", r.Status, r.Location)
	}
	// The code of the next 30-second step: this one was used to set up.
	r = c.Post(portalOrigin+"/.stepgate/verify", portalOrigin+"/.stepgate/verify", url.Values{"code": {code(t, secret, time.Now().Add(30*time.Second))}})
	if r.Status != http.StatusSeeOther || r.Location != "/" {
		t.Fatalf("second step with a foreign return URL: %d %q, want 303 to the portal's /", r.Status, r.Location)
	}
}

// TestBrowserCentralPortal signs in through a central portal in Chromium:
// site A sends alice to the portal, she sets up an authenticator app there
// and lands back on A; B lets her in without asking. The last answer of the
// sign-in form is a redirect to another site, which Chromium holds to the
// page's form-action: with only 'self' there, it stayed on the portal.
func TestBrowserCentralPortal(t *testing.T) {
	ctx := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP *.example.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors", true))
	startCentralPortal(t)

	step(t, ctx, "open site A", chromedp.Navigate(siteA+"/reports?q=1"), chromedp.WaitVisible(heading("Sign in")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, portalOrigin+"/.stepgate/?rd=") {
		t.Fatalf("site A did not send the browser to the portal: %s", loc)
	}
	checkAccessible(t, ctx, "the central portal's sign-in page")
	step(t, ctx, "password at the portal",
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Password"), testPassword),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(heading("Set up your authenticator app")))
	checkAccessible(t, ctx, "the central portal's authenticator app set-up page")
	secret := strings.ReplaceAll(text(t, ctx, chromedp.Search(`//*[@id="secret"]`)), " ", "")
	step(t, ctx, "set up the authenticator app and return to site A",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now())),
		chromedp.Click(button("Verify and finish")),
		chromedp.WaitVisible(chromedp.Search(`//*[contains(text(), "BACKEND /reports?q=1")]`)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != siteA+"/reports?q=1" {
		t.Fatalf("after signing in at the portal: %s", loc)
	}
	step(t, ctx, "site B without signing in again",
		chromedp.Navigate(siteB+"/wiki"),
		chromedp.WaitVisible(chromedp.Search(`//*[contains(text(), "Remote-User: alice")]`)))
}

// waitForCertificates waits until Caddy has issued the origins'
// certificates from its internal CA, which it does in the background after
// the config loads.
func waitForCertificates(t *testing.T, origins ...string) {
	t.Helper()
	c := ssoClient(t, origins[0])
	for _, origin := range origins {
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			res, err := c.HTTP.Head(origin + "/.stepgate/static/style.css")
			if err == nil {
				res.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the certificate of %s: %v", origin, err)
			}
		}
	}
}
