package push

import (
	"embed"
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

// authenticatorCSP is the portal's policy plus what an installable web app
// needs: its manifest and its service worker.
const authenticatorCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

var authenticatorTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".png":         "image/png",
	".webmanifest": "application/manifest+json",
}

// serveApp serves the app's files; authenticator/ is its page. The portal
// has set its security headers; the app's policy adds what an installable
// web app needs.
func (v *Verifier) serveApp(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, v.Prefix)
	if strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	data, err := fs.ReadFile(authenticatorFS, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", authenticatorCSP)
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
