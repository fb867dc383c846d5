package portal

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageData is everything a page template may show.
type pageData struct {
	Title   string // <title> and the browser tab
	Heading string // the page's <h1>
	Error   string // an error above the form
	// ErrorAtField: the page shows Error beside its field (template
	// "field-error"), so the layout does not show it at the top.
	ErrorAtField bool
	Info         string   // a neutral message
	CSRF         string   // the form token (set by render)
	Rd           string   // the safe return URL carried by the sign-in form
	Username     string   // the username typed so far, or the signed-in user
	DisplayName  string   // the user's full name (set by render where Username is known)
	BackTo       string   // the back arrow to the password step, "" none
	QR           string   // URL of the QR code image
	Help         string   // who to contact
	SignOut      bool     // show a "Sign out" button
	Forget       bool     // the sign-out page offers to forget this remembered browser
	Continue     string   // a link to go on
	GoBack       string   // "Go back" from a page the user may not see
	Switch       string   // where "Sign in as someone else" posts, "" none
	Back         string   // the way back to the app ("" none; set by render)
	Method       string   // the second-step method on the verify page
	Prompt       string   // what starting the method said ("We texted your phone …")
	Others       bool     // the user has other methods ("Sign in another way")
	Choices      []choice // the other methods to choose from
	Wide         bool     // a wider card (the Security info page)
	Manage       bool     // link to the Security info page (a signed-in user)
	Forgot       bool     // offer "Forgot my password?" (set by render)
	Resetting    bool     // the verify page is a step of a password reset
	Gone         bool     // the verify page's method was just turned off
	Passkey      string   // the sign-in page's passkey ceremony (its options), "" none

	// The verify page, in the words of its method (see verifiers.Description).
	Answer string // what kind of answer: "code", "approval"
	Hint   string // the instruction under the prompt
	Again  string // the label of "start again" ("Send a new code")
	Number string // the number to type on the phone
	Live   bool   // an approval is still awaited: the page polls
	Digits int    // the length of a typed code
	GoOn   string // the label of the button that continues an approval

	// Set-up pages.
	First       bool    // first-sign-in registration
	Action      string  // where the set-up's form posts
	Step        any     // the method's data for its page
	Offers      []offer // the other set-ups on offer
	Cancel      string  // the link that leaves the set-up
	CancelLabel string

	// Brand is the organisation's name, logo and colour (set by render).
	Brand verifiers.Brand
	// L speaks the page's language (set by render): templates show
	// message IDs with {{.L.T "portal.…"}}. Langs is the switcher.
	L     *messages.Localizer
	Langs []langChoice
}

// offer links to another method's set-up.
type offer struct {
	ID    string // the method's name
	URL   string
	Label string
}

// pageFuncs are the functions the page templates may call.
var pageFuncs = template.FuncMap{"linkify": linkify}

// urlInText finds an https URL in a message: up to a space, a quote or
// an angle bracket.
var urlInText = regexp.MustCompile(`https://[^\s<>"']+`)

// linkify writes s as HTML with each https URL in it as a link, so an
// administrator's "Change it at https://passwords.example.com." can be
// followed. A sentence's closing punctuation is not part of the URL.
// Only messages Stepgate composes (from its own words and the
// configuration) go through it, never text from a request.
func linkify(s string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range urlInText.FindAllStringIndex(s, -1) {
		u := strings.TrimRight(s[m[0]:m[1]], ".,;:!?)")
		b.WriteString(template.HTMLEscapeString(s[last:m[0]]))
		if parsed, err := url.Parse(u); err == nil && parsed.Host != "" {
			e := template.HTMLEscapeString(u)
			b.WriteString(`<a href="` + e + `" rel="noopener noreferrer">` + e + `</a>`)
		} else {
			b.WriteString(template.HTMLEscapeString(u))
		}
		last = m[0] + len(u)
	}
	b.WriteString(template.HTMLEscapeString(s[last:]))
	return template.HTML(b.String())
}

// typedName are the pages whose Username is what was typed, not an
// account Stepgate knows.
var typedName = map[string]bool{"login": true, "accesspass": true, "passwordreset": true}

// backToPassword is the back arrow of a sign-in's later steps: the
// password step again, keeping where the sign-in returns to.
func backToPassword(rd string) string {
	if rd == "" || rd == "/" {
		return Prefix
	}
	return Prefix + "?rd=" + url.QueryEscape(rd)
}

type pages struct {
	set map[string]*template.Template
}

// pageNames are the portal's own pages; each method's verify page and its
// own pages are parsed with its registration (forMethod).
var pageNames = []string{"login", "accesspass", "other", "message", "logout", "securityinfo", "reauth", "password", "passwordreset", "newpassword", "remember"}

func loadPages() (*pages, error) {
	ps := &pages{set: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing page %s: %w", name, err)
		}
		ps.set[name] = t
	}
	return ps, nil
}

// noExtra is the verify page's extra part of a method without one.
const noExtra = `{{define "extra"}}{{end}}`

// forMethod parses a method's verify page (with the extra part from own,
// if it has one) and its own pages, each inside the layout with the
// portal's shared parts. own may be nil.
func (ps *pages) forMethod(own fs.FS) (*template.Template, map[string]*template.Template, error) {
	verify, err := template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html", "templates/verify.html")
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the verify page: %w", err)
	}
	extra := noExtra
	if own != nil {
		if b, err := fs.ReadFile(own, "verify-extra.html"); err == nil {
			extra = string(b)
		}
	}
	if _, err := verify.New("extra").Parse(extra); err != nil {
		return nil, nil, fmt.Errorf("parsing verify-extra.html: %w", err)
	}
	out := map[string]*template.Template{}
	if own == nil {
		return verify, out, nil
	}
	names, err := fs.Glob(own, "*.html")
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		if name == "verify-extra.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html", "templates/offers.html")
		if err == nil {
			t, err = t.ParseFS(own, name)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("parsing page %s: %w", name, err)
		}
		out[name] = t
	}
	return verify, out, nil
}

// cspFor is the Content-Security-Policy of the portal's responses whose
// forms may act on formAction and whose images may also come from
// imgOrigin (the branding logo's https origin; "" none).
func cspFor(formAction, imgOrigin string) string {
	img := "'self'"
	if imgOrigin != "" {
		img += " " + imgOrigin
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img + "; connect-src 'self'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// defaultCSP is cspFor("'self'", ""): forms post to the portal only.
var defaultCSP = cspFor("'self'", "")

// pageCSP is the policy of the portal's pages served for r. With
// cookie_domain a form may also end on the domain's sites: a sign-in's
// last answer is a redirect to the page to return to (on another site
// when a central portal signs people in), and browsers hold that redirect
// to form-action too; without the domain in it, Chromium stays on the
// sign-in page. Only what SafeReturnURL accepts is allowed: the page's
// own scheme and port.
func (p *Portal) pageCSP(r *http.Request) string {
	logo := p.brand.view.LogoOrigin
	if p.cfg.CookieDomain == "" {
		return cspFor("'self'", logo)
	}
	scheme, host := p.schemeHost(r)
	port := ""
	if _, pt, err := net.SplitHostPort(host); err == nil && pt != "" {
		port = ":" + pt
	}
	return cspFor("'self' "+scheme+"://"+p.cfg.CookieDomain+port+" "+scheme+"://*."+p.cfg.CookieDomain+port, logo)
}

// securityHeaders are set on every portal response.
func securityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", defaultCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// render writes a page. Templates are executed into a buffer first so a
// template error becomes a clean 500 page, never half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	p.renderPage(w, r, status, name, p.pages.set[name], d)
}

// renderPage writes page t (called name in the log).
func (p *Portal) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, t *template.Template, d pageData) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Security-Policy", p.pageCSP(r))
	// Every page with a form gets a token; message pages only when they
	// show a form (Sign out, Sign in as someone else).
	if name != "message" || d.SignOut || d.Switch != "" {
		d.CSRF = p.csrfToken(w, r)
	}
	d.L = p.lang(r)
	if d.Help == "" {
		d.Help = p.help(d.L)
	}
	d.Forgot = p.cfg.PasswordReset
	if name == "login" {
		d.Passkey = p.beginPasskeySignIn(w, r)
	}
	d.Back = p.backURL(r)
	d.Brand = p.brand.view
	d.Langs = p.langChoices(r, d.L.Tag())
	// Pages where the username is only what someone typed never name the
	// person: that would say which names exist.
	if d.Username != "" && d.DisplayName == "" && !typedName[name] {
		if u, ok := p.cfg.Users.Lookup(d.Username); ok {
			d.DisplayName = u.DisplayName
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		p.log.Error("rendering page " + name + ": " + err.Error())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(d.L.T("portal.http.render_failed") + "\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// serveStatic serves the embedded stylesheet and script.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	data, err := fs.ReadFile(staticFS, name)
	if err != nil { // embed.FS refuses "..", so nothing outside static/ is reachable
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(data)
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
