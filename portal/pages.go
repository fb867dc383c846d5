package portal

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageData is everything a page template may show.
type pageData struct {
	Title    string   // <title> and the browser tab
	Heading  string   // the page's <h1>
	Error    string   // an error above the form
	Info     string   // a neutral message
	CSRF     string   // the form token (set by render)
	Rd       string   // the safe return URL carried by the sign-in form
	Username string   // the username typed so far, or the signed-in user
	Secret   string   // the authenticator secret, grouped for typing
	QR       string   // URL of the QR code image
	Help     string   // who to contact
	SignOut  bool     // show a "Sign out" button
	Continue string   // a link to go on
	Method   string   // the second-step method on the code page
	Prompt   string   // what starting the method said ("We texted your phone …")
	Others   bool     // the user has other methods ("Sign in another way")
	Choices  []choice // the other methods to choose from
	Phone    string   // the masked number being set up
	SMS      bool     // a phone can be set up (registration offers it)
	Wait     bool     // the page waits for a phone call's answer
	Simulate bool     // show the development outbox's "simulate the answer" buttons
	Approve  bool     // the page waits for an approval on the phone
	Number   string   // the number to select on the phone
	Push     bool     // the authenticator app can be set up (registration offers it)
	TOTP     bool     // link to setting up an app that shows codes
	EnrolURL string   // the link that opens the authenticator app with a set-up token
	Done     bool     // the phone's set-up is done: only a Continue button
}

type pages struct {
	set map[string]*template.Template
}

var pageNames = []string{"login", "verify", "other", "register", "phone", "pushsetup", "message", "logout"}

func loadPages() (*pages, error) {
	ps := &pages{set: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing page %s: %w", name, err)
		}
		ps.set[name] = t
	}
	return ps, nil
}

// securityHeaders are set on every portal response.
func securityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// render writes a page. Templates are executed into a buffer first so a
// template error becomes a clean 500 page, never half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	securityHeaders(w.Header())
	// Every page with a form gets a token; message pages only when they
	// show the Sign out button.
	if name != "message" || d.SignOut {
		d.CSRF = p.csrfToken(w, r)
	}
	if d.Help == "" {
		d.Help = p.cfg.HelpContact
	}
	var buf bytes.Buffer
	if err := p.pages.set[name].Execute(&buf, d); err != nil {
		p.log.Error("rendering page " + name + ": " + err.Error())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("Something went wrong showing this page. Try again.\n"))
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

// groupSecret splits a base32 secret into groups of four for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}
