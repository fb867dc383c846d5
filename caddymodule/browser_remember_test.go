package caddymodule_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// sessionCookieDays is how many days the browser keeps the session
// cookie.
func sessionCookieDays(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	cookies := devtools(t, ctx, network.GetCookies, network.GetCookiesParams{}).Cookies
	for _, c := range cookies {
		if c.Name == "stepgate" {
			return time.Until(time.Unix(int64(c.Expires), 0)).Hours() / 24
		}
	}
	t.Fatal("no session cookie")
	return 0
}

// TestBrowserStaySignedIn: with `remember` and `remember_device`, alice
// is asked "Stay signed in?" after her first sign-in, ticks "Don't ask
// again on this device", and from then on her password alone signs her
// in on this browser; the app is told the second step was skipped.
// Security info lists the browser as this one, and forgetting it brings
// the second step back.
func TestBrowserStaySignedIn(t *testing.T) {
	ctx := newBrowser(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), `
		session {
			lifetime 1h
			remember 30d
			remember_device 30d
		}`)
	startCaddyfile(t, block, demoSite())

	passwordStep(t, ctx, "alice", testPassword, "Set up your authenticator app")
	secret := strings.ReplaceAll(text(t, ctx, chromedp.Search(`//*[@id="secret"]`)), " ", "")
	step(t, ctx, "set up the authenticator app",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now())),
		chromedp.Click(button("Verify and finish")),
		chromedp.WaitVisible(heading("Stay signed in?")))
	onPhone(t, ctx, "90-stay-signed-in")
	step(t, ctx, "Don't ask again, and Yes",
		chromedp.Click(labelled("Don't ask again on this device for 30 days")),
		chromedp.Click(button("Yes")),
		chromedp.WaitVisible(heading("Hello, alice!")))
	if m := text(t, ctx, chromedp.Search(`//code[1]`)); m != "password,totp" {
		t.Fatalf("signed in with %q", m)
	}
	// "Yes" made the session last 30 days (the button's value reached
	// the server: the portal's script disables buttons only after the
	// browser has read the form).
	if days := sessionCookieDays(t, ctx); days < 29 {
		t.Fatalf("after Yes the session cookie lasts %.1f days", days)
	}

	step(t, ctx, "sign out",
		chromedp.Navigate(base+"/.stepgate/logout"),
		chromedp.Click(button("Sign out")),
		chromedp.WaitVisible(heading("You're signed out")))
	passwordStep(t, ctx, "alice", testPassword, "Hello, alice!")
	if m := text(t, ctx, chromedp.Search(`//code[1]`)); m != "password,remembered-device" {
		t.Fatalf("the remembered browser signed in with %q", m)
	}

	step(t, ctx, "Security info lists this browser",
		chromedp.Navigate(base+"/.stepgate/security-info"),
		chromedp.WaitVisible(chromedp.Search(`//h2[normalize-space()="Remembered browsers"]`)),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="remembered"]//*[normalize-space()="(this browser)"]`)))
	onPhone(t, ctx, "91-remembered-browsers")
	step(t, ctx, "forget it",
		chromedp.Click(button("Forget")),
		chromedp.WaitVisible(chromedp.Search(`//*[contains(normalize-space(), "That browser was forgotten")]`)),
		chromedp.WaitVisible(chromedp.ID("no-remembered")))
	step(t, ctx, "sign out again",
		chromedp.Navigate(base+"/.stepgate/logout"),
		chromedp.Click(button("Sign out")),
		chromedp.WaitVisible(heading("You're signed out")))
	passwordStep(t, ctx, "alice", testPassword, "Enter code")
}
