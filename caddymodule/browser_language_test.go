package caddymodule_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stepgate/stepgate/messages"
)

// rawID is a message ID shown instead of its words.
var rawID = regexp.MustCompile(`\b(portal|totp|passkey|password|phone|sms|voice|push)\.[a-z0-9_]+\.[a-z0-9_.]+`)

// pageSpeaks fails when the page is not in lang, or shows a message's ID
// or one of English's words that lang says otherwise.
func pageSpeaks(t *testing.T, ctx context.Context, lang string, english ...string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := chromedp.Run(sctx, chromedp.Evaluate[[]string](`[document.documentElement.lang, document.body.innerText]`))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	if got[0] != lang {
		t.Errorf("<html lang=%q>, want %q", got[0], lang)
	}
	if id := rawID.FindString(got[1]); id != "" {
		t.Errorf("the page shows the message ID %s:\n%s", id, got[1])
	}
	for _, w := range english {
		if strings.Contains(got[1], w) {
			t.Errorf("the %s page still says %q:\n%s", lang, w, got[1])
		}
	}
}

// TestBrowserInGerman: a user chooses Deutsch in the switcher at the foot
// of the sign-in page, and signs in for the first time and manages their
// security info in German, by the German words on the screen (read from
// the German catalogue). The choice outlives the sign-in.
func TestBrowserInGerman(t *testing.T) {
	set, err := messages.New(messages.Config{})
	if err != nil {
		t.Fatal(err)
	}
	de, en := set.Lang("de"), set.Lang("en")
	word := func(id string) string {
		t.Helper()
		w := de.T(id)
		if w == id || w == en.T(id) {
			t.Fatalf("%s is not translated into German: %q", id, w)
		}
		return w
	}
	ctx := newBrowser(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), "")
	startCaddyfile(t, block, demoSite())

	step(t, ctx, "the sign-in page, in English first",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(heading(en.T("portal.signin.heading"))),
		chromedp.Click(chromedp.Search(`//details[@class="languages"]/summary`)),
		chromedp.Click(button("Deutsch")),
		chromedp.WaitVisible(heading(word("portal.signin.heading"))))
	pageSpeaks(t, ctx, "de", en.T("portal.page.login.username"), en.T("portal.page.login.sign_in"))
	onPhone(t, ctx, "95-german-sign-in")

	step(t, ctx, "password, in German",
		chromedp.SendKeys(labelled(word("portal.page.login.username")), "alice"),
		chromedp.SendKeys(labelled(word("portal.page.login.password")), testPassword),
		chromedp.Click(button(word("portal.page.login.sign_in"))),
		chromedp.WaitVisible(heading(word("totp.setup.heading"))))
	pageSpeaks(t, ctx, "de", en.T("totp.setup.step_scan"))
	onPhone(t, ctx, "96-german-set-up")

	secret := strings.ReplaceAll(text(t, ctx, chromedp.Search(`//*[@id="secret"]`)), " ", "")
	step(t, ctx, "a wrong code, then the right one",
		chromedp.SendKeys(labelled(word("totp.setup.code_label")), "000000"),
		chromedp.Click(button(word("totp.setup.finish"))),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="error"]`)))
	pageSpeaks(t, ctx, "de")
	step(t, ctx, "the right code",
		chromedp.SendKeys(labelled(word("totp.setup.code_label")), code(t, secret, time.Now())),
		chromedp.Click(button(word("totp.setup.finish"))),
		chromedp.WaitVisible(heading("Hello, alice!")))

	step(t, ctx, "Security info, in German",
		chromedp.Navigate(base+"/.stepgate/security-info"),
		chromedp.WaitVisible(heading(word("portal.security.page.heading"))))
	pageSpeaks(t, ctx, "de", en.T("portal.page.securityinfo.methods_heading"), en.T("totp.title"))
	onPhone(t, ctx, "97-german-security-info")
}
