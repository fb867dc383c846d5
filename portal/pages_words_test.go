package portal

import (
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"
)

// templateID finds the message IDs a page template shows.
var templateID = regexp.MustCompile(`\.L\.(?:T|HTML) "([^"]+)"`)

// TestTemplateMessagesExist: every message a page template shows is in
// the English catalogue (a missing one would show as its ID), and every
// portal.page message is shown by some template (none is left for
// translators to translate in vain).
func TestTemplateMessagesExist(t *testing.T) {
	english := messages.Catalogue(messages.Default)
	used := map[string]bool{}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(templateFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateID.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
			if _, ok := english[m[1]]; !ok {
				t.Errorf("%s shows %s, which no English catalogue has", f, m[1])
			}
		}
	}
	var unused []string
	for id := range english {
		if strings.HasPrefix(id, "portal.page.") && !used[id] {
			unused = append(unused, id)
		}
	}
	sort.Strings(unused)
	for _, id := range unused {
		t.Errorf("%s is in the catalogue but no page template shows it", id)
	}
}

var addLinkRe = regexp.MustCompile(`<a href="([^"]+)" id="add-`)

// TestPagesShowNoMessageIDs walks the portal's pages as users see them
// and fails if one shows a page message's ID instead of its words.
func TestPagesShowNoMessageIDs(t *testing.T) {
	e, inbox := newResetEnv(t, 2, withRemember, withRememberDevice, withPasskeys)
	secret := aliceWithAppAndPhone(t, e)
	pages := map[string]resp{}

	anon := e.browser()
	// At localhost, where passkeys work, the sign-in page offers one.
	pages["sign-in"] = passkeyBrowser(e).get(Prefix)
	pages["access pass"] = anon.get(AccessPassPath)
	pages["password reset"] = anon.get(PasswordResetPath)
	pages["unknown language"] = anon.get(LanguagePath + "?to=xx")

	// bob's first sign-in: the registration, a method's own page.
	bob := e.browser()
	bob.login("bob", testPassword)
	pages["first set-up"] = bob.get(Prefix + "register")

	// alice signs in with her app, is offered to stay signed in, and
	// goes to Security info.
	b := e.browser()
	e.clock.Add(30 * time.Second)
	if r := b.login("alice", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("password step: %d %s", r.status, r.body)
	}
	pages["verify"] = b.get(Prefix + "verify")
	pages["other ways"] = b.get(Prefix + "verify/other")
	b.appCode(secret)
	pages["stay signed in"] = b.get(offerPage)
	b.answerOffer(url.Values{"stay": {"yes"}, "device": {"yes"}})
	pages["security info"] = b.get(sip)
	pages["change password"] = b.get(sip + "/password")
	pages["sign out"] = b.get(LogoutPath)

	// Later, adding a method asks to verify again.
	m := addLinkRe.FindStringSubmatch(pages["security info"].body)
	if m == nil {
		t.Fatalf("Security info offers nothing to add:\n%s", pages["security info"].body)
	}
	e.clock.Add(11 * time.Minute)
	pages["verify again"] = b.get(m[1])

	// A password reset, up to the new password.
	reset := e.browser()
	resetToNewPassword(t, e, inbox, reset, secret)
	pages["new password"] = reset.get(NewPasswordPath)

	for name, p := range pages {
		if !strings.Contains(p.body, "<h1>") {
			t.Errorf("%s (%d) is not a page:\n%s", name, p.status, p.body)
			continue
		}
		if i := strings.Index(p.body, "portal.page."); i >= 0 {
			t.Errorf("%s shows a message ID instead of its words: %q", name, p.body[i:min(len(p.body), i+60)])
		}
	}
	// The walk reached what it means to check.
	for name, want := range map[string]string{
		"sign-in": "Or, without a password:", "verify": "Sign in another way", "other ways": "Choose how to verify",
		"stay signed in": "Stay signed in on this browser for 30 days", "security info": "Remembered browsers",
		"change password": "Current password", "sign out": "Signing out ends your session", "verify again": `action="/.stepgate/security-info/verify"`,
		"new password": "Resetting your password signs you out everywhere.", "unknown language": "Continue",
		"access pass": "Temporary Access Pass", "password reset": "Back to sign in",
	} {
		if !strings.Contains(pages[name].body, want) {
			t.Errorf("%s lacks %q:\n%s", name, want, pages[name].body)
		}
	}
}
