package push

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// The Stepgate Authenticator: a web app (PWA) served under the portal's
// authenticator/, with its service worker and icons. No build step.
//
//go:embed authenticator
var authenticatorFS embed.FS

// appPage is the app's page, which shows the organisation's branding.
var appPage = template.Must(template.ParseFS(authenticatorFS, "authenticator/index.html"))

// appName is the app's name: "Stepgate Authenticator", followed by the
// organisation's name when there is one.
const appName = "Stepgate Authenticator"

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

// title is the app's title: its name, and the organisation's.
func (v *Verifier) title() string {
	if v.Brand.Named {
		return appName + " · " + v.Brand.Name
	}
	return appName
}

// appFile is the content of the app's file name as served: the page and the
// manifest carry the organisation's branding.
func (v *Verifier) appFile(name string) ([]byte, error) {
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
		}{v.title(), v.Brand.Named, v.Brand.Name, v.Brand.Logo, v.Brand.Color, v.Brand.Stylesheet})
		return buf.Bytes(), err
	case "authenticator/manifest.webmanifest":
		if !v.Brand.Named && v.Brand.Color == "" {
			return data, nil
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		m["name"] = v.title()
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
	data, err := v.appFile(name)
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
