package gatewaytest

import (
	"html"
	"net/url"
	"regexp"
	"strings"

	"github.com/stepgate/stepgate/internal/softkey"
)

var optionsRe = regexp.MustCompile(`data-options="([^"]+)"`)

// Ceremony shows the page at path and returns its passkey ceremony's
// options and the page's form token, from that one showing (each showing
// makes a new ceremony).
func (c *Client) Ceremony(path string) (options []byte, csrf string) {
	c.T.Helper()
	page := c.Get(path)
	o, t := optionsRe.FindStringSubmatch(page.Body), csrfRe.FindStringSubmatch(page.Body)
	if o == nil || t == nil {
		c.T.Fatalf("no passkey ceremony on %s (%d): %.2000s", path, page.Status, page.Body)
	}
	return []byte(html.UnescapeString(o[1])), t[1]
}

// AnswerPasskey answers the ceremony of the page at from with key (for
// the gateway's own origin) and posts the answer, with form, to `to`. A
// set-up page (register/passkey, security-info/add/passkey) adds key; the
// verify page and the sign-in page sign in with it.
func (c *Client) AnswerPasskey(from, to string, key *softkey.Key, form url.Values) Response {
	c.T.Helper()
	opts, csrf := c.Ceremony(from)
	var answer []byte
	var err error
	if strings.Contains(string(opts), `"user":`) {
		answer, err = key.Register(opts, c.Base)
	} else {
		answer, err = key.Assert(opts, c.Base)
	}
	if err != nil {
		c.T.Fatal(err)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrf)
	form.Set("credential", string(answer))
	return c.Do("POST", to, strings.NewReader(form.Encode()), nil)
}
