package push

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/stepgate/stepgate/messages"
)

// The Stepgate Authenticator: a web app (PWA) served under the portal's
// authenticator/, with its service worker and icons. No build step.
//
//go:embed authenticator
var authenticatorFS embed.FS

// appPage is the app's page, which shows the organisation's branding.
var appPage = template.Must(template.ParseFS(authenticatorFS, "authenticator/index.html"))

// scriptWord is a message a script of the app shows, with the names of
// its arguments.
type scriptWord struct {
	id   string
	args []string
}

// appWords are the messages app.js shows: the page gives them to the
// script in its language (a JSON data block, which the CSP lets be),
// each argument written {Name} for the script to fill in.
var appWords = []scriptWord{
	{"push.app.setup.heading", nil},
	{"push.app.setup.working", nil},
	{"push.app.setup.done", nil},
	{"push.app.setup.done_no_notifications", []string{"Reason"}},
	{"push.app.setup.android", nil},
	{"push.app.setup.this_browser", nil},
	{"push.app.main.heading", nil},
	{"push.app.main.notifications_on", nil},
	{"push.app.main.notifications_off", nil},
	{"push.app.main.saved", []string{"Name"}},
	{"push.app.none.heading", nil},
	{"push.app.request.heading", []string{"Host"}},
	{"push.app.request.details", []string{"User", "Time", "From"}},
	{"push.app.request.number", nil},
	{"push.app.request.hint", nil},
	{"push.app.request.approve", nil},
	{"push.app.request.deny", nil},
	{"push.app.request.report_hint", nil},
	{"push.app.request.just_deny", nil},
	{"push.app.request.report", nil},
	{"push.app.error.no_storage", nil},
	{"push.app.error.no_crypto", nil},
	{"push.app.error.status", []string{"Status"}},
}

// workerWords are the messages of sw.js's notifications, as appWords.
var workerWords = []scriptWord{
	{"push.app.request.heading", []string{"Host"}},
	{"push.app.notification.title_no_host", nil},
	{"push.app.notification.body", []string{"Time", "From"}},
	{"push.app.notification.body_time", []string{"Time"}},
	{"push.app.notification.body_from", []string{"From"}},
	{"push.app.notification.body_plain", nil},
	{"push.address.server", []string{"Address"}},
	{"push.address.private", []string{"Address"}},
}

// words are the messages of list in l's language, by ID, with each
// argument written {Name}.
func words(l *messages.Localizer, list []scriptWord) map[string]string {
	out := make(map[string]string, len(list))
	for _, w := range list {
		var args []any
		for _, a := range w.args {
			args = append(args, a, "{"+a+"}")
		}
		out[w.id] = l.T(w.id, args...)
	}
	return out
}

// workerMark is the line of sw.js where the served file gives the
// service worker its words: the worker is fetched with the phone's
// language (its cookie, its Accept-Language), and is fetched again, and
// replaced, when its words change.
const workerMark = "var words = {};"

// setUpHost is where app.js writes the site's name in the set-up's
// introduction.
const setUpHost template.HTML = `<strong id="setup-host"></strong>`

// authenticatorCSP is the portal's policy plus what an installable web app
// needs: its manifest and its service worker; images may also come from
// imgOrigin (the branding logo's https origin; "" none).
func authenticatorCSP(imgOrigin string) string {
	img := "'self'"
	if imgOrigin != "" {
		img += " " + imgOrigin
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img + "; connect-src 'self'; manifest-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

var authenticatorTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".png":         "image/png",
	".webmanifest": "application/manifest+json",
}

// title is the app's title: its name in l's language, and the
// organisation's.
func (v *Verifier) title(l *messages.Localizer) string {
	if v.Brand.Named {
		return l.T("push.app.name") + " · " + v.Brand.Name
	}
	return l.T("push.app.name")
}

// appFile is the content of the app's file name as served in l's
// language: the page and the manifest carry the organisation's branding,
// the page and the service worker their words.
func (v *Verifier) appFile(l *messages.Localizer, name string) ([]byte, error) {
	data, err := fs.ReadFile(authenticatorFS, name)
	if err != nil {
		return nil, err
	}
	switch name {
	case "authenticator/index.html":
		var buf bytes.Buffer
		err := appPage.Execute(&buf, struct {
			Title                         string
			Named                         bool
			Name, Logo, Color, Stylesheet string
			L                             *messages.Localizer
			Words                         map[string]string
			SetUpHost                     template.HTML
		}{v.title(l), v.Brand.Named, v.Brand.Name, v.Brand.Logo, v.Brand.Color, v.Brand.Stylesheet,
			l, words(l, appWords), setUpHost})
		return buf.Bytes(), err
	case "authenticator/sw.js":
		w, err := json.Marshal(words(l, workerWords))
		if err != nil {
			return nil, err
		}
		if !bytes.Contains(data, []byte(workerMark)) {
			return nil, errors.New("sw.js lacks " + workerMark)
		}
		return bytes.Replace(data, []byte(workerMark), []byte("var words = "+string(w)+";"), 1), nil
	case "authenticator/manifest.webmanifest":
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		name, short, about := v.title(l), l.T("push.app.short_name"), l.T("push.app.about")
		if name == m["name"] && short == m["short_name"] && about == m["description"] && v.Brand.Color == "" {
			return data, nil
		}
		m["name"], m["short_name"], m["description"] = name, short, about
		if v.Brand.Color != "" {
			m["theme_color"] = v.Brand.Color
		}
		return json.MarshalIndent(m, "", "  ")
	}
	return data, nil
}

// serveApp serves the app's files; authenticator/ is its page. The portal
// has set its security headers; the app's policy adds what an installable
// web app needs.
func (v *Verifier) serveApp(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, v.Prefix)
	if strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	data, err := v.appFile(messages.From(r.Context()), name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", authenticatorCSP(v.Brand.LogoOrigin))
	h.Set("Content-Type", authenticatorTypes[path.Ext(name)])
	// The page and the worker must update with the gateway; icons may be
	// cached.
	if path.Ext(name) == ".png" {
		h.Set("Cache-Control", "public, max-age=86400")
		h.Del("Pragma")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	w.Write(data)
}
