package push

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/verifiers"
)

func getApp(t *testing.T, v *Verifier, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	v.serveApp(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("%s: %d", path, w.Code)
	}
	return w
}

// TestAuthenticatorBranding: the Authenticator shows the organisation's
// name (escaped), logo and colour, names it in its title and manifest,
// and lets its page load the logo from the logo's origin only.
func TestAuthenticatorBranding(t *testing.T) {
	v := &Verifier{Prefix: "/.stepgate/", Brand: verifiers.Brand{Name: "Example <Corp>", Named: true,
		Logo: "https://cdn.example.com/logo.svg", LogoOrigin: "https://cdn.example.com",
		Color: "#0b6e4f", Stylesheet: "/.stepgate/brand/colors-0123456789abcdef.css"}}
	page := getApp(t, v, "/.stepgate/authenticator/")
	body := page.Body.String()
	for _, want := range []string{
		`<title>Stepgate Authenticator · Example &lt;Corp&gt;</title>`,
		`<p class="brand"><img class="brand-logo" src="https://cdn.example.com/logo.svg" alt="">Example &lt;Corp&gt;</p>`,
		`<link rel="stylesheet" href="/.stepgate/brand/colors-0123456789abcdef.css">`,
		`<meta name="theme-color" content="#0b6e4f">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the Authenticator's page lacks %s", want)
		}
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "; img-src 'self' https://cdn.example.com; ") {
		t.Errorf("CSP %q", csp)
	}
	var m struct {
		Name       string `json:"name"`
		ThemeColor string `json:"theme_color"`
	}
	raw := getApp(t, v, "/.stepgate/authenticator/manifest.webmanifest").Body.Bytes()
	if err := json.Unmarshal(raw, &m); err != nil || m.Name != "Stepgate Authenticator · Example <Corp>" || m.ThemeColor != "#0b6e4f" {
		t.Errorf("manifest: %+v %v\n%s", m, err, raw)
	}
	if !strings.Contains(string(raw), `"short_name": "Authenticator"`) {
		t.Errorf("manifest lost its short name: %s", raw)
	}
}

// TestAuthenticatorUnbranded: without branding the Authenticator is
// Stepgate's own: its name, its colour, no stylesheet or logo more, and
// the manifest file unchanged.
func TestAuthenticatorUnbranded(t *testing.T) {
	v := &Verifier{Prefix: "/.stepgate/"}
	page := getApp(t, v, "/.stepgate/authenticator/")
	body := page.Body.String()
	for _, want := range []string{
		"<title>Stepgate Authenticator</title>",
		`<p class="brand">Stepgate Authenticator</p>`,
		`<meta name="theme-color" content="#0067b8">`,
		`<link rel="stylesheet" href="../static/style.css">
<link rel="stylesheet" href="app.css">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the Authenticator's page lacks %s", want)
		}
	}
	if strings.Contains(body, "brand-logo") || strings.Contains(body, "{{") {
		t.Errorf("unbranded page: %s", body)
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "; img-src 'self'; ") {
		t.Errorf("CSP %q", csp)
	}
	want, _ := authenticatorFS.ReadFile("authenticator/manifest.webmanifest")
	if got := getApp(t, v, "/.stepgate/authenticator/manifest.webmanifest").Body.String(); got != string(want) {
		t.Errorf("manifest changed:\n%s", got)
	}
}
