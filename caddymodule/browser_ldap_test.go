package caddymodule_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stepgate/stepgate/internal/gatewaytest"
)

// TestBrowserLDAP: a person from the directory signs in for the first
// time in Chromium with their directory password and sets up an
// authenticator app; Security info says where their password is changed
// (the directory's password_help) and offers no Change password; she
// adds a passkey and signs in with it alone; with
// the directory unreachable their session goes on while someone else's
// sign-in says "temporarily unavailable".
func TestBrowserLDAP(t *testing.T) {
	admin := gatewaytest.LDAPAdmin(t)
	grace := gatewaytest.LDAPUID(gatewaytest.LDAPUser(t, admin, "grace", "grace-ldap-pass",
		map[string][]string{"displayName": {"Grace Example"}}))
	server := gatewaytest.NewOutage(t, strings.TrimPrefix(gatewaytest.LDAPServer(), "ldap://"))
	block := gatewaytest.LDAPDirectory(t, "ldap://"+server.Addr(), `password_help "at https://passwords.example.com"`) + fmt.Sprintf(`
		secret %s
		store sqlite %s
		registration first_sign_in
		passkeys
		help_contact "the help desk"`, testSecret, filepath.Join(t.TempDir(), "state.db"))
	startCaddyfile(t, block, demoSite())

	ctx := newBrowser(t)
	device := builtInPasskeys(t, ctx)
	presence(t, ctx, device, false)
	firstSignInWithAppPassword(t, ctx, grace, "grace-ldap-pass")
	presence(t, ctx, device, true)
	step(t, ctx, "open Security info",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="password-elsewhere" and normalize-space()="Your password is kept in your organisation's directory. Change it at https://passwords.example.com."]/a[@href="https://passwords.example.com"]`)))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("a, button")].filter(e => /change password/i.test(e.textContent)).length`)); err != nil || n != 0 {
		t.Errorf("Security info offers to change a directory password (%d links): %v", n, err)
	}
	onPhone(t, ctx, "70-ldap-security-info")

	// A passkey works for her as for anyone: added on Security info, then
	// the sign-in with it alone.
	step(t, ctx, "add a passkey",
		chromedp.Click(button("Add a passkey or security key")),
		chromedp.WaitVisible(heading("Add a passkey or security key")),
		chromedp.Clear(labelled("Name")),
		chromedp.SendKeys(labelled("Name"), "Laptop"),
		chromedp.Click(button("Create passkey")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="done" and starts-with(normalize-space(), "Your sign-in method was added. Sign-in starts with it, as your strongest method")]`)))
	passkeyAloneAs(t, ctx, device, grace, "")
	if got := appHeader(t, ctx, "Remote-Auth-Methods"); got != "passkey" {
		t.Fatalf("the app's Remote-Auth-Methods after grace's passkey: %q", got)
	}

	// The directory unreachable: grace goes on; a new sign-in is told to
	// try again, not that the password is wrong.
	server.Down()
	other := newBrowser(t)
	step(t, other, "a sign-in with the directory down",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Password"), "alice-ldap-pass"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="error" and normalize-space()="Sign-in is temporarily unavailable. Try again in a moment."]`)))
	onPhone(t, other, "71-ldap-directory-down")
	step(t, ctx, "grace's app with the directory down",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[normalize-space()="Hello, %s!"]`, grace))))

	// Back: the sign-in goes through.
	server.Up()
	step(t, other, "the sign-in once the directory is back",
		chromedp.SendKeys(labelled("Password"), "alice-ldap-pass"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(heading("Set up your authenticator app")))
}
