package push

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"
)

// TestWaitWords: the refusals that say how long to wait say it in one
// message per unit (the rounding is verifiers.WaitWords'; its test has
// the edges).
func TestWaitWords(t *testing.T) {
	l := messages.English()
	now := time.Unix(1_700_000_000, 0)
	for d, wait := range map[time.Duration]string{
		0: "a second", 25 * time.Second: "25 seconds", time.Minute: "a minute",
		15 * time.Minute: "15 minutes", 3 * time.Hour: "an hour",
	} {
		if got, want := (&LimitError{Retry: now.Add(d)}).Explain(l, "", now), "Too many sign-in requests have been sent. Try again in "+wait+"."; got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		if got, want := (&PausedError{Until: now.Add(d)}).Explain(l, "", now), "Several sign-in requests in a row were denied or not answered, so requests to your phone are paused for "+wait+"."; got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// messageID is a message ID of this area as code, pages and scripts
// name it.
var messageID = regexp.MustCompile(`"(push\.[a-z0-9_]+(?:\.[a-z0-9_]+)+)"`)

// TestMessagesExist: every message ID the package's code, pages and
// scripts name is in the English catalogue, and each one the scripts
// use is given to them.
func TestMessagesExist(t *testing.T) {
	en := messages.Catalogue(messages.Default)
	given := map[string]map[string]bool{"authenticator/app.js": {}, "authenticator/sw.js": {}}
	for _, w := range appWords {
		given["authenticator/app.js"][w.id] = true
	}
	for _, w := range workerWords {
		given["authenticator/sw.js"][w.id] = true
	}
	files := 0
	err := fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") ||
			!(strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".js")) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, m := range messageID.FindAllStringSubmatch(string(b), -1) {
			if slices.Contains(DefaultServices, m[1]) {
				continue // a push service's host
			}
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s names %s, which the catalogue lacks", p, m[1])
			}
			if g := given[p]; g != nil && !g[m[1]] {
				t.Errorf("%s uses %s, which app.go does not give it", p, m[1])
			}
		}
		return nil
	})
	if err != nil || files < 10 {
		t.Fatalf("%d files read: %v", files, err)
	}
}

// TestNameWords: a device name that can't be used gets
// verifiers.CredentialName's words, on the phone as they are and on the
// Security info page in a sentence.
func TestNameWords(t *testing.T) {
	l := messages.English()
	for _, name := range []string{"bad \xff", "tab\there", strings.Repeat("x", 41)} {
		_, err := DeviceName(l, name)
		ne, ok := err.(*NameError)
		if !ok {
			t.Fatalf("%q: %v", name, err)
		}
		if got := ne.inApp(l); got != err.Error() {
			t.Errorf("%q on the phone: %q, want %q", name, got, err.Error())
		}
		if got, want := ne.Explain(l, "", time.Time{}), "That name can't be used: "+err.Error()+"."; got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
	if name, err := DeviceName(l, "  "); name != "My phone" || err != nil {
		t.Errorf("no name: %q %v", name, err)
	}
}

// TestSubscriptionWords: a push subscription that can't be used is
// explained as before, in the request's language.
func TestSubscriptionWords(t *testing.T) {
	l := messages.English()
	w := &WebPush{Services: []string{"http://127.0.0.1:9"}}
	for _, sub := range []string{"nope", `{"endpoint":"::"}`, `{"endpoint":"https://evil.example.com/x"}`,
		`{"endpoint":"https://fcm.googleapis.com/x","keys":{"p256dh":"!","auth":"AAAAAAAAAAAAAAAAAAAAAA"}}`,
		`{"endpoint":"https://fcm.googleapis.com/x","keys":{"p256dh":"AAAA","auth":"AAAAAAAAAAAAAAAAAAAAAA"}}`} {
		err := w.Check(sub)
		if err == nil {
			t.Fatalf("%s accepted", sub)
		}
		if got, want := subscriptionProblem(l, err), "the push subscription can't be used: "+err.Error(); got != want {
			t.Errorf("%s: %q, want %q", sub, got, want)
		}
	}
}

// TestAuthenticatorWords: the app's page gives its script the words
// appWords lists, in its language, and says which that is; the service
// worker is served with its own.
func TestAuthenticatorWords(t *testing.T) {
	v := &Verifier{Prefix: "/.stepgate/"}
	body := getApp(t, v, "/.stepgate/authenticator/").Body.String()
	if !strings.Contains(body, `<html lang="en">`) {
		t.Errorf("page language: %s", body)
	}
	block := regexp.MustCompile(`<script type="application/json" id="words">([^<]*)</script>`).FindStringSubmatch(body)
	var got map[string]string
	if block == nil || json.Unmarshal([]byte(block[1]), &got) != nil || len(got) != len(appWords) {
		t.Fatalf("the page's words: %v", block)
	}
	if got["push.app.request.heading"] != "Sign in to {Host}?" || got["push.app.setup.working"] != "Setting up…" {
		t.Errorf("the page's words: %v", got)
	}
	sw := getApp(t, v, "/.stepgate/authenticator/sw.js").Body.String()
	if !strings.Contains(sw, `var words = {"push.address.private":"{Address} (a private network)",`) || strings.Contains(sw, workerMark) {
		t.Errorf("the service worker's words: %s", sw)
	}
}
