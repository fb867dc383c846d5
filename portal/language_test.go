package portal

import (
	"html"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"
)

// getWith fetches path with the given request headers.
func (b *browser) getWith(path string, hdr map[string]string) resp {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

func TestPagesSpeakTheBrowsersLanguage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if r := b.get(Prefix); !strings.Contains(r.body, `<html lang="en">`) {
		t.Errorf("no Accept-Language: want English, got %.200s", r.body)
	}
	for accept, want := range map[string]string{"de-DE,de;q=0.9": "de", "zh-CN": "zh-Hans", "pt": "pt-BR", "sv": "en"} {
		r := b.getWith(Prefix, map[string]string{"Accept-Language": accept})
		if !strings.Contains(r.body, `<html lang="`+want+`">`) {
			t.Errorf("Accept-Language %s: want lang %s, got %.120s", accept, want, r.body)
		}
		if !strings.Contains(r.body, `<span lang="`+want+`" aria-current="true">`+messages.NameOf(want)+`</span>`) {
			t.Errorf("Accept-Language %s: the switcher does not mark %s as current", accept, want)
		}
	}
	// Every language is offered, each named in itself and linked.
	r := b.get(Prefix + "?rd=%2Fapp")
	for _, l := range messages.Languages[1:] {
		link := `<a href="` + LanguagePath + "?to=" + url.QueryEscape(l.Tag) + "&amp;rd=" + url.QueryEscape(Prefix+"?rd=%2Fapp")
		if !strings.Contains(r.body, link) || !strings.Contains(r.body, `lang="`+l.Tag+`" hreflang="`+l.Tag+`">`+l.Name+`</a>`) {
			t.Errorf("no switcher link to %s (want %s) in %s", l.Tag, link, r.body)
		}
	}
}

func TestLanguageSwitcher(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.get(LanguagePath + "?to=ja&rd=" + url.QueryEscape(Prefix+"?rd=/app"))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix+"?rd=/app" {
		t.Fatalf("switch: %d to %q, want 303 back to the sign-in page", r.status, r.header.Get("Location"))
	}
	c := b.cookie(langCookie)
	if c == nil || c.Value != "ja" {
		t.Fatalf("the choice is not kept: %+v", c)
	}
	if set := r.header.Get("Set-Cookie"); !strings.Contains(set, "Max-Age=31536000") || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Lax") {
		t.Errorf("language cookie %s", set)
	}
	// The choice beats the browser's own languages.
	if r := b.getWith(Prefix, map[string]string{"Accept-Language": "fr"}); !strings.Contains(r.body, `<html lang="ja">`) {
		t.Errorf("after choosing Japanese: %.120s", r.body)
	}

	// The way back goes to this portal's pages only.
	for _, rd := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", Prefix + "../../etc", Prefix + "%2e%2e/app", Prefix + "%2E%2e/%2e%2E/app", Prefix + "%2f%2fevil.example", Prefix + "%5c..%5capp", "/app", Prefix + "x\r\nSet-Cookie: a=b", LanguagePath + "?to=de", ""} {
		r := b.get(LanguagePath + "?to=de&rd=" + url.QueryEscape(rd))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != Prefix {
			t.Errorf("rd %q: %d to %q, want the sign-in page", rd, r.status, r.header.Get("Location"))
		}
	}
	// A language not offered changes nothing.
	for _, to := range []string{"xx", "", "de<script>", strings.Repeat("d", 5000)} {
		r := b.get(LanguagePath + "?to=" + url.QueryEscape(to))
		// In the language chosen before: German.
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, template.HTMLEscapeString(e.p.msgs.Lang("de").T("portal.language.unknown.heading"))) {
			t.Errorf("to=%.20q: %d %.200s", to, r.status, r.body)
		}
		if c := b.cookie(langCookie); c == nil || c.Value != "de" {
			t.Errorf("to=%.20q changed the choice to %+v", to, c)
		}
	}
	// A forged cookie is ignored.
	if r := e.rawGet(Prefix, langCookie+"=<x>", map[string]string{"Accept-Language": "it"}); !strings.Contains(r.body, `<html lang="it">`) {
		t.Errorf("a cookie naming no language: %.120s", r.body)
	}
	// The switch is a link: nothing but GET.
	if r := b.postRaw(LanguagePath+"?to=ja", url.Values{}, nil); r.status != http.StatusForbidden && r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.status)
	}
	if c := b.cookie(langCookie); c == nil || c.Value != "de" {
		t.Errorf("a POST changed the choice to %+v", c)
	}
}

func TestLanguagesOfferedAndOverridden(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "en.toml"), []byte("[portal.layout]\nlanguage = \"Sprache / Language: {{.Name}}\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) {
		c.Languages = messages.Config{Offer: []string{"en", "de"}, Fallback: "de", Overrides: dir}
	})
	b := e.browser()
	r := b.getWith(Prefix, map[string]string{"Accept-Language": "fr"})
	if !strings.Contains(r.body, `<html lang="de">`) {
		t.Errorf("a French browser where en and de are offered, de the default: %.120s", r.body)
	}
	r = b.getWith(Prefix, map[string]string{"Accept-Language": "en"})
	if !strings.Contains(r.body, "<summary>Sprache / Language: English</summary>") {
		t.Errorf("the administrator's wording is not shown: %s", r.body)
	}
	if strings.Contains(r.body, "Français") || !strings.Contains(r.body, ">Deutsch</a>") {
		t.Errorf("the switcher should offer en and de only")
	}
	if r := b.get(LanguagePath + "?to=fr"); r.status != http.StatusBadRequest {
		t.Errorf("choosing a language not offered: %d", r.status)
	}

	one := newEnv(t, func(c *Config) { c.Languages = messages.Config{Offer: []string{"en"}} })
	if r := one.browser().get(Prefix); strings.Contains(r.body, `class="languages"`) {
		t.Errorf("one language offered: no switcher wanted")
	}
}

// TestSentencesJoinedInTheLanguagesWay: two sentences shown one after
// the other get a space between them, except in Japanese and Chinese,
// which put none after "。".
func TestSentencesJoinedInTheLanguagesWay(t *testing.T) {
	e, _ := newResetEnv(t, 2)
	secret := aliceWithAppAndPhone(t, e)
	for lang, want := range map[string][2]string{
		"ja":      {"としてサインインしています。サインアウトすると", "に SMS を送信しました。メッセージ"},
		"zh-Hans": {"</strong>。注销将结束", "发送短信。输入"},
		"en":      {"</strong>. Signing out ends your session", "42. Enter the code"},
	} {
		t.Run(lang, func(t *testing.T) {
			b := e.browser()
			b.get(LanguagePath + "?to=" + lang)
			e.clock.Add(time.Minute)
			if r := b.login("alice", testPassword); r.status != http.StatusSeeOther {
				t.Fatalf("password step: %d %s", r.status, r.body)
			}
			// The text page: what was sent, then what to do.
			b.post(Prefix+"verify/other", Prefix+"verify/method", url.Values{"method": {"sms"}})
			if r := b.get(Prefix + "verify"); !strings.Contains(html.UnescapeString(r.body), want[1]) {
				t.Errorf("the text page does not read %q:\n%s", want[1], r.body)
			}
			b.post(Prefix+"verify/other", Prefix+"verify/method", url.Values{"method": {"totp"}})
			b.appCode(secret)
			if r := b.get(LogoutPath); !strings.Contains(r.body, want[0]) {
				t.Errorf("the sign-out page does not read %q:\n%s", want[0], r.body)
			}
		})
	}
}
