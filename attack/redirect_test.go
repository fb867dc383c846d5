package attack

import (
	"bufio"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// payloads reads testdata/redirects.txt, decoding \t \n \r \0 and \xNN.
func payloads(t *testing.T) []string {
	f, err := os.Open("testdata/redirects.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := strconv.Unquote(`"` + strings.ReplaceAll(line, `"`, `\"`) + `"`)
		if err != nil {
			// Backslashes that are not escapes are meant literally.
			s = strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\r`, "\r", `\x00`, "\x00").Replace(line)
		}
		out = append(out, s)
	}
	return out
}

// sameSite reports whether a browser following loc stays on the gateway.
func sameSite(loc string) bool {
	if strings.ContainsAny(loc, "\\\t\r\n\x00 ") {
		return false
	}
	if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		return true
	}
	u, err := url.Parse(loc)
	return err == nil && u.Scheme == "http" && u.Host == "localhost:9280" && u.User == nil && u.Opaque == ""
}

// TestOpenRedirect tries every payload as the return URL (rd), both
// through a whole first sign-in (password, then authenticator set-up) and
// by a signed-in user opening the sign-in page: the user always lands on
// the gateway.
func TestOpenRedirect(t *testing.T) {
	ps := payloads(t)
	if len(ps) < 60 {
		t.Fatalf("only %d payloads", len(ps))
	}
	users := names("r", len(ps))
	start(t, users, "")
	for i, p := range ps {
		c := newClient(t)
		r := c.post("/.stepgate/?rd="+url.QueryEscape(p), "/.stepgate/", url.Values{"username": {users[i]}, "password": {password_}, "rd": {p}})
		if r.location != "/.stepgate/register" {
			t.Fatalf("%q: password step %d %q", p, r.status, r.location)
		}
		m := secretRe.FindStringSubmatch(c.get("/.stepgate/register").body)
		s := strings.ReplaceAll(m[1], " ", "")
		r = c.post("/.stepgate/register", "/.stepgate/register", url.Values{"code": {code(t, s, time.Now())}})
		if r.status != http.StatusSeeOther || !sameSite(r.location) {
			t.Errorf("rd %q: after sign-in sent to %q (%d)", p, r.location, r.status)
		}
		// Signed in now: the sign-in page sends the user on at once.
		if r := c.get("/.stepgate/?rd=" + url.QueryEscape(p)); r.status != http.StatusFound || !sameSite(r.location) {
			t.Errorf("rd %q: signed-in redirect to %q (%d)", p, r.location, r.status)
		}
		// The language switcher's way back goes to the portal's own
		// pages only.
		if r := c.get("/.stepgate/language?to=de&rd=" + url.QueryEscape(p)); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/.stepgate/") || strings.HasPrefix(r.location, "/.stepgate//") {
			t.Errorf("rd %q: the language switcher went back to %q (%d)", p, r.location, r.status)
		}
	}
	t.Logf("%d open-redirect payloads tried three times each", len(ps))
}
