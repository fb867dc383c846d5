package caddymodule_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAccessDenied: a signed-in user on a page only another user
// may see is shown the way back and "Sign in as someone else", which
// signs them out, signs the other user in and returns to the page.
func TestBrowserAccessDenied(t *testing.T) {
	ctx := newBrowser(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice", "bob"), "")
	demo, _ := filepath.Abs("../demo")
	startCaddyfile(t, block, fmt.Sprintf(`
http://localhost:9080 {
	route /admin/* {
		stepgate {
			allow user bob
		}
		header Content-Type "text/html; charset=utf-8"
		respond "<!doctype html><title>Admin</title><h1>Admin area, {http.request.header.Remote-User}</h1>"
	}
	stepgate
	root * %s/app
	templates
	file_server
}
`, demo))
	firstSignInWithApp(t, ctx, "alice")

	step(t, ctx, "alice opens the admin area",
		chromedp.Navigate(base+"/admin/users?page=2"),
		chromedp.WaitVisible(heading("You don't have access")))
	onPhone(t, ctx, "80-access-denied")
	step(t, ctx, "Go back",
		chromedp.Click(button("Go back")),
		chromedp.WaitVisible(heading("Hello, alice!")))

	step(t, ctx, "Sign in as someone else",
		chromedp.Navigate(base+"/admin/users?page=2"),
		chromedp.WaitVisible(heading("You don't have access")),
		chromedp.Click(button("Sign in as someone else")),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.SendKeys(labelled("Username"), "bob"),
		chromedp.SendKeys(labelled("Password"), testPassword),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(heading("Set up your authenticator app")))
	secret := strings.ReplaceAll(text(t, ctx, chromedp.Search(`//*[@id="secret"]`)), " ", "")
	step(t, ctx, "bob sets up his app and lands on the page alice could not see",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now())),
		chromedp.Click(button("Verify and finish")),
		chromedp.WaitVisible(heading("Admin area, bob")))
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/admin/users?page=2") {
		t.Fatalf("bob landed on %q (%v), want /admin/users?page=2", loc, err)
	}
}
