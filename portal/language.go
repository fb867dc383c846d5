package portal

import (
	"embed"
	"net/http"
	"net/url"
	"strings"

	"github.com/stepgate/stepgate/messages"
)

//go:embed locales
var localesFS embed.FS

func init() { messages.RegisterLocales("portal", localesFS) }

// LanguagePath switches the pages' language: ?to=<tag>&rd=<portal page>.
const LanguagePath = Prefix + "language"

// langCookie keeps the language a user chose with the switcher. It says
// nothing about the user, so it is a plain cookie of a year.
const langCookie = "stepgate_lang"

// langCookieAge is how long a chosen language is kept.
const langCookieAge = 365 * 24 * 3600

// lang is the language r is answered in: the one ServeHTTP chose, or for
// a request that did not pass there (a decision's page), chosen now.
func (p *Portal) lang(r *http.Request) *messages.Localizer {
	if l, ok := messages.Chosen(r.Context()); ok {
		return l
	}
	return p.chooseLang(r)
}

// chooseLang is the language of r: the switcher's cookie, else the
// browser's Accept-Language, else the configured default.
func (p *Portal) chooseLang(r *http.Request) *messages.Localizer {
	cookie := ""
	if c, err := r.Cookie(langCookie); err == nil {
		cookie = c.Value
	}
	return p.msgs.For(cookie, r.Header.Get("Accept-Language"))
}

// langChoice is one entry of the language switcher.
type langChoice struct {
	Tag, Name, URL string
	Current        bool
}

// langChoices is the switcher of a page served for r: each offered
// language, with a link that chooses it and comes back to this page.
// One language offered: no switcher.
func (p *Portal) langChoices(r *http.Request, current string) []langChoice {
	offered := p.msgs.Offered()
	if len(offered) < 2 {
		return nil
	}
	back := r.URL.Path
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	if !samePortalPage(back) {
		back = Prefix
	}
	out := make([]langChoice, 0, len(offered))
	for _, t := range offered {
		out = append(out, langChoice{Tag: t, Name: messages.NameOf(t), Current: t == current,
			URL: LanguagePath + "?to=" + url.QueryEscape(t) + "&rd=" + url.QueryEscape(back)})
	}
	return out
}

// samePortalPage reports whether rd is a path of this portal's pages, the
// only place the switcher returns to: it starts with Prefix, and is not
// a path another host could be read from ("//", a backslash) or climb out
// of ("..", or "%2e%2e", which browsers also resolve in a Location's path).
func samePortalPage(rd string) bool {
	path, _, _ := strings.Cut(rd, "?")
	path = strings.ToLower(path)
	return strings.HasPrefix(rd, Prefix) && !strings.Contains(rd, "//") && !strings.Contains(rd, `\`) &&
		!strings.Contains(rd, "..") && !strings.ContainsAny(rd, "\r\n\t") && !strings.HasPrefix(rd, LanguagePath) &&
		!strings.Contains(path, "%2e") && !strings.Contains(path, "%2f") && !strings.Contains(path, "%5c")
}

// switchLanguage keeps the chosen language in a cookie and goes back to
// the page it was chosen on.
func (p *Portal) switchLanguage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, p.lang(r).T("portal.switcher.method_not_allowed"), http.StatusMethodNotAllowed)
		return
	}
	to := r.URL.Query().Get("to")
	l := p.msgs.Lang(to)
	if l.Tag() != to {
		l := p.lang(r)
		p.render(w, r, http.StatusBadRequest, "message", pageData{Title: l.T("portal.language.unknown.title"),
			Heading: l.T("portal.language.unknown.heading"), Info: l.T("portal.language.unknown.info"), Continue: Prefix})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l.Tag(), Path: "/", MaxAge: langCookieAge,
		Secure: p.isSecure(r), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	rd := r.URL.Query().Get("rd")
	if !samePortalPage(rd) {
		rd = Prefix
	}
	securityHeaders(w.Header())
	http.Redirect(w, r, rd, http.StatusSeeOther)
}
