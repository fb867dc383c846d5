package portal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/stepgate/stepgate/verifiers"
)

// Branding is the organisation's look on every page: its name, logo and
// colour. The zero value is Stepgate's own look.
type Branding struct {
	// Name is the organisation's name, shown in every page's header and
	// title ("Sign in · Example Corp") and in the Authenticator's name.
	Name string
	// Logo is a local image file (PNG, JPEG, WebP or SVG, at most
	// MaxLogoBytes), read once and served by the portal, or an https://
	// URL the browser loads it from.
	Logo string
	// Color is the accent colour of buttons and links, #rgb or #rrggbb. It
	// must have a contrast of at least 4.5:1 with white (WCAG AA), since
	// button labels are white on it.
	Color string
}

// MaxLogoBytes is the largest logo file Branding accepts: every sign-in
// page shows it.
const MaxLogoBytes = 256 << 10

// maxBrandName is the longest Branding.Name, in characters.
const maxBrandName = 60

// brandDir holds the branding files, under Prefix: their names carry a
// hash of their content, so browsers may keep them for a year.
const brandDir = "brand"

// brand is the checked Branding, ready to show.
type brand struct {
	view verifiers.Brand
	// files are the branding files the portal serves, by path under
	// Prefix (brand/logo-<hash>.png, brand/colors-<hash>.css).
	files map[string]brandFile
}

// brandFile is one served branding file.
type brandFile struct {
	data        []byte
	contentType string
}

// hexColor is a colour Branding accepts: #rgb or #rrggbb.
var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// CheckBrandColor says why c cannot be the accent colour: it is not #rgb
// or #rrggbb, or white text on it is too hard to read. The Caddyfile
// parser calls it too, so `caddy adapt` already refuses such a colour.
func CheckBrandColor(c string) error {
	if !hexColor.MatchString(c) {
		return fmt.Errorf("branding: color %q: want #rgb or #rrggbb, e.g. \"#0067b8\" (in a Caddyfile, in quotes: # starts a comment)", c)
	}
	if ratio := contrastWithWhite(c); ratio < 4.5 {
		// Rounded down, so a colour just under the limit never reads
		// as meeting it.
		return fmt.Errorf("branding: color %q has a contrast of only %.2f:1 with white; buttons have white text on this colour and need at least 4.5:1 to stay readable (WCAG AA): choose a darker colour", c, math.Floor(ratio*100)/100)
	}
	return nil
}

// CheckBrandName says why n cannot be the organisation's name.
func CheckBrandName(n string) error {
	switch {
	case strings.TrimSpace(n) == "":
		return errors.New("branding: name is empty")
	case !utf8.ValidString(n):
		return errors.New("branding: name is not valid UTF-8 text")
	case utf8.RuneCountInString(n) > maxBrandName:
		return fmt.Errorf("branding: name %q is longer than %d characters", n, maxBrandName)
	}
	for _, r := range n {
		// Bidirectional overrides would make the name, and the title
		// after it, read differently from what it is.
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("branding: name %q contains a control character", n)
		}
	}
	return nil
}

// logoHost is the host (and port) a logo URL may have: a DNS name or a
// bracketed IPv6 address. url.Parse also lets through characters such as
// ; and ' in a host, which would change the pages' Content-Security-Policy
// the host is written into.
var logoHost = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// CheckLogoURL says why a logo given as a URL (u has "://") cannot be
// used: only https:// URLs with a plain host name are.
func CheckLogoURL(u string) error {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "https" || parsed.Host == "" || parsed.User != nil {
		return fmt.Errorf("branding: logo %q: a logo URL must be https://host/path (or give the path of a local file)", u)
	}
	if !logoHost.MatchString(parsed.Host) {
		return fmt.Errorf("branding: logo %q: the host %q must be a plain host name: letters, digits, dots and hyphens (xn-- for international names), or [IPv6]", u, parsed.Host)
	}
	return nil
}

// isLogoURL reports whether the logo is given as a URL rather than a
// file path.
func isLogoURL(logo string) bool { return strings.Contains(logo, "://") }

// rgb reads a colour CheckBrandColor accepts.
func rgb(c string) (r, g, b uint8) {
	h := c[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, _ := hex.DecodeString(h)
	return v[0], v[1], v[2]
}

// contrastWithWhite is the WCAG 2 contrast ratio of white on colour c.
func contrastWithWhite(c string) float64 {
	r, g, b := rgb(c)
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
	return 1.05 / (l + 0.05)
}

// tint is c mixed with white, 7% c: the background of information boxes.
func tint(c string) string {
	r, g, b := rgb(c)
	mix := func(v uint8) uint8 { return uint8(math.Round(255 - 0.07*float64(255-int(v)))) }
	return fmt.Sprintf("#%02x%02x%02x", mix(r), mix(g), mix(b))
}

// newBrand checks b and reads its logo file.
func newBrand(b Branding) (*brand, error) {
	out := &brand{view: verifiers.Brand{Name: "Stepgate"}, files: map[string]brandFile{}}
	if b == (Branding{}) {
		return out, nil
	}
	if b.Name != "" {
		if err := CheckBrandName(b.Name); err != nil {
			return nil, err
		}
		out.view.Name = strings.TrimSpace(b.Name)
		out.view.Named = true
	}
	if b.Color != "" {
		if err := CheckBrandColor(b.Color); err != nil {
			return nil, err
		}
		c := strings.ToLower(b.Color)
		out.view.Color = c
		// The only CSS the portal writes: two checked hex colours.
		out.view.Stylesheet = out.add("colors", "css", "text/css; charset=utf-8",
			[]byte(":root{--accent:"+c+";--accent-tint:"+tint(c)+"}\n"))
	}
	switch {
	case b.Logo == "":
	case b.Name == "":
		return nil, errors.New("branding: a logo needs a name too: the header shows the name beside the logo, and titles and screen readers use it")
	case isLogoURL(b.Logo):
		if err := CheckLogoURL(b.Logo); err != nil {
			return nil, err
		}
		u, _ := url.Parse(b.Logo)
		out.view.Logo = u.String()
		out.view.LogoOrigin = "https://" + u.Host
	default:
		data, typ, ext, err := readLogo(b.Logo)
		if err != nil {
			return nil, fmt.Errorf("branding: logo %s: %w", b.Logo, err)
		}
		out.view.Logo = out.add("logo", ext, typ, data)
	}
	return out, nil
}

// add serves data at brand/<stem>-<hash>.<ext> and returns its URL.
func (b *brand) add(stem, ext, contentType string, data []byte) string {
	sum := sha256.Sum256(data)
	rel := brandDir + "/" + stem + "-" + hex.EncodeToString(sum[:8]) + "." + ext
	b.files[rel] = brandFile{data: data, contentType: contentType}
	return Prefix + rel
}

// readLogo reads a logo file and tells its type from its content (the
// file's name says nothing): PNG, JPEG, WebP or SVG.
func readLogo(path string) (data []byte, contentType, ext string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", "", err
	}
	if !st.Mode().IsRegular() {
		return nil, "", "", errors.New("not a regular file")
	}
	// Read at most one byte more than allowed: a device or a file that
	// grows cannot make provisioning read without end.
	data, err = io.ReadAll(io.LimitReader(f, MaxLogoBytes+1))
	if err != nil {
		return nil, "", "", err
	}
	switch {
	case len(data) > MaxLogoBytes:
		return nil, "", "", fmt.Errorf("larger than %d KiB; logos are shown on every sign-in page, so keep them small", MaxLogoBytes>>10)
	case len(data) == 0:
		return nil, "", "", errors.New("the file is empty")
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		if _, err := png.DecodeConfig(bytes.NewReader(data)); err != nil {
			return nil, "", "", fmt.Errorf("not a valid PNG image: %w", err)
		}
		return data, "image/png", "png", nil
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		if _, err := jpeg.DecodeConfig(bytes.NewReader(data)); err != nil {
			return nil, "", "", fmt.Errorf("not a valid JPEG image: %w", err)
		}
		return data, "image/jpeg", "jpg", nil
	case len(data) >= 16 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return data, "image/webp", "webp", nil
	case isSVG(data):
		return data, "image/svg+xml", "svg", nil
	}
	return nil, "", "", errors.New("not a PNG, JPEG, WebP or SVG image")
}

// isSVG reports whether data is an XML document whose root element is
// an SVG <svg>.
func isSVG(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if el, ok := tok.(xml.StartElement); ok {
			return el.Name.Local == "svg" && el.Name.Space == "http://www.w3.org/2000/svg"
		}
	}
}

// serveBrand serves a branding file (rel is its path under Prefix).
// The name holds a hash of the content, so the file never changes at
// that address: a year's cache is right, and an old address (from
// before the logo changed) is gone rather than answered with another
// image.
func (b *brand) serve(w http.ResponseWriter, r *http.Request, rel string) {
	f, ok := b.files[rel]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	// An SVG is a document that could carry script. Pages show the logo
	// only as an <img>, where no script ever runs; opened on its own, this
	// policy keeps it inert (no script, no loads, a unique origin).
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.Write(f.data)
}
