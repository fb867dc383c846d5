package portal

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCheckBrandColor(t *testing.T) {
	for _, tc := range []struct {
		color string
		err   string // "" accepted; else part of the message
	}{
		{"#0067b8", ""},
		{"#0067B8", ""},
		{"#000", ""},
		{"#767676", ""}, // 4.54:1, the lightest grey that passes
		{"#777777", "contrast of only 4.47:1 with white"},
		{"#ffcc00", "contrast of only 1.51:1 with white"},
		{"#fff", "need at least 4.5:1 to stay readable (WCAG AA): choose a darker colour"},
		{"0067b8", `color "0067b8": want #rgb or #rrggbb`},
		{"#0067b", "want #rgb or #rrggbb"},
		{"#0067b8ff", "want #rgb or #rrggbb"},
		{"#ggg", "want #rgb or #rrggbb"},
		{"red", "want #rgb or #rrggbb"},
		{"#000;}body{display:none", "want #rgb or #rrggbb"},
		{"", "# starts a comment"},
	} {
		err := CheckBrandColor(tc.color)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.color, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: got %v, want an error with %q", tc.color, err, tc.err)
		}
	}
}

func TestCheckBrandName(t *testing.T) {
	for _, tc := range []struct{ name, err string }{
		{"Example Corp", ""},
		{"Zürich Städtische Werke & Söhne <AG>", ""},
		{"  ", "name is empty"},
		{strings.Repeat("x", 61), "longer than 60 characters"},
		{"Example\nCorp", "contains a control character"},
		{"Example\u202eproC", "contains a control character"},
		{"שלום Corp", ""},
		{"Example\xffCorp", "not valid UTF-8"},
	} {
		err := CheckBrandName(tc.name)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: got %v, want an error with %q", tc.name, err, tc.err)
		}
	}
}

// testPNG is a small PNG logo.
func testPNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for x := 0; x < 64; x++ {
		for y := 0; y < 32; y++ {
			img.Set(x, y, color.RGBA{0x0b, 0x6e, 0x4f, 0xff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testJPEG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const testSVG = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Example Corp -->
<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40"><circle cx="20" cy="20" r="18" fill="#0b6e4f"/><script>alert(1)</script></svg>`

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBrandingLogo(t *testing.T) {
	webp := append([]byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"), make([]byte, 13)...)
	for _, tc := range []struct {
		what, file string
		data       []byte
		typ, err   string
	}{
		{what: "png", file: "logo.bin", data: testPNG(t), typ: "image/png"},
		{what: "jpeg", file: "logo.png", data: testJPEG(t), typ: "image/jpeg"},
		{what: "webp", file: "logo", data: webp, typ: "image/webp"},
		{what: "svg", file: "logo.svg", data: []byte(testSVG), typ: "image/svg+xml"},
		{what: "svg without declaration", file: "logo.svg", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), typ: "image/svg+xml"},
		{what: "html", file: "logo.svg", data: []byte(`<html><svg xmlns="http://www.w3.org/2000/svg"/></html>`), err: "not a PNG, JPEG, WebP or SVG image"},
		{what: "svg without its namespace", file: "logo.svg", data: []byte(`<svg/>`), err: "not a PNG, JPEG, WebP or SVG image"},
		{what: "text", file: "logo.png", data: []byte("hello"), err: "not a PNG, JPEG, WebP or SVG image"},
		{what: "gif", file: "logo.gif", data: []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), err: "not a PNG, JPEG, WebP or SVG image"},
		{what: "broken png", file: "logo.png", data: []byte("\x89PNG\r\n\x1a\nnot really"), err: "not a valid PNG image"},
		{what: "broken jpeg", file: "logo.jpg", data: []byte("\xff\xd8\xff\xe0nothing"), err: "not a valid JPEG image"},
		{what: "empty", file: "logo.png", data: nil, err: "the file is empty"},
		{what: "too large", file: "logo.svg", data: append([]byte(`<svg xmlns="http://www.w3.org/2000/svg">`), make([]byte, MaxLogoBytes)...), err: "larger than 256 KiB"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			path := writeTemp(t, tc.file, tc.data)
			b, err := newBrand(Branding{Name: "Example Corp", Logo: path})
			if tc.err != "" {
				want := "branding: logo " + path + ": " + tc.err
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("got %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rel := strings.TrimPrefix(b.view.Logo, Prefix)
			if f := b.files[rel]; f.contentType != tc.typ || !bytes.Equal(f.data, tc.data) {
				t.Fatalf("logo served at %s as %q (%d bytes), want %q", b.view.Logo, f.contentType, len(f.data), tc.typ)
			}
		})
	}
	for _, tc := range []struct {
		what string
		b    Branding
		err  string
	}{
		{"missing file", Branding{Name: "X", Logo: "/nonexistent/logo.png"}, "branding: logo /nonexistent/logo.png: open /nonexistent/logo.png: no such file or directory"},
		{"directory", Branding{Name: "X", Logo: t.TempDir()}, "not a regular file"},
		{"device", Branding{Name: "X", Logo: "/dev/zero"}, "branding: logo /dev/zero: not a regular file"},
		{"http URL", Branding{Name: "X", Logo: "http://cdn.example.com/logo.png"}, `a logo URL must be https://host/path`},
		{"URL without host", Branding{Name: "X", Logo: "https:///logo.png"}, `a logo URL must be https://host/path`},
		{"javascript URL", Branding{Name: "X", Logo: "javascript://%0aalert(1)"}, `a logo URL must be https://host/path`},
		{"URL with a password", Branding{Name: "X", Logo: "https://u:p@cdn.example.com/logo.png"}, `a logo URL must be https://host/path`},
		{"URL host with a ;", Branding{Name: "X", Logo: "https://cdn.example.com;script-src/logo.png"}, `the host "cdn.example.com;script-src" must be a plain host name`},
		{"URL host with a quote", Branding{Name: "X", Logo: "https://cdn.example.com'x/logo.png"}, `must be a plain host name`},
		{"URL host with a comma", Branding{Name: "X", Logo: "https://a.example,b.example/logo.png"}, `must be a plain host name`},
		{"international URL host", Branding{Name: "X", Logo: "https://bücher.example/logo.png"}, `(xn-- for international names)`},
		{"logo without a name", Branding{Logo: "https://cdn.example.com/logo.png"}, "a logo needs a name too"},
		{"bad colour", Branding{Name: "X", Color: "#ff0"}, `branding: color "#ff0" has a contrast of only`},
		{"bad name", Branding{Name: " "}, "branding: name is empty"},
	} {
		if _, err := newBrand(tc.b); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want an error with %q", tc.what, err, tc.err)
		}
	}
}

var brandLineRe = regexp.MustCompile(`<p class="brand">.*?</p>`)

// TestBrandedPages: with branding, every page names the organisation in
// its header and title, shows its logo (served with its type and a long
// cache) and links the stylesheet with its colour; the page's policy is
// unchanged.
func TestBrandedPages(t *testing.T) {
	logo := testPNG(t)
	path := writeTemp(t, "logo.png", logo)
	e := newEnv(t, func(c *Config) {
		c.Branding = Branding{Name: "Example <Corp>", Logo: path, Color: "#0B6E4F"}
	})
	b := e.browser()
	login := b.get(Prefix)
	notFound := b.get(Prefix + "no-such-page")
	for _, page := range []resp{login, notFound} {
		if !strings.Contains(page.body, " · Example &lt;Corp&gt;</title>") {
			t.Errorf("title does not name the organisation (escaped): %s", page.body)
		}
		m := regexp.MustCompile(`<p class="brand"><img class="brand-logo" src="(/\.stepgate/brand/logo-[0-9a-f]{16}\.png)" alt="">Example &lt;Corp&gt;</p>`).FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("no logo and name in the header: %s", brandLineRe.FindString(page.body))
		}
		if got := page.header.Get("Content-Security-Policy"); got != defaultCSP {
			t.Errorf("CSP %q, want %q", got, defaultCSP)
		}
		img := b.get(m[1])
		if img.status != http.StatusOK || img.header.Get("Content-Type") != "image/png" || img.body != string(logo) {
			t.Fatalf("logo: %d %q, %d bytes", img.status, img.header.Get("Content-Type"), len(img.body))
		}
		if cc := img.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("logo Cache-Control %q", cc)
		}
		if img.header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(img.header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("logo headers: %v", img.header)
		}
		css := regexp.MustCompile(`<link rel="stylesheet" href="(/\.stepgate/brand/colors-[0-9a-f]{16}\.css)">`).FindStringSubmatch(page.body)
		if css == nil {
			t.Fatal("no colour stylesheet on the page")
		}
		sheet := b.get(css[1])
		if sheet.status != http.StatusOK || sheet.header.Get("Content-Type") != "text/css; charset=utf-8" ||
			sheet.body != ":root{--accent:#0b6e4f;--accent-tint:#eef5f3}\n" {
			t.Fatalf("colour stylesheet: %d %q %q", sheet.status, sheet.header.Get("Content-Type"), sheet.body)
		}
	}
	if r := b.get(Prefix + "brand/logo-0000000000000000.png"); r.status != http.StatusNotFound {
		t.Errorf("a logo address with another hash: %d", r.status)
	}
}

// TestBrandedLogoURL: a logo at an https URL is shown from there, and the
// pages' policy lets images load from exactly that origin.
func TestBrandedLogoURL(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Branding = Branding{Name: "Example Corp", Logo: "https://cdn.example.com/brand/logo.svg?v=2&x=<y>"}
	})
	page := e.browser().get(Prefix)
	if want := `<img class="brand-logo" src="https://cdn.example.com/brand/logo.svg?v=2&amp;x=%3cy%3e" alt="">Example Corp</p>`; !strings.Contains(page.body, want) {
		t.Fatalf("want %s in %s", want, brandLineRe.FindString(page.body))
	}
	csp := page.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "; img-src 'self' https://cdn.example.com; ") {
		t.Fatalf("CSP %q does not allow the logo's origin (exactly)", csp)
	}
	if strings.Contains(page.body, "/.stepgate/brand/") {
		t.Error("the page links a branding file that was not configured")
	}
}

// TestSVGLogoServedInert: an SVG logo is served as an image that cannot
// run its script when opened on its own.
func TestSVGLogoServedInert(t *testing.T) {
	path := writeTemp(t, "logo.svg", []byte(testSVG))
	e := newEnv(t, func(c *Config) { c.Branding = Branding{Name: "Example Corp", Logo: path} })
	b := e.browser()
	m := regexp.MustCompile(`src="(/\.stepgate/brand/logo-[0-9a-f]{16}\.svg)"`).FindStringSubmatch(b.get(Prefix).body)
	if m == nil {
		t.Fatal("no SVG logo on the page")
	}
	r := b.get(m[1])
	if r.header.Get("Content-Type") != "image/svg+xml" || r.header.Get("Content-Security-Policy") != "default-src 'none'; style-src 'unsafe-inline'; sandbox" ||
		r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("SVG logo headers: %v", r.header)
	}
}

// TestUnbrandedPages: without branding the pages look as they always
// have: Stepgate's name, no logo, no colour stylesheet.
func TestUnbrandedPages(t *testing.T) {
	e := newEnv(t)
	page := e.browser().get(Prefix)
	if !strings.Contains(page.body, "<title>Sign in · Stepgate</title>") || !strings.Contains(page.body, `<p class="brand">Stepgate</p>`) {
		t.Fatalf("unbranded page: %s", page.body)
	}
	if strings.Contains(page.body, "/.stepgate/brand/") {
		t.Error("an unbranded page links a branding file")
	}
	if got := page.header.Get("Content-Security-Policy"); got != defaultCSP {
		t.Errorf("CSP %q", got)
	}
}

func TestCheckLogoURL(t *testing.T) {
	for _, u := range []string{"https://cdn.example.com/logo.svg", "https://cdn.example.com:8443/a/b.png?v=1", "https://xn--bcher-kva.example/l.png", "https://[2001:db8::1]/l.png", "https://localhost/l.png"} {
		if err := CheckLogoURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
