package caddymodule_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers/push/pushtest"
	"github.com/stepgate/stepgate/verifiers/sms/smstest"
)

var update = flag.Bool("update", false, "rewrite the screenshots in testdata/screens/")

// chromiumPath finds Debian's Chromium. Outside CI a missing browser skips
// the test with a message; in CI (CI=true) it is a failure, because
// .ci/run installs it.
func chromiumPath(t *testing.T) string {
	return findTool(t, "Chromium", "apt-get install -y --no-install-recommends chromium",
		os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser")
}

// findTool returns the first of paths that can be run. Without one, a
// test fails in CI (.ci/run installs what the tests need) and is skipped
// elsewhere, saying how to install it.
func findTool(t *testing.T, name, install string, paths ...string) string {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found; .ci/run should have installed it (scripts/install-test-deps.sh)", name)
	}
	t.Skipf("%s not found: install it with `%s` (or run scripts/install-test-deps.sh)", name, install)
	return ""
}

func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 900),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser on the long-lived context: the first Run on a
	// context owns the browser, and steps run with their own timeouts.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// labelled selects the input that the label with this visible text names,
// the way a person finds a field.
func labelled(label string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//input[@id=//label[normalize-space()=%q]/@for]`, label))
}

// button selects a button (or a link) by its visible text.
func button(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//*[self::button or self::a][normalize-space()=%q]`, text))
}

func heading(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//h1[normalize-space()=%q]`, text))
}

// step runs actions with a timeout, failing the test with what the page
// showed if they do not complete.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		body, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body.innerText`))
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

func text(t *testing.T, ctx context.Context, sel chromedp.Search) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

// demoSite serves the demo app (a page showing the identity headers)
// behind stepgate.
func demoSite() string {
	demo, _ := filepath.Abs("../demo")
	return fmt.Sprintf(`
http://localhost:9080 {
	stepgate
	root * %s/app
	templates
	file_server
}
`, demo)
}

// passwordStep opens the app, is sent to the sign-in page, signs in with
// the password and waits for the page titled next.
func passwordStep(t *testing.T, ctx context.Context, user, pw, next string) {
	t.Helper()
	step(t, ctx, user+"'s password",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading("Sign in")),
		chromedp.SendKeys(labelled("Username"), user),
		chromedp.SendKeys(labelled("Password"), pw),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(heading(next)))
}

// screenshot checks the page's accessibility with axe-core
// (checkAccessible) and keeps a picture of it in testdata/screens/ with
// -update: every page state a test keeps a picture of is checked.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	checkAccessible(t, ctx, "the page shot as "+name)
	if !*update {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	os.MkdirAll("testdata/screens", 0o755)
	if err := os.WriteFile(filepath.Join("testdata/screens", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserFirstSignIn signs in for the first time in Chromium as a
// person would, by the words on the screen, against the demo's own site
// (demo/users.yaml, demo/app) served by a real Caddy.
func TestBrowserFirstSignIn(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	// A copy of the demo's users: a sign-in may rewrite the file (a hash
	// with other parameters is upgraded), and the test must not change
	// the repository.
	demoUsers, err := os.ReadFile("../demo/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers, 0o600); err != nil {
		t.Fatal(err)
	}
	startCaddyfile(t, fmt.Sprintf(`
		users_file %s/users.yaml
		secret_file %s/secret
		store sqlite %s/state.db
		totp {
			issuer "Stepgate demo"
		}
		registration first_sign_in
		help_contact "the demo's administrator"`, dir, dir, dir), demoSite())

	step(t, ctx, "open the app", chromedp.Navigate(base+"/?from=browser"), chromedp.WaitVisible(heading("Sign in")))
	if loc, err := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/.stepgate/?rd=%2F%3Ffrom%3Dbrowser") {
		t.Fatalf("not redirected to the portal with rd: %q %v", loc, err)
	}
	screenshot(t, ctx, "1-sign-in")

	// A wrong password first: the page says so and keeps the username.
	step(t, ctx, "wrong password",
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Password"), "not-the-password"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("error")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="error"]`)); !strings.Contains(msg, "Your account or password is incorrect") {
		t.Fatalf("wrong-password message: %q", msg)
	}
	screenshot(t, ctx, "2-wrong-password")
	// "Show password" shows what was typed, and hides it again.
	passwordType := func() string {
		typ, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("password").type`))
		return typ
	}
	step(t, ctx, "show the password", chromedp.SendKeys(labelled("Password"), "stepgate"), chromedp.Click(button("Show password")),
		chromedp.WaitVisible(button("Hide password")))
	if typ := passwordType(); typ != "text" {
		t.Errorf("after Show password the field is %q", typ)
	}
	step(t, ctx, "hide the password", chromedp.Click(button("Hide password")), chromedp.WaitVisible(button("Show password")))
	if typ := passwordType(); typ != "password" {
		t.Errorf("after Hide password the field is %q", typ)
	}

	step(t, ctx, "password step",
		chromedp.SendKeys(labelled("Password"), "-demo"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(heading("Set up your authenticator app")))
	// The page names the account, and its back arrow leads to the
	// password step, keeping the page to return to.
	if who := text(t, ctx, chromedp.Search(`//p[@class="who"]`)); who != "← Alice Example alice" {
		t.Errorf("the set-up page names the account as %q", who)
	}
	step(t, ctx, "back to the password step",
		chromedp.Click(chromedp.Search(`//a[@aria-label="Back to the password step"]`)),
		chromedp.WaitVisible(heading("Sign in")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/.stepgate/?rd=%2F%3Ffrom%3Dbrowser") {
		t.Errorf("the back arrow led to %q", loc)
	}
	step(t, ctx, "password step again",
		chromedp.SendKeys(labelled("Username"), "alice"),
		chromedp.SendKeys(labelled("Password"), "stepgate-demo"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(heading("Set up your authenticator app")))
	// The QR code image really loads (CSP allows it, the PNG decodes).
	if ok, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("img.qr").complete && document.querySelector("img.qr").naturalWidth >= 150`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil || !ok {
		t.Fatalf("the QR code image did not load: %v", err)
	}
	screenshot(t, ctx, "3-register-authenticator")
	secret := strings.ReplaceAll(text(t, ctx, chromedp.Search(`//*[@id="secret"]`)), " ", "")
	if len(secret) < 16 {
		t.Fatalf("secret shown for manual entry: %q", secret)
	}
	// On a phone the page opens at its heading and instructions, and a
	// wrong code's error is on screen, beside the focused code box. The
	// key wraps between its groups of four only.
	phoneScreen(t, ctx)
	step(t, ctx, "the set-up page on a phone", chromedp.Reload(), chromedp.WaitVisible(heading("Set up your authenticator app")))
	if scrolled, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.scrollY`)); scrolled != 0 {
		t.Errorf("the set-up page opens scrolled down by %v px", scrolled)
	}
	if broken, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const n = document.getElementById("secret").firstChild;
		let i = 0;
		for (const g of n.textContent.split(" ")) {
			const r = document.createRange();
			r.setStart(n, i);
			r.setEnd(n, i + g.length);
			if (r.getClientRects().length > 1) return true;
			i += g.length + 1;
		}
		return false;
	})()`)); broken {
		t.Error("the manual-entry key wraps inside a group of four")
	}
	step(t, ctx, "a wrong code",
		chromedp.SendKeys(labelled("Enter code"), "000000"),
		chromedp.Click(button("Verify and finish")),
		chromedp.WaitVisible(chromedp.ID("error")))
	if !inView(t, ctx, "error") {
		t.Error("after a wrong set-up code the error is off screen")
	}
	if focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id + " " + document.activeElement.getAttribute("aria-describedby")`)); focused != "code error" {
		t.Errorf("after a wrong set-up code the focus is on %q, want the code box described by the error", focused)
	}
	screenshot(t, ctx, "3-register-wrong-code-phone")
	desktopScreen(t, ctx)

	step(t, ctx, "confirm the authenticator",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now())),
		chromedp.Click(button("Verify and finish")),
		chromedp.WaitVisible(chromedp.Search(`//h1[starts-with(normalize-space(), "Hello")]`)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/?from=browser" {
		t.Fatalf("not back at the page first asked for: %s", loc)
	}
	body := text(t, ctx, chromedp.Search(`//body`))
	for _, want := range []string{"Hello, alice!", "Remote-User\talice", "Remote-Groups\tengineering,demo", "Remote-Email\talice@example.com", "Remote-Name\tAlice Example"} {
		if !strings.Contains(body, want) {
			t.Errorf("the app page lacks %q:\n%s", want, body)
		}
	}
	screenshot(t, ctx, "4-signed-in-app")

	step(t, ctx, "sign out",
		chromedp.Click(button("Sign out")),
		chromedp.WaitVisible(heading("Sign out")))
	screenshot(t, ctx, "5-sign-out")
	step(t, ctx, "confirm sign out",
		chromedp.Click(button("Sign out")),
		chromedp.WaitVisible(heading("You're signed out")))
	screenshot(t, ctx, "6-signed-out")

	// Back again: a user with an authenticator gets "Enter code" directly,
	// and the page submits itself when the sixth digit is typed.
	passwordStep(t, ctx, "alice", "stepgate-demo", "Enter code")
	screenshot(t, ctx, "7-enter-code")
	step(t, ctx, "type the code",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now().Add(30*time.Second))),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/" {
		t.Fatalf("after the second sign-in: %s", loc)
	}
}

// TestBrowserTextMessages sets up a phone at first sign-in, then signs in
// another user "another way" by text message, in Chromium, against a real
// Caddy sending texts through the real twilio-go client to a fake Twilio.
func TestBrowserTextMessages(t *testing.T) {
	tw := smstest.NewTwilio(t, twilioSID, twilioToken)
	block, db := stepgateBlock(t, writeUsers(t, "alice", "dave"), fmt.Sprintf(`sms twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
		}`, twilioSID, twilioToken, tw.URL))
	startCaddyfile(t, block, demoSite())

	ctx := newBrowser(t)
	passwordStep(t, ctx, "alice", testPassword, "Set up your authenticator app")
	step(t, ctx, "choose a phone",
		chromedp.Click(button("Get codes by text message instead")),
		chromedp.WaitVisible(heading("Set up your phone")))
	screenshot(t, ctx, "8-set-up-phone")
	step(t, ctx, "a number that is not international",
		chromedp.SendKeys(labelled("Phone number"), "415 555 2671"),
		chromedp.Click(button("Send code")),
		chromedp.WaitVisible(chromedp.ID("error")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="error"]`)); !strings.Contains(msg, "international form") {
		t.Fatalf("message for a number without +: %q", msg)
	}
	step(t, ctx, "send the code",
		chromedp.SendKeys(labelled("Phone number"), "+1 415 555 2671"),
		chromedp.Click(button("Send code")),
		chromedp.WaitVisible(chromedp.ID("prompt")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="prompt"]`)); !strings.Contains(msg, "We texted your phone +1 ••• ••• ••71.") {
		t.Fatalf("prompt: %q", msg)
	}
	screenshot(t, ctx, "9-confirm-phone")
	step(t, ctx, "confirm the phone",
		chromedp.SendKeys(labelled("Enter code"), tw.LastCode(alicePhone)),
		chromedp.Click(button("Verify and finish")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))

	// dave has an authenticator app and a phone; he signs in by text.
	newClient(t).register("dave", "/")
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetPhone(context.Background(), "dave", davePhone)
	st.Close()
	ctx = newBrowser(t)
	passwordStep(t, ctx, "dave", testPassword, "Enter code")
	step(t, ctx, "sign in another way",
		chromedp.Click(button("Sign in another way")),
		chromedp.WaitVisible(heading("Verify your identity")))
	screenshot(t, ctx, "10-sign-in-another-way")
	step(t, ctx, "choose a text",
		chromedp.Click(button("Text +1 ••• ••• ••99")),
		chromedp.WaitVisible(chromedp.ID("prompt")))
	screenshot(t, ctx, "11-text-code")
	// The page submits itself at the sixth digit.
	step(t, ctx, "type the texted code",
		chromedp.SendKeys(labelled("Enter code"), tw.LastCode(davePhone)),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, dave!"]`)))
}

// TestBrowserPhoneCall signs in by a phone call in Chromium with the demo's
// development outbox: the waiting page polls, the simulate button stands
// in for pressing #, and the page continues by itself.
func TestBrowserPhoneCall(t *testing.T) {
	block, db := stepgateBlock(t, writeUsers(t, "dave"), `sms outbox
		voice outbox`)
	startCaddyfile(t, block, demoSite())
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetPhone(context.Background(), "dave", davePhone)
	st.Close()

	ctx := newBrowser(t)
	passwordStep(t, ctx, "dave", testPassword, "Answer the call")
	if msg := text(t, ctx, chromedp.Search(`//*[@id="prompt"]`)); !strings.Contains(msg, "We're calling your phone +1 ••• ••• ••99. Answer it and press the pound key (#)") {
		t.Fatalf("waiting page: %q", msg)
	}
	screenshot(t, ctx, "12-answer-the-call")
	// No click on "continue": the page notices the answer by itself.
	step(t, ctx, "simulate pressing #",
		chromedp.Click(button("Simulate pressing #")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, dave!"]`)))
}

// TestBrowserAuthenticatorApp sets up the Stepgate Authenticator in one
// Chromium tab (the "phone") from the QR code's link shown in another (the
// computer), then signs in by typing the number on the phone and
// approving: the sign-in page continues by itself.
func TestBrowserAuthenticatorApp(t *testing.T) {
	svc := pushtest.NewService(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), fmt.Sprintf(`push {
			contact mailto:ops@example.com
			service %s
		}`, svc.Origin()))
	startCaddyfile(t, block, demoSite())

	computer := newBrowser(t)
	passwordStep(t, computer, "alice", testPassword, "Set up your authenticator app")
	step(t, computer, "choose sign-in requests",
		chromedp.Click(button("Get sign-in requests on your phone instead (Stepgate Authenticator, no app store needed)")),
		chromedp.WaitVisible(heading("Set up your phone for sign-in requests")))
	if ok, err := chromedp.Run(computer, chromedp.Poll[bool](`document.querySelector("img.qr").complete && document.querySelector("img.qr").naturalWidth >= 150`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil || !ok {
		t.Fatalf("the set-up QR code did not load: %v", err)
	}
	screenshot(t, computer, "13-push-set-up")
	link, err := chromedp.Run(computer, chromedp.Evaluate[string](`document.getElementById("enrol-link").href`))
	if err != nil || !strings.HasPrefix(link, base+"/.stepgate/authenticator/#enrol=") {
		t.Fatalf("set-up link %q: %v", link, err)
	}
	// On a phone, which cannot scan its own screen, "Set up this phone"
	// comes first, on screen without scrolling; on a computer it is not
	// there.
	visible := func() bool {
		shown, _ := chromedp.Run(computer, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById("enrol-here")).display !== "none"`))
		return shown
	}
	if visible() {
		t.Error(`a computer's set-up page offers "Set up this phone"`)
	}
	phoneScreen(t, computer)
	if here, _ := chromedp.Run(computer, chromedp.Evaluate[string](`document.querySelector("#enrol-here a").href`)); !visible() || !inView(t, computer, "enrol-here") || here != link {
		t.Errorf(`a phone's set-up page: "Set up this phone" shown %v, on screen %v, link %q`, visible(), inView(t, computer, "enrol-here"), here)
	}
	screenshot(t, computer, "13-push-set-up-phone")
	desktopScreen(t, computer)

	// The phone: another browser opening the link the QR code holds.
	// Headless Chromium cannot reach a real push service, so notifications
	// are denied: the app must still enrol, and the user approves from its
	// list of requests (the notification path is covered by the Go tests
	// with real Web Push).
	phone := newBrowser(t)
	if _, err := chromedp.CallBrowser(phone, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingDenied}); err != nil {
		t.Fatalf("denying notifications: %v", err)
	}
	step(t, phone, "open the authenticator",
		chromedp.Navigate(link),
		chromedp.WaitVisible(heading("Set up this device")))
	screenshot(t, phone, "14-authenticator-set-up")
	step(t, phone, "set up the device",
		chromedp.SetValue(labelled("Device name"), "Test phone"),
		chromedp.Click(button("Set up this device")),
		chromedp.WaitVisible(heading("Sign-in requests")))
	if info := text(t, phone, chromedp.Search(`//*[@id="info"]`)); !strings.Contains(info, "This device is set up") {
		t.Fatalf("after set-up: %q", info)
	}
	// The computer's page noticed the phone and finished signing in.
	step(t, computer, "set-up page continues", chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))

	// Sign in again: approve on the phone.
	step(t, computer, "sign out",
		chromedp.Click(button("Sign out")), chromedp.WaitVisible(heading("Sign out")),
		chromedp.Click(button("Sign out")), chromedp.WaitVisible(heading("You're signed out")))
	passwordStep(t, computer, "alice", testPassword, "Approve sign in request")
	number := text(t, computer, chromedp.Search(`//*[@id="number"]`))
	if prompt := text(t, computer, chromedp.Search(`//*[@id="prompt"]`)); !strings.Contains(prompt, "Notifications are off on your phone. Open the Stepgate Authenticator") {
		t.Fatalf("approval page prompt: %q", prompt)
	}
	if hidden, _ := chromedp.Run(phone, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById("notify-button")).display === "none"`)); !hidden {
		t.Error("the phone offers to turn on notifications that are denied")
	}
	screenshot(t, computer, "15-approve-sign-in")
	// The page continues by itself: the button for browsers without
	// JavaScript is not there, nor a second instruction.
	if n, err := chromedp.Run(computer, chromedp.Evaluate[int](`document.evaluate('//*[self::a or self::button][normalize-space()="I approved it, continue"]', document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength + document.querySelectorAll("main p:not(.who):not(.brand):not(.number):not(.small)").length`)); err != nil || n != 1 {
		t.Errorf("the approval page with JavaScript: %d continue buttons and instructions, want the prompt alone, %v", n, err)
	}
	step(t, phone, "the request appears on the phone",
		chromedp.WaitVisible(chromedp.Search(`//h2[normalize-space()="Sign in to localhost:9080?"]`)))
	screenshot(t, phone, "16-authenticator-request")
	if from := text(t, phone, chromedp.Search(`//section[@class="request"]/p[1]`)); !strings.HasSuffix(from, "from the server itself (127.0.0.1)") {
		t.Errorf("the request says where it came from as %q", from)
	}
	if enabled, _ := chromedp.Run(phone, chromedp.Evaluate[bool](`!document.querySelector("button.approve").disabled`)); enabled {
		t.Error("Approve can be tapped before a number is typed")
	}
	step(t, phone, "type the number and approve",
		chromedp.SendKeys(labelled("Enter the number shown on the sign-in page"), number),
		chromedp.Click(button("Approve")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="info" and contains(., "Approved")]`)))
	screenshot(t, phone, "17-authenticator-approved")
	step(t, computer, "sign-in page continues", chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))

	// Without JavaScript the page cannot continue by itself: it offers
	// the button, which continues once the phone approved.
	noScript := func(off bool) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: off})
			return err
		})
	}
	step(t, computer, "sign out, JavaScript off",
		chromedp.Click(button("Sign out")), chromedp.WaitVisible(heading("Sign out")),
		chromedp.Click(button("Sign out")), chromedp.WaitVisible(heading("You're signed out")),
		noScript(true))
	passwordStep(t, computer, "alice", testPassword, "Approve sign in request")
	number = text(t, computer, chromedp.Search(`//*[@id="number"]`))
	step(t, computer, "the button is there", chromedp.WaitVisible(button("I approved it, continue")))
	// The accessibility check (in screenshot) is a script run in the
	// page, which does not finish with scripts off: they are on for it.
	// That runs none of the page's own, skipped when it loaded; the
	// button stays.
	step(t, computer, "scripts on for the accessibility check", noScript(false))
	screenshot(t, computer, "15-approve-sign-in-no-js")
	step(t, computer, "scripts off again", noScript(true), chromedp.WaitVisible(button("I approved it, continue")))
	step(t, phone, "approve the request",
		chromedp.WaitVisible(chromedp.Search(`//h2[normalize-space()="Sign in to localhost:9080?"]`)),
		chromedp.SendKeys(labelled("Enter the number shown on the sign-in page"), number),
		chromedp.Click(button("Approve")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="info" and contains(., "Approved")]`)))
	step(t, computer, "continue by hand",
		chromedp.Click(button("I approved it, continue")),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)),
		noScript(false))

	// Someone else with alice's password: she denies and reports it.
	step(t, computer, "sign out again",
		chromedp.Click(button("Sign out")), chromedp.WaitVisible(heading("Sign out")),
		chromedp.Click(button("Sign out")), chromedp.WaitVisible(heading("You're signed out")))
	passwordStep(t, computer, "alice", testPassword, "Approve sign in request")
	step(t, phone, "deny and report",
		chromedp.WaitVisible(chromedp.Search(`//h2[normalize-space()="Sign in to localhost:9080?"]`)),
		chromedp.Click(button("Deny")),
		chromedp.WaitVisible(button("Report suspicious activity")))
	screenshot(t, phone, "18-authenticator-deny")
	step(t, phone, "report",
		chromedp.Click(button("Report suspicious activity")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="error" and contains(., "The sign-in was stopped")]`)))
	step(t, computer, "the sign-in page says it was stopped",
		chromedp.WaitVisible(chromedp.Search(`//*[@id="error" and contains(., "You reported this sign-in as suspicious")]`)))
	screenshot(t, computer, "19-reported")
	// Requests are off now: the page offers neither another request nor
	// a wait for one.
	if n, err := chromedp.Run(computer, chromedp.Evaluate[int](`document.querySelectorAll("#resend, #number, form[data-poll]").length`)); err != nil || n != 0 {
		t.Errorf("after the report the page still offers requests (%d), %v", n, err)
	}
}

// ariaNamed selects an element by the name a screen reader announces for
// it, for controls whose visible text is the same in every row (Delete).
func ariaNamed(name string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//*[@aria-label=%q]`, name))
}

// choose picks the option with this visible text in the list the label
// names, as a person does.
func choose(label, option string) chromedp.Action[chromedp.Void] {
	list := fmt.Sprintf(`//select[@id=//label[normalize-space()=%q]/@for]`, label)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := chromedp.AttributeValue(chromedp.Search(fmt.Sprintf(`%s/option[normalize-space()=%q]`, list, option)), "value")(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.SetValue(chromedp.Search(list), v.Value)(ctx, t)
	}
}

// onPhone keeps pictures of the page at the test's desktop size and at a
// phone's (390×844, a mobile viewport) with -update, and, -update or not,
// fails when the page is wider than the phone's screen (text or controls
// a user would have to scroll sideways to reach).
func onPhone(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	screenshot(t, ctx, name)
	phoneScreen(t, ctx)
	defer desktopScreen(t, ctx)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	width, err := chromedp.Run(sctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatalf("page width: %v", err)
	}
	if width > 390 {
		t.Errorf("%s: the page is %d px wide on a 390 px phone", name, width)
	}
	screenshot(t, ctx, name+"-phone")
}

// phoneScreen makes the page a phone's (390×844, a mobile viewport).
func phoneScreen(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "phone-sized screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait))
}

// desktopScreen ends phoneScreen. The next click waits for the page's
// layout at the desktop size: a click aimed at a phone-sized layout misses.
func desktopScreen(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "desktop screen again", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
		return err
	}), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`window.innerWidth > 390 && new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)(ctx, t)
		return err
	}))
}

// inView reports whether the element with this id is wholly inside the
// visible part of the page.
func inView(t *testing.T, ctx context.Context, id string) bool {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := chromedp.Run(sctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const r = document.getElementById(%q).getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; })()`, id)))
	if err != nil {
		t.Fatalf("where #%s is: %v", id, err)
	}
	return ok
}

// firstSignInWithApp signs user in for the first time, setting up an
// authenticator app by typing its secret's code, and returns the secret.
func firstSignInWithApp(t *testing.T, ctx context.Context, user string) string {
	t.Helper()
	return firstSignInWithAppPassword(t, ctx, user, testPassword)
}

// firstSignInWithAppPassword is firstSignInWithApp with the user's
// password.
func firstSignInWithAppPassword(t *testing.T, ctx context.Context, user, pw string) string {
	t.Helper()
	passwordStep(t, ctx, user, pw, "Set up your authenticator app")
	secret := strings.ReplaceAll(text(t, ctx, chromedp.Search(`//*[@id="secret"]`)), " ", "")
	step(t, ctx, "set up the authenticator app",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now())),
		chromedp.Click(button("Verify and finish")),
		chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[normalize-space()="Hello, %s!"]`, user))))
	return secret
}

// TestBrowserSecurityInfo manages sign-in methods on the Security info
// page in Chromium, by the words on the screen: alice sets up an
// authenticator app at her first sign-in, then adds a phone for sign-in
// requests (a Go phone enrols from the page's link) and a phone for
// texts, makes texts her default, deletes the app and renames the
// device; her next sign-in starts with a text. When her second step is
// older than the site allows, a change asks her to verify first.
func TestBrowserSecurityInfo(t *testing.T) {
	tw := smstest.NewTwilio(t, twilioSID, twilioToken)
	svc := pushtest.NewService(t)
	// A short text cooldown: the test's texts follow each other within
	// a second.
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), fmt.Sprintf(`sms twilio {
			account_sid %s
			auth_token %s
			from +15555550100
			api_url %s
		}
		send_limits {
			cooldown 100ms
		}
		push {
			contact mailto:ops@example.com
			service %s
		}
		security_info {
			reauth 10m
		}`, twilioSID, twilioToken, tw.URL, svc.Origin()))
	startCaddyfile(t, block, demoSite())

	ctx := newBrowser(t)
	firstSignInWithApp(t, ctx, "alice")
	methods := func() string { return text(t, ctx, chromedp.Search(`//ul[@class="methods"]`)) }
	done := func(what, want string) {
		t.Helper()
		step(t, ctx, what+": back on Security info, saying "+want, chromedp.WaitVisible(heading("Security info")),
			chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//*[@id="done" and normalize-space()=%q]`, want))))
	}

	step(t, ctx, "open Security info",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")))
	if m := methods(); !strings.Contains(m, "Authenticator app") || strings.Contains(m, "Delete") {
		t.Fatalf("methods after the first sign-in (the only one cannot be deleted):\n%s", m)
	}
	onPhone(t, ctx, "20-security-info")

	// A phone for sign-in requests: the Go phone enrols with the link the
	// QR code holds, and the page continues by itself.
	step(t, ctx, "add a phone for sign-in requests",
		chromedp.Click(button("Add a phone for sign-in requests")),
		chromedp.WaitVisible(heading("Set up your phone for sign-in requests")))
	if ok, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("img.qr").complete && document.querySelector("img.qr").naturalWidth >= 150`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil || !ok {
		t.Fatalf("the set-up QR code did not load: %v", err)
	}
	onPhone(t, ctx, "21-add-phone-for-requests")
	link, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("enrol-link").href`))
	token, ok := strings.CutPrefix(link, base+"/.stepgate/authenticator/#enrol=")
	if err != nil || !ok {
		t.Fatalf("set-up link %q: %v", link, err)
	}
	ph := pushtest.NewPhone(t, svc, "Pixel")
	if status, out := device(t, "enrol", ph.Enrolment(token)); status != http.StatusOK {
		t.Fatalf("the phone's enrolment: %d %v", status, out)
	}
	done("device added", "Your sign-in method was added. Sign-in starts with it, as your strongest method; to start with another, change your default sign-in method.")
	if m := methods(); !strings.Contains(m, "Stepgate Authenticator Pixel") {
		t.Fatalf("methods after adding the phone:\n%s", m)
	}

	step(t, ctx, "add a phone for texts",
		chromedp.Click(button("Add a phone for text messages")),
		chromedp.WaitVisible(heading("Set up your phone")),
		chromedp.SendKeys(labelled("Phone number"), "+1 415 555 2671"),
		chromedp.Click(button("Send code")),
		chromedp.WaitVisible(chromedp.ID("prompt")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="prompt"]`)); !strings.Contains(msg, "We texted your phone +1 ••• ••• ••71.") {
		t.Fatalf("prompt: %q", msg)
	}
	onPhone(t, ctx, "22-add-phone-for-texts")
	step(t, ctx, "confirm the phone",
		chromedp.SendKeys(labelled("Enter code"), tw.LastCode(alicePhone)),
		chromedp.Click(button("Verify and save")))
	done("phone added", "Your sign-in method was added.")
	if m := methods(); !strings.Contains(m, "Text message +1 ••• ••• ••71") {
		t.Fatalf("methods after adding texts:\n%s", m)
	}
	onPhone(t, ctx, "23-security-info-methods")

	step(t, ctx, "make texts the default",
		choose("Default sign-in method", "Text +1 ••• ••• ••71"),
		chromedp.Click(button("Change")))
	done("default changed", "Your default sign-in method was changed.")
	step(t, ctx, "delete the authenticator app",
		chromedp.Click(ariaNamed("Delete Authenticator app")))
	done("app deleted", "The sign-in method was deleted.")
	if m := methods(); strings.Contains(m, "Authenticator app") {
		t.Fatalf("the deleted app is still listed:\n%s", m)
	}
	step(t, ctx, "rename the device",
		chromedp.Click(chromedp.Search(`//summary[normalize-space()="Rename"]`)),
		chromedp.WaitVisible(labelled("New name for Pixel")))
	checkAccessible(t, ctx, "Security info with Rename open")
	step(t, ctx, "type the new name",
		chromedp.Clear(labelled("New name for Pixel")),
		chromedp.SendKeys(labelled("New name for Pixel"), "Work phone"),
		chromedp.Click(button("Save name")))
	done("device renamed", "The device was renamed.")
	if m := methods(); !strings.Contains(m, "Work phone") || strings.Contains(m, "Pixel") {
		t.Fatalf("methods after the rename:\n%s", m)
	}
	onPhone(t, ctx, "24-security-info-changed")
	// On a phone Recent activity is one block per event, every column
	// readable without scrolling sideways.
	phoneScreen(t, ctx)
	if fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector(".activity").parentElement; return s.scrollWidth <= s.clientWidth && [...document.querySelectorAll(".activity td")].every(td => td.getBoundingClientRect().right <= window.innerWidth); })()`)); err != nil || !fits {
		t.Errorf("Recent activity on a phone needs a sideways scroll (%v)", err)
	}
	desktopScreen(t, ctx)

	// The next sign-in starts with her new default, a text.
	step(t, ctx, "sign out",
		chromedp.Click(button("Sign out")),
		chromedp.WaitVisible(heading("You're signed out")))
	passwordStep(t, ctx, "alice", testPassword, "Enter code")
	if msg := text(t, ctx, chromedp.Search(`//*[@id="prompt"]`)); !strings.Contains(msg, "••71") {
		t.Fatalf("the next sign-in did not start with a text: %q", msg)
	}
	// The page submits itself at the sixth digit.
	step(t, ctx, "sign in with the texted code",
		chromedp.SendKeys(labelled("Enter code"), tw.LastCode(alicePhone)),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Hello, alice!"]`)))
}

// TestBrowserSecurityInfoVerifyAgain: once alice's second step is older
// than the site's reauth window, the page says so, and starting a set-up
// asks her to verify it's her; she does, with her authenticator app, and
// lands on the set-up she was starting.
func TestBrowserSecurityInfoVerifyAgain(t *testing.T) {
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), `sms outbox
		security_info {
			reauth 1s
		}`)
	startCaddyfile(t, block, demoSite())

	ctx := newBrowser(t)
	secret := firstSignInWithApp(t, ctx, "alice")
	time.Sleep(2100 * time.Millisecond) // the second step's time is kept in whole seconds
	step(t, ctx, "open Security info",
		chromedp.Click(button("Security info")),
		chromedp.WaitVisible(heading("Security info")),
		chromedp.WaitVisible(chromedp.ID("verify-first")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="verify-first"]/p`)); msg != "To make changes, verify it's you first. You can then change your security info for 1 second." {
		t.Fatalf("the notice: %q", msg)
	}
	step(t, ctx, "start adding a phone",
		chromedp.Click(button("Add a phone for text messages")),
		chromedp.WaitVisible(chromedp.ID("info")))
	if msg := text(t, ctx, chromedp.Search(`//*[@id="info"]`)); !strings.Contains(msg, "verify it's you before you change your sign-in methods") {
		t.Fatalf("the page before a stale change: %q", msg)
	}
	onPhone(t, ctx, "25-verify-again")
	step(t, ctx, "verify it's you",
		chromedp.Click(button("Verify it's you")),
		chromedp.WaitVisible(labelled("Enter code")))
	checkAccessible(t, ctx, "the page verifying it's alice before a change")
	// The page submits itself at the sixth digit.
	step(t, ctx, "enter the app's code, back to the set-up",
		chromedp.SendKeys(labelled("Enter code"), code(t, secret, time.Now().Add(30*time.Second))),
		chromedp.WaitVisible(heading("Set up your phone")),
		chromedp.WaitVisible(labelled("Phone number")))
}
