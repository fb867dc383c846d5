package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stepgate/stepgate/verifiers/push/pushtest"
)

// brandLogo is Example Corp's logo in the branding tests: an SVG with a
// script, which must never run.
const brandLogo = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">
<rect width="64" height="64" rx="12" fill="#0b6e4f"/>
<path d="M20 14h26v8H29v6h15v8H29v6h17v8H20z" fill="#fff"/>
<script>document.title = "pwned"</script>
</svg>
`

// brandingBlock is the stepgate options of a branded gateway with push
// (so the Authenticator is served), and the logo's file.
func brandingBlock(t *testing.T) string {
	t.Helper()
	logo := filepath.Join(t.TempDir(), "example-corp.svg")
	if err := os.WriteFile(logo, []byte(brandLogo), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := pushtest.NewService(t)
	block, _ := stepgateBlock(t, writeUsers(t, "alice"), fmt.Sprintf(`branding {
			name "Example Corp"
			logo %s
			color "#0b6e4f"
		}
		push {
			contact mailto:ops@example.com
			service %s
		}`, logo, svc.Origin()))
	return block
}

func httpGet(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/html")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestBrandingThroughCaddy: a Caddyfile's branding block puts the
// organisation's name, logo and colour on the sign-in pages and the
// Authenticator; the logo is served with its type, a year's cache and a
// policy that keeps its script from running.
func TestBrandingThroughCaddy(t *testing.T) {
	startCaddyfile(t, brandingBlock(t), `
http://localhost:9080 {
	stepgate
	respond "app"
}
`)
	for _, path := range []string{"/.stepgate/", "/.stepgate/authenticator/"} {
		_, page := httpGet(t, base+path)
		m := regexp.MustCompile(`<p class="brand"><img class="brand-logo" src="(/\.stepgate/brand/logo-[0-9a-f]{16}\.svg)" alt="">Example Corp</p>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s: no logo and name in the header:\n%s", path, page)
		}
		css := regexp.MustCompile(`<link rel="stylesheet" href="(/\.stepgate/brand/colors-[0-9a-f]{16}\.css)">`).FindStringSubmatch(page)
		if css == nil {
			t.Fatalf("%s: no colour stylesheet", path)
		}
		logo, body := httpGet(t, base+m[1])
		if logo.StatusCode != http.StatusOK || logo.Header.Get("Content-Type") != "image/svg+xml" || body != brandLogo {
			t.Fatalf("logo: %d %q %q", logo.StatusCode, logo.Header.Get("Content-Type"), body)
		}
		if cc, csp := logo.Header.Get("Cache-Control"), logo.Header.Get("Content-Security-Policy"); cc != "public, max-age=31536000, immutable" || !strings.Contains(csp, "sandbox") || !strings.HasPrefix(csp, "default-src 'none'") {
			t.Errorf("logo: Cache-Control %q, CSP %q", cc, csp)
		}
		res, sheet := httpGet(t, base+css[1])
		if res.Header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(sheet, "--accent:#0b6e4f") {
			t.Errorf("colour stylesheet: %q %q", res.Header.Get("Content-Type"), sheet)
		}
	}
	_, login := httpGet(t, base+"/.stepgate/")
	if !strings.Contains(login, "<title>Sign in · Example Corp</title>") {
		t.Errorf("sign-in page title: %s", login)
	}
	_, app := httpGet(t, base+"/.stepgate/authenticator/")
	if !strings.Contains(app, "<title>Stepgate Authenticator · Example Corp</title>") {
		t.Errorf("Authenticator title: %s", app)
	}
}

// TestBrowserBranding: in Chromium, at desktop and phone sizes, the
// sign-in page's header shows Example Corp's logo (loaded, so the policy
// allows it) and name, its button has the organisation's colour, and the
// Authenticator shows the same header.
func TestBrowserBranding(t *testing.T) {
	startCaddyfile(t, brandingBlock(t), demoSite())
	ctx := newBrowser(t)
	check := func(what string) {
		t.Helper()
		if ok, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const i = document.querySelector(".brand img.brand-logo"); return !!i && i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height >= 30; })()`,
			chromedp.WithPollingTimeout(10*time.Second))); err != nil || !ok {
			t.Fatalf("%s: the logo did not load: %v", what, err)
		}
		if name := text(t, ctx, chromedp.Search(`//p[@class="brand"]`)); name != "Example Corp" {
			t.Errorf("%s: header says %q", what, name)
		}
		if title, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`)); !strings.HasSuffix(title, " · Example Corp") {
			t.Errorf("%s: title %q", what, title)
		}
	}
	step(t, ctx, "open the app", chromedp.Navigate(base+"/"), chromedp.WaitVisible(heading("Sign in")))
	check("sign-in page")
	if bg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle([...document.querySelectorAll("button")].find(b => b.textContent.trim() === "Sign in")).backgroundColor`)); bg != "rgb(11, 110, 79)" {
		t.Errorf("the Sign in button's colour is %s, want Example Corp's #0b6e4f", bg)
	}
	screenshot(t, ctx, "37-branding")
	phoneScreen(t, ctx)
	check("sign-in page on a phone")
	screenshot(t, ctx, "37-branding-phone")

	step(t, ctx, "open the Authenticator", chromedp.Navigate(base+"/.stepgate/authenticator/"), chromedp.WaitVisible(heading("Not set up yet")))
	check("Authenticator on a phone")
	screenshot(t, ctx, "38-authenticator-branding-phone")
	desktopScreen(t, ctx)
}
