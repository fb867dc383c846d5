package messages_test

// The catalogues' completeness: every language has exactly English's
// messages with the same placeholders and the plural forms its grammar
// needs, and the source uses every message and no message that does not
// exist. The packages below register every area Stepgate has.

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stepgate/stepgate/messages"
	_ "github.com/stepgate/stepgate/portal"
	_ "github.com/stepgate/stepgate/verifiers/passkey"
	_ "github.com/stepgate/stepgate/verifiers/password"
	_ "github.com/stepgate/stepgate/verifiers/phone"
	_ "github.com/stepgate/stepgate/verifiers/push"
	_ "github.com/stepgate/stepgate/verifiers/sms"
	_ "github.com/stepgate/stepgate/verifiers/totp"
	_ "github.com/stepgate/stepgate/verifiers/voice"
)

// pluralForms are the CLDR forms each language's plural messages need for
// whole numbers.
var pluralForms = map[string][]string{
	"ja": {"other"}, "zh-Hans": {"other"},
	"pl": {"one", "few", "many", "other"},
}

// placeholders are the names m fills in, without Count: a language
// without a singular may say "one" in words.
func placeholders(m messages.Message) string {
	return strings.Join(slices.DeleteFunc(m.Placeholders(), func(p string) bool { return p == "Count" }), ",")
}

// stepgate is the catalogue of lang without the area of this package's
// own tests ("test").
func stepgate(lang string) map[string]messages.Message {
	c := messages.Catalogue(lang)
	for id := range c {
		if strings.HasPrefix(id, "test.") {
			delete(c, id)
		}
	}
	return c
}

func TestEveryLanguageHasEveryMessage(t *testing.T) {
	en := stepgate(messages.Default)
	if len(en) < 100 {
		t.Fatalf("only %d English messages: are the areas registered?", len(en))
	}
	for _, l := range messages.Languages {
		if l.Tag == messages.Default {
			continue
		}
		t.Run(l.Tag, func(t *testing.T) {
			got := stepgate(l.Tag)
			var missing, stray []string
			for id, m := range en {
				tr, ok := got[id]
				if !ok {
					missing = append(missing, id)
					continue
				}
				if a, b := placeholders(m), placeholders(tr); a != b {
					t.Errorf("%s: English fills in {%s}, %s fills in {%s}", id, a, l.Tag, b)
				}
				plural := len(m.Forms) > 1
				if plural {
					need := pluralForms[l.Tag]
					if need == nil {
						need = []string{"one", "other"}
					}
					for _, f := range need {
						if tr.Forms[f] == "" {
							t.Errorf("%s: the plural form %q is missing", id, f)
						}
					}
				} else if len(tr.Forms) != 1 || tr.Forms["other"] == "" {
					t.Errorf("%s: English has one text, %s has the forms %v", id, l.Tag, tr.Forms)
				}
			}
			for id := range got {
				if _, ok := en[id]; !ok {
					stray = append(stray, id)
				}
			}
			sort.Strings(missing)
			sort.Strings(stray)
			if len(missing) > 0 {
				t.Errorf("%d messages missing in %s: %s", len(missing), l.Tag, strings.Join(first(missing, 20), " "))
			}
			if len(stray) > 0 {
				t.Errorf("%d messages in %s that English does not have: %s", len(stray), l.Tag, strings.Join(stray, " "))
			}
		})
	}
}

// first is at most n of list, saying how many more there are.
func first(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(list[:n:n], fmt.Sprintf("… and %d more", len(list)-n))
}

// TestDateLayoutsAreNumeric: a language's date layout writes the month
// as a number; Go would write a month's name in English.
func TestDateLayoutsAreNumeric(t *testing.T) {
	at := time.Date(2026, time.December, 3, 14, 5, 0, 0, time.UTC)
	for _, l := range messages.Languages[1:] {
		for _, id := range []string{"portal.security.format.date", "portal.security.format.date_time"} {
			m, ok := stepgate(l.Tag)[id]
			if !ok {
				continue // reported by TestEveryLanguageHasEveryMessage
			}
			got := at.Format(m.Forms["other"])
			if strings.ContainsAny(strings.TrimSuffix(got, "UTC"), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") || !strings.Contains(got, "2026") || !strings.Contains(got, "12") {
				t.Errorf("%s %s: the layout %q writes %q", l.Tag, id, m.Forms["other"], got)
			}
		}
	}
}

// TestSourceUsesEveryMessage reads the Go, template and script sources
// for quoted message IDs: each must exist in English, and each English
// message must be used (a quoted ID, or a quoted prefix ending in "."
// that code completes).
func TestSourceUsesEveryMessage(t *testing.T) {
	en := stepgate(messages.Default)
	areas := strings.Join(messages.Areas(), "|")
	quoted := regexp.MustCompile("[\"'`]((?:" + areas + `)\.[a-z0-9_]+(?:\.[a-z0-9_]+)*\.?)["'` + "`]")
	// File names, host names, and a store key that look like IDs.
	notID := regexp.MustCompile(`\.(go|html|js|css|toml|png|json|webmanifest|txt|com|net|org)$|^push\.vapid$`)
	used := map[string]bool{}
	var prefixes []string
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "testdata" || n == "node_modules" || (n == "messages" && path == filepath.Join(root, "messages")) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, "_test.go") || !(strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".html") || strings.HasSuffix(name, ".js")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range quoted.FindAllStringSubmatch(line, -1) {
				id := m[1]
				switch {
				case notID.MatchString(id):
				case strings.HasSuffix(id, "."):
					prefixes = append(prefixes, id)
				default:
					used[id] = true
					if _, ok := en[id]; !ok {
						t.Errorf("%s:%d uses %s, which no English catalogue has", path, i+1, id)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var unused []string
	for id := range en {
		if used[id] {
			continue
		}
		prefixed := false
		for _, p := range prefixes {
			if strings.HasPrefix(id, p) {
				prefixed = true
				break
			}
		}
		if !prefixed {
			unused = append(unused, id)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("%d messages no source uses (remove them, or quote their ID where it is used): %s", len(unused), strings.Join(unused, " "))
	}
}
