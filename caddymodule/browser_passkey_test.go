package caddymodule_test

import (
	"context"
	"fmt"
	"slices"
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
// (resident credentials), checks the user (fingerprint or PIN), and the
// person answers at once. It returns the authenticator's ID.
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

// presence makes the device answer requests at once (on), or leave them
// waiting for a person who never answers (off): a request made while it
// is off stays waiting, as the sign-in page's passkey autofill does for
// a person who types a password instead.
func presence(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID, on bool) {
	t.Helper()
	devtools(t, ctx, webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on})
}

// lastEvents reads the newest n rows of Security info's Recent activity,
// newest first, as "what happened · method".
func lastEvents(t *testing.T, ctx context.Context, n int) []string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := chromedp.Run(sctx, chromedp.Evaluate[[]string](fmt.Sprintf(
		`[...document.querySelectorAll("table.activity tbody tr")].slice(0, %d).map(r => r.cells[1].innerText + " · " + r.cells[2].innerText)`, n)))
	if err != nil {
		t.Fatalf("reading Recent activity: %v", err)
	}
	return rows
}

// hello waits for the demo app's page greeting user.
func hello(user string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[normalize-space()="Hello, %s!"]`, user)))
}

// firstSignInWithPasskey signs user in for the first time, choosing a
// passkey instead of the authenticator app offered first and naming it,
// and waits for the app. With shots, it keeps pictures of the set-up page.
func firstSignInWithPasskey(t *testing.T, ctx context.Context, user, name string, shots bool) {
	t.Helper()
	passwordStep(t, ctx, user, testPassword, "Set up your authenticator app")
	step(t, ctx, "choose a passkey",
		chromedp.Click(button("Use a passkey or security key instead")),
		chromedp.WaitVisible(heading("Add a passkey or security key")))
	if shots {
		onPhone(t, ctx, "40-passkey-set-up")
	}
	step(t, ctx, "name the passkey and create it",
		chromedp.Clear(labelled("Name")),
		chromedp.SendKeys(labelled("Name"), name),
		chromedp.Click(button("Create passkey")),
		hello(user))
}

// TestBrowserPasskey sets up a passkey at the first sign-in in Chromium,
// with the browser's virtual authenticator standing in for Windows Hello
// or Touch ID, by the words on the screen; signs in with the password and
// the passkey, the verify page running the ceremony by itself; finds the
// passkey on Security info; and signs in with the passkey alone.
func TestBrowserPasskey(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "passkeys")
	startCaddyfile(t, block, demoSite())
	ctx := newBrowser(t, chromedp.WindowSize(1280, 800))
	device := builtInPasskeys(t, ctx)

	firstSignInWithPasskey(t, ctx, "alice", "Test laptop", true)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/" {
		t.Fatalf("after setting up the passkey: %s", loc)
	}
	keys := passkeysOn(t, ctx, device)
	if len(keys) != 1 {
		t.Fatalf("the authenticator holds %d passkeys, want 1", len(keys))
	}
	key := keys[0]
	// A passkey the device keeps (it can be offered without a username),
	// for this site, for alice.
	if !key.IsResidentCredential || key.RpID != "localhost" || key.UserName != "alice" {
		t.Fatalf("the passkey made: resident %v, for %q, user %q", key.IsResidentCredential, key.RpID, key.UserName)
	}

	// The next sign-in: alice types her password (the sign-in page's
	// passkey autofill waits unanswered), then has nothing to do but
	// answer her device, which signs once.
	passwordThenPasskey(t, ctx, device)
	if keys := passkeysOn(t, ctx, device); len(keys) != 1 || keys[0].SignCount != key.SignCount+1 {
		t.Fatalf("the device did not sign the sign-in once: %d passkeys, counter %v then %v", len(keys), key.SignCount, keys[0].SignCount)
	}

	step(t, ctx, "open Security info",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")))
	if m := text(t, ctx, chromedp.Search(`//ul[@class="methods"]`)); !strings.Contains(m, "Passkey or security key Test laptop") {
		t.Fatalf("Security info's methods do not name the passkey:\n%s", m)
	}
	if got := lastEvents(t, ctx, 2); !slices.Equal(got, []string{"Signed in · Passkey or security key", "Password correct, second step not finished · Password"}) {
		t.Fatalf("Recent activity, newest first: %q", got)
	}
	onPhone(t, ctx, "42-passkey-security-info")

	// The passkey alone: the sign-in page's button asks the device at
	// once, and no password is typed.
	passkeyAlone(t, ctx, device, "44-passkey-sign-in")
	step(t, ctx, "open Security info again",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")))
	if got := lastEvents(t, ctx, 2); len(got) != 2 || got[0] != "Signed in · Passkey or security key" || strings.Contains(got[1], "Password") {
		t.Fatalf("Recent activity after the passkey alone, newest first: %q", got)
	}
}

// TestBrowserPasskeyRefused: while alice's device cannot verify her (a
// fingerprint not recognised), the verify page says the request was
// cancelled and stays, its button ready; once it can, the button signs
// her in. A device that no longer holds the passkey is refused the same
// way.
func TestBrowserPasskeyRefused(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "passkeys")
	startCaddyfile(t, block, demoSite())
	ctx := newBrowser(t, chromedp.WindowSize(1280, 800))
	device := builtInPasskeys(t, ctx)
	firstSignInWithPasskey(t, ctx, "alice", "Test laptop", false)
	signOut(t, ctx)

	errorText := chromedp.Search(`//form[@id="passkey-form"]/p[contains(@class, "passkey-error")]`)

	// While the device waits for her, the page says what to do.
	presence(t, ctx, device, false)
	passwordStep(t, ctx, "alice", testPassword, "Use your passkey")
	if msg := text(t, ctx, chromedp.Search(`//*[@id="prompt"]`)); !strings.Contains(msg, "your device asks for your fingerprint, face, PIN or a touch of the key") {
		t.Fatalf("the verify page's prompt: %q", msg)
	}
	onPhone(t, ctx, "43-passkey-verify")

	presence(t, ctx, device, true)
	devtools(t, ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: device, IsUserVerified: false})
	step(t, ctx, "reload; the device cannot verify her",
		chromedp.Reload(),
		chromedp.WaitVisible(heading("Use your passkey")),
		chromedp.WaitVisible(errorText))
	if msg := text(t, ctx, errorText); msg != "The passkey request was cancelled or timed out. If this device doesn't have your passkey, use the phone or security key that does. Select Use my passkey to try again." {
		t.Fatalf("the message: %q", msg)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/.stepgate/verify" {
		t.Fatalf("after the refusal: %s", loc)
	}
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("passkey-go").disabled`)); err != nil || !ok {
		t.Fatalf("the button is not ready to try again: %v", err)
	}
	onPhone(t, ctx, "41-passkey-verify-error")

	devtools(t, ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: device, IsUserVerified: true})
	step(t, ctx, "try again", chromedp.Click(button("Use my passkey")), hello("alice"))

	// The passkey deleted from the device (Stepgate still has it): the
	// browser says no more than that the request was not allowed, and the
	// page stays.
	devtools(t, ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: device})
	signOut(t, ctx)
	passwordStep(t, ctx, "alice", testPassword, "Use your passkey")
	step(t, ctx, "no passkey on the device", chromedp.WaitVisible(errorText))
	if msg := text(t, ctx, errorText); !strings.HasPrefix(msg, "The passkey request was cancelled or timed out.") {
		t.Fatalf("the message without the passkey: %q", msg)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/.stepgate/verify" {
		t.Fatalf("without the passkey: %s", loc)
	}
}

// appHeader reads the identity header the demo app shows it received.
func appHeader(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	return text(t, ctx, chromedp.Search(fmt.Sprintf(`//tr[th[normalize-space()=%q]]/td`, name)))
}

// TestBrowserPasskeyFromSecurityInfo: alice sets up an authenticator app
// at her first sign-in, then adds a passkey on Security info, by the
// words on the screen, and finds it listed by its name beside the app.
// Being the strongest, it becomes her default: her next sign-in is her
// password and then nothing but her device (the verify page asks it by
// itself), and the app learns password,passkey; the one after is the
// passkey alone from the sign-in page, with no password, and the app
// learns passkey.
func TestBrowserPasskeyFromSecurityInfo(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "passkeys")
	startCaddyfile(t, block, demoSite())
	ctx := newBrowser(t, chromedp.WindowSize(1280, 800))
	device := builtInPasskeys(t, ctx)

	// The device holds nothing yet; the sign-in page's autofill waits
	// unanswered all the same while she types.
	presence(t, ctx, device, false)
	secret := firstSignInWithApp(t, ctx, "alice")
	if got := appHeader(t, ctx, "Remote-Auth-Methods"); got != "password,totp" {
		t.Fatalf("the app's Remote-Auth-Methods after the first sign-in: %q", got)
	}
	presence(t, ctx, device, true)

	step(t, ctx, "open Security info",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")))
	step(t, ctx, "choose to add a passkey",
		chromedp.Click(button("Add a passkey or security key")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Add a passkey or security key"] | //form//button[normalize-space()="Verify it's you"]`)))
	if h := text(t, ctx, chromedp.Search(`//h1`)); h != "Add a passkey or security key" {
		// Her second step is older than the site allows for changes:
		// she verifies with the app (the page submits itself at the
		// sixth digit, a code the first sign-in did not use).
		step(t, ctx, "verify it's you",
			chromedp.Click(button("Verify it's you")),
			chromedp.WaitVisible(labelled("Enter code")),
			chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now().Add(30*time.Second))),
			chromedp.WaitVisible(heading("Add a passkey or security key")))
	}
	step(t, ctx, "name the passkey and create it",
		chromedp.Clear(labelled("Name")),
		chromedp.SendKeys(labelled("Name"), "Office key"),
		chromedp.Click(button("Create passkey")),
		chromedp.WaitVisible(heading("Security info")),
		// The passkey is her strongest method, so sign-in starts with
		// it: the page says so.
		chromedp.WaitVisible(chromedp.Search(`//*[@id="done" and starts-with(normalize-space(), "Your sign-in method was added. Sign-in starts with it, as your strongest method")]`)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, base+"/.stepgate/security-info") {
		t.Fatalf("after adding the passkey: %s", loc)
	}
	keys := passkeysOn(t, ctx, device)
	if len(keys) != 1 || !keys[0].IsResidentCredential || keys[0].RpID != "localhost" || keys[0].UserName != "alice" {
		for _, k := range keys {
			t.Logf("a passkey: resident %v, for %q, user %q", k.IsResidentCredential, k.RpID, k.UserName)
		}
		t.Fatalf("the device holds %d passkeys after the set-up, want alice's one for localhost, kept on the device", len(keys))
	}
	key := keys[0]
	methods, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("ul.methods li.method .method-name")].map(p => p.innerText)`))
	if err != nil {
		t.Fatalf("reading the methods: %v", err)
	}
	if !slices.Contains(methods, "Authenticator app") || !slices.Contains(methods, "Passkey or security key Office key") || len(methods) != 2 {
		t.Fatalf("Security info's methods after adding the passkey: %q", methods)
	}
	if def, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("default").selectedOptions[0].value`)); err != nil || def != "passkey" {
		t.Fatalf("the default sign-in method after adding the passkey: %q %v", def, err)
	}
	onPhone(t, ctx, "45-passkey-added-security-info")

	// Her password, then the passkey by itself: no code to type.
	passwordThenPasskey(t, ctx, device)
	if got := appHeader(t, ctx, "Remote-Auth-Methods"); got != "password,passkey" {
		t.Fatalf("the app's Remote-Auth-Methods after the password and the passkey: %q", got)
	}
	if keys := passkeysOn(t, ctx, device); len(keys) != 1 {
		t.Fatalf("the device holds %d passkeys after the sign-in, want 1", len(keys))
	} else if keys[0].SignCount != key.SignCount+1 {
		t.Fatalf("the device did not sign the sign-in once: counter %v then %v", key.SignCount, keys[0].SignCount)
	}

	// The passkey alone, from the sign-in page's button.
	passkeyAlone(t, ctx, device, "")
	if got := appHeader(t, ctx, "Remote-Auth-Methods"); got != "passkey" {
		t.Fatalf("the app's Remote-Auth-Methods after the passkey alone: %q", got)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/" {
		t.Fatalf("after the passkey alone: %s", loc)
	}
}

// passwordThenPasskey signs alice out, then in with her password, the
// device's presence off while she types (the sign-in page's autofill
// would answer at once) and on before she signs in: the verify page asks
// the device by itself and she reaches the app.
func passwordThenPasskey(t *testing.T, ctx context.Context, device webauthn.AuthenticatorID) {
	t.Helper()
	signOut(t, ctx)
	presence(t, ctx, device, false)
	step(t, ctx, "type the password",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Password"), testPassword))
	presence(t, ctx, device, true)
	step(t, ctx, "sign in; the verify page asks the device by itself",
		chromedp.Click(button("Sign in")),
		hello("alice"))
}

// passkeyAlone signs alice out, then in with "Sign in with a passkey" and
// no password; with shot, it keeps pictures of the sign-in page.
func passkeyAlone(t *testing.T, ctx context.Context, device webauthn.AuthenticatorID, shot string) {
	t.Helper()
	passkeyAloneAs(t, ctx, device, "alice", shot)
}

// passkeyAloneAs is passkeyAlone for user.
func passkeyAloneAs(t *testing.T, ctx context.Context, device webauthn.AuthenticatorID, user, shot string) {
	t.Helper()
	signOut(t, ctx)
	presence(t, ctx, device, false)
	step(t, ctx, "open the sign-in page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.WaitVisible(button("Sign in with a passkey")))
	if shot != "" {
		onPhone(t, ctx, shot)
	}
	presence(t, ctx, device, true)
	step(t, ctx, "sign in with a passkey",
		chromedp.Click(button("Sign in with a passkey")),
		hello(user))
}
