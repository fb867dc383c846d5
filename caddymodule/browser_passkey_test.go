package caddymodule_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// devtools runs one DevTools command on the browser's tab, failing the
// test if it does not complete.
func devtools[P, R any](t *testing.T, ctx context.Context, cmd cdp.Command[P, R], params P) R {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(cctx, cmd, params)
	if err != nil {
		t.Fatalf("%s: %v", cmd.Method, err)
	}
	return res
}

// builtInPasskeys gives the browser's tab a virtual authenticator built
// into the device, as Windows Hello or Touch ID are: it keeps passkeys
// (resident credentials) and checks the user (fingerprint or PIN), and
// the person always answers at once. It returns the authenticator's ID.
func builtInPasskeys(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	devtools(t, ctx, webauthn.Enable, webauthn.EnableParams{})
	return devtools(t, ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}}).AuthenticatorID
}

// passkeysOn lists the passkeys the authenticator holds.
func passkeysOn(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	return devtools(t, ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id}).Credentials
}

// TestBrowserPasskey sets up a passkey at the first sign-in in Chromium
// with the browser's virtual authenticator, as a person with Windows
// Hello or Touch ID would, then signs in with it.
func TestBrowserPasskey(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "passkeys")
	startCaddyfile(t, block, demoSite())

	ctx := newBrowser(t, chromedp.WindowSize(1280, 800))
	device := builtInPasskeys(t, ctx)

	passwordStep(t, ctx, "alice", testPassword, "Set up your authenticator app")
	step(t, ctx, "choose a passkey",
		chromedp.Click(button("Use a passkey or security key instead")),
		chromedp.WaitVisible(heading("Add a passkey or security key")))
	onPhone(t, ctx, "40-passkey-set-up")
	step(t, ctx, "name and create the passkey",
		chromedp.Clear(labelled("Name")),
		chromedp.SendKeys(labelled("Name"), "Test laptop"),
		chromedp.Click(button("Create passkey")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))
	keys := passkeysOn(t, ctx, device)
	if len(keys) != 1 {
		t.Fatalf("the authenticator holds %d passkeys", len(keys))
	}
	t.Logf("%+v", *keys[0])
	signOut(t, ctx)

	step(t, ctx, "password",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Password"), testPassword),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))
	keys = passkeysOn(t, ctx, device)
	t.Logf("%+v", *keys[0])
	step(t, ctx, "open Security info",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")))
	t.Log(text(t, ctx, chromedp.Search(`//main`)))
	onPhone(t, ctx, "42-passkey-security-info")
	signOut(t, ctx)

	devtools(t, ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: device, IsUserVerified: false})
	start := time.Now()
	passwordStep(t, ctx, "alice", testPassword, "Use your passkey")
	step(t, ctx, "error", chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"passkey-error")]`)))
	t.Log(time.Since(start), text(t, ctx, chromedp.Search(`//main`)))
	onPhone(t, ctx, "41-passkey-verify-error")
	devtools(t, ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: device})
	start = time.Now()
	step(t, ctx, "again", chromedp.Click(button("Use my passkey")), chromedp.Sleep(500*time.Millisecond), chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"passkey-error")]`)))
	t.Log(time.Since(start), text(t, ctx, chromedp.Search(`//main`)))
	_ = strings.Contains
}
