package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stepgate/stepgate/account"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

// signOut signs out from the demo app's page or Security info, confirming
// when the portal asks.
func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "sign out",
		chromedp.Click(button("Sign out")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Sign out" or normalize-space()="You're signed out"]`)))
	if h := text(t, ctx, chromedp.Search(`//h1`)); h == "Sign out" {
		step(t, ctx, "confirm sign out",
			chromedp.Click(button("Sign out")),
			chromedp.WaitVisible(heading("You're signed out")))
	}
}

// TestBrowserHelpDesk: alice loses the phone with her authenticator app.
// The help desk runs the real `stepgate user reset-methods` and `stepgate
// user tap` against the Caddyfile the running Caddy serves, and reads her
// a Temporary Access Pass. In Chromium she chooses "Use a Temporary
// Access Pass" on the sign-in page, lands on Security info, cannot reach
// the app until she adds a method, adds a new authenticator app, and
// opens the app. Her next sign-in is her password and the new app's code;
// the pass, used once, no longer works.
func TestBrowserHelpDesk(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "")
	caddyfile := startCaddyfile(t, block, demoSite())
	config := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(config, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t)
	lost := firstSignInWithApp(t, ctx, "alice")
	signOut(t, ctx)

	// The help desk, with the same commands an administrator types.
	admin := func(args ...string) string {
		t.Helper()
		out, err := userCommand(t, "", append(args, "--config", config, "--json")...)
		if err != nil {
			t.Fatalf("stepgate user %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	var reset struct {
		Removed *int `json:"removed"`
	}
	if out := admin("reset-methods", "alice"); json.Unmarshal([]byte(out), &reset) != nil || reset.Removed == nil || *reset.Removed != 1 {
		t.Fatalf("reset-methods --json: %s", out)
	}
	var tap struct {
		Pass *account.IssuedPass `json:"pass"`
	}
	if out := admin("tap", "alice"); json.Unmarshal([]byte(out), &tap) != nil || tap.Pass == nil || len(tap.Pass.Pass) != account.DefaultPassLength {
		t.Fatalf("tap --json: %s", out)
	}
	pass := tap.Pass.Pass
	// reset-methods ended alice's sessions up to the end of the current
	// second (sessions carry whole seconds; SECURITY.md, Known limits),
	// and the gateway applies that at its next poll: a person takes longer
	// than that to sign in, the browser here may not.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))

	step(t, ctx, "open the app",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.WaitVisible(button("Use a Temporary Access Pass")))
	onPhone(t, ctx, "26-sign-in-pass-link")
	step(t, ctx, "choose the pass",
		chromedp.Click(button("Use a Temporary Access Pass")),
		chromedp.WaitVisible(heading("Use a Temporary Access Pass")),
		chromedp.WaitVisible(labelled("Temporary Access Pass")))
	if msg := text(t, ctx, chromedp.Search(`//main/p[contains(., "Temporary Access Pass")]`)); !strings.Contains(msg, "the help desk can give you a Temporary Access Pass") {
		t.Fatalf("the pass page's explanation: %q", msg)
	}
	onPhone(t, ctx, "27-access-pass")
	step(t, ctx, "sign in with the pass",
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Temporary Access Pass"), pass),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(heading("Security info")),
		chromedp.WaitVisible(chromedp.ID("done")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="done"]`)); !strings.Contains(msg, "You're signed in with a Temporary Access Pass. Add the sign-in methods") {
		t.Fatalf("Security info after the pass says %q", msg)
	}
	// reset-methods removed the lost app: the page says she has no
	// method, and does not send her back to the help desk she just
	// called.
	if m := text(t, ctx, chromedp.Search(`//*[@id="no-methods"]`)); m != "You have no sign-in methods yet. Add one below." {
		t.Fatalf("the methods after reset-methods: %q", m)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("ul.methods li, #default").length`)); err != nil || n != 0 {
		t.Fatalf("Security info after reset-methods lists a method or a default (%d): %v", n, err)
	}
	// The pass stands for the second step: no "verify it's you first".
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#verify-first").length`)); err != nil || n != 0 {
		t.Fatalf("Security info asks to verify first after the pass (%d): %v", n, err)
	}
	onPhone(t, ctx, "28-security-info-after-pass")

	// The app sends her back until she has a method.
	step(t, ctx, "try the app",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Security info")),
		chromedp.WaitVisible(chromedp.ID("done")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="done"]`)); !strings.Contains(msg, "Add a sign-in method before you go on") {
		t.Fatalf("the app sent her to Security info saying %q", msg)
	}

	step(t, ctx, "add an authenticator app",
		chromedp.Click(button("Add an authenticator app")),
		chromedp.WaitVisible(chromedp.ID("secret")))
	checkAccessible(t, ctx, "adding an authenticator app from Security info")
	secret := strings.ReplaceAll(text(t, ctx, chromedp.Search(`//*[@id="secret"]`)), " ", "")
	if len(secret) < 16 || secret == lost {
		t.Fatalf("the new app's secret %q (the lost one %q)", secret, lost)
	}
	step(t, ctx, "confirm the new app",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now())),
		chromedp.Click(chromedp.Search(`//form[.//input[@name="code"]]//button[@type="submit"]`)),
		chromedp.WaitVisible(heading("Security info")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="done" and normalize-space()="Your sign-in method was added."]`)))
	if m := text(t, ctx, chromedp.Search(`//ul[@class="methods"]`)); !strings.Contains(m, "Authenticator app") {
		t.Fatalf("methods after adding the app:\n%s", m)
	}
	step(t, ctx, "open the app",
		chromedp.Click(button("Back to the app")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))

	// Her next sign-in: password and the new app.
	signOut(t, ctx)
	passwordStep(t, ctx, "alice", testPassword, "Enter code")
	step(t, ctx, "the new app's code",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now().Add(30*time.Second))),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))

	// The pass worked once.
	signOut(t, ctx)
	step(t, ctx, "the used pass again",
		chromedp.Navigate(base+"/.stepgate/access-pass"),
		chromedp.WaitVisible(heading("Use a Temporary Access Pass")),
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Temporary Access Pass"), pass),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("error")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="error"]`)); msg != "That Temporary Access Pass didn't work. Check the username and the pass, or ask the help desk for a new one." {
		t.Fatalf("the used pass: %q", msg)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(labelled("Username"))); v != "alice" {
		t.Errorf("the pass page forgot the username: %q", v)
	}
	onPhone(t, ctx, "29-access-pass-error")
}

// TestBrowserHelpDeskChangePassword changes alice's password from
// Security info in Chromium: a common password is refused with the
// policy's reason, a good one is taken, the page confirms it, and her
// next sign-in uses it.
func TestBrowserHelpDeskChangePassword(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "")
	startCaddyfile(t, block, demoSite())

	ctx := newBrowser(t)
	secret := firstSignInWithApp(t, ctx, "alice")
	step(t, ctx, "open Security info",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")),
		chromedp.Click(button("Change password")),
		chromedp.WaitVisible(heading("Change password")),
		chromedp.WaitVisible(labelled("Current password")))
	checkAccessible(t, ctx, "the Change password page")
	change := func(what, current, next string, until chromedp.Action[chromedp.Void]) {
		t.Helper()
		step(t, ctx, what,
			chromedp.SendKeys(labelled("Current password"), current),
			chromedp.SendKeys(labelled("New password"), next),
			chromedp.SendKeys(labelled("Confirm new password"), next),
			chromedp.Click(button("Change password")),
			until)
	}
	change("a common password", testPassword, "password123", chromedp.WaitVisible(chromedp.ID("error")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="error"]`)); !strings.Contains(msg, "too common") {
		t.Fatalf("the refusal of password123: %q", msg)
	}
	onPhone(t, ctx, "30-change-password-refused")

	const fresh = "lantern orbit meadow"
	change("a good password", testPassword, fresh,
		chromedp.WaitVisible(chromedp.Search(`//*[@id="done" and normalize-space()="Your password was changed. You're signed out everywhere else."]`)))
	onPhone(t, ctx, "31-password-changed")

	// She stays signed in here, and signs in next time with the new one.
	step(t, ctx, "still signed in",
		chromedp.Click(button("Back to the app")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))
	signOut(t, ctx)
	step(t, ctx, "the old password",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Password"), testPassword),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("error")))
	passwordStep(t, ctx, "alice", fresh, "Enter code")
	step(t, ctx, "the app's code",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now().Add(30*time.Second))),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))
}

// TestBrowserPasswordReset: alice forgot her password. On the sign-in
// page she chooses "Forgot my password?", types her name, verifies with
// her authenticator app and then a texted code (two methods, the
// default), is refused a common password with the policy's reason,
// chooses a good one, and signs in with it and her app. A name that does
// not exist is told it can't reset here, as a user without methods would
// be.
func TestBrowserPasswordReset(t *testing.T) {
	tw := smstest.NewTwilio(t, twilioSID, twilioToken)
	block, db := stepgateBlock(t, writeUsers(t, "alice"), fmt.Sprintf(`sms twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
		}
		send_limits {
			cooldown 10ms
		}
		password_reset`, twilioSID, twilioToken, tw.URL))
	startCaddyfile(t, block, demoSite())

	ctx := newBrowser(t)
	secret := firstSignInWithApp(t, ctx, "alice")
	withStore(t, db, func(ctx context.Context, st *store.SQLite) {
		if err := st.SetPhone(ctx, "alice", alicePhone); err != nil {
			t.Fatal(err)
		}
	})
	signOut(t, ctx)

	step(t, ctx, "open the app",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.Click(button("Forgot my password?")),
		chromedp.WaitVisible(heading("Reset your password")))
	onPhone(t, ctx, "32-password-reset")
	step(t, ctx, "a name that does not exist",
		chromedp.SendKeys(labelled("Username"), "nobody"),
		chromedp.Click(button("Next")),
		chromedp.WaitVisible(chromedp.ID("error")))
	const cant = "You can't reset your password here. Resetting it needs two different verification methods set up for your account. Contact the help desk to reset your password."
	if msg := text(t, ctx, chromedp.Search(`//*[@id="error"]`)); msg != cant {
		t.Fatalf("the reset for an unknown name says %q", msg)
	}
	onPhone(t, ctx, "33-password-reset-refused")

	step(t, ctx, "alice's name",
		chromedp.Clear(labelled("Username")),
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.Click(button("Next")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="step" and normalize-space()="To reset your password, verify it's you: step 1 of 2."]`)))
	onPhone(t, ctx, "34-password-reset-step-1")
	// The page submits itself at the sixth digit; the app's code of the
	// next 30 s step, as the first sign-in used this one's.
	step(t, ctx, "the app's code",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now().Add(30*time.Second))),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="step" and normalize-space()="To reset your password, verify it's you: step 2 of 2."]`)),
		chromedp.WaitVisible(chromedp.ID("prompt")))
	// The app counted once: nothing else to choose from.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.evaluate('//*[self::a or self::button][normalize-space()="Sign in another way"]', document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`)); err != nil || n != 0 {
		t.Fatalf("the second step offers another way (%d links): %v", n, err)
	}
	if msg := text(t, ctx, chromedp.Search(`//*[@id="no-other"]`)); msg != "Your other methods have been used for this reset. If you can't use this one, contact the help desk." {
		t.Fatalf("the second step says %q", msg)
	}
	onPhone(t, ctx, "35-password-reset-step-2")
	step(t, ctx, "the texted code",
		chromedp.SendKeys(labelled("Enter code"), tw.LastCode(alicePhone)),
		chromedp.WaitVisible(heading("Choose a new password")))
	choose := func(what, pw string, until chromedp.Action[chromedp.Void]) {
		t.Helper()
		step(t, ctx, what,
			chromedp.Clear(labelled("New password")),
			chromedp.Clear(labelled("Confirm new password")),
			chromedp.SendKeys(labelled("New password"), pw),
			chromedp.SendKeys(labelled("Confirm new password"), pw),
			chromedp.Click(button("Reset password")),
			until)
	}
	choose("a common password", "password123", chromedp.WaitVisible(chromedp.ID("error")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="error"]`)); !strings.Contains(msg, "too common") {
		t.Fatalf("the refusal of password123: %q", msg)
	}
	onPhone(t, ctx, "36-new-password-refused")
	const fresh = "copper kettle harbour"
	choose("a good password", fresh, chromedp.WaitVisible(heading("Your password was changed")))
	onPhone(t, ctx, "37-password-reset-done")

	step(t, ctx, "continue to sign in",
		chromedp.Click(button("Continue")),
		chromedp.WaitVisible(heading("Sign in")))
	// The new password, then a text: the app's codes of this minute are
	// used up. The reset signed out every session issued up to the end
	// of its second (issue times are whole seconds), and a browser can
	// sign in again within that second, which no person does: wait it out.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	passwordStep(t, ctx, "alice", fresh, "Enter code")
	step(t, ctx, "sign in with a text",
		chromedp.Click(button("Sign in another way")),
		chromedp.WaitVisible(heading("Verify your identity")),
		chromedp.Click(button("Text +1 ••• ••• ••71")),
		chromedp.WaitVisible(chromedp.ID("prompt")))
	step(t, ctx, "the texted code",
		chromedp.SendKeys(labelled("Enter code"), tw.LastCode(alicePhone)),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))
}
