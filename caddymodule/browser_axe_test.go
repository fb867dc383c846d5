package caddymodule_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeRules are the axe-core rule tags every portal page is checked
// against: WCAG 2.0 and 2.1, levels A and AA.
const axeRules = `["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]`

// axeReviewed are the rules whose "needs review" results fail too: axe
// cannot be sure of them, but on our pages they are always wrong.
// aria-prohibited-attr asks for review when an element with text of its
// own has an ARIA attribute its role forbids (an aria-label on a p,
// which screen readers may not read).
const axeReviewed = `["aria-prohibited-attr"]`

// axePaths are where scripts/install-test-deps.sh puts axe-core's
// axe.min.js (as root, as CI runs it, and as another user), after
// $AXE_CORE, the file's path.
func axePaths() []string {
	paths := []string{os.Getenv("AXE_CORE"), "/opt/stepgate-test/axe-core/node_modules/axe-core/axe.min.js"}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".cache/stepgate-test/axe-core/node_modules/axe-core/axe.min.js"))
	}
	return paths
}

// axeSource is axe.min.js, read once for all the tests, or "" when it is
// in none of axePaths.
var axeSource = sync.OnceValue(func() string {
	for _, p := range axePaths() {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	return ""
})

// axeViolation is what axe-core reports of a rule the page breaks, with
// the elements that break it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	URL    string `json:"helpUrl"`
	Nodes  []struct {
		Target  []string `json:"target"`
		HTML    string   `json:"html"`
		Summary string   `json:"summary"`
	} `json:"nodes"`
}

// checkAccessible runs axe-core on the page as it is now (at the screen
// size it has now) and fails the test with every WCAG 2.1 A or AA rule the
// page breaks: the rule, its impact and help, and each element's selector,
// HTML and what is wrong with it. axe-core is evaluated into the page
// through DevTools, which the page's Content-Security-Policy does not
// govern, once per page: a second check of the same page (at a phone's
// size, say) reuses it. The rules in axeReviewed fail when axe asks for
// a review of them too. Without axe-core the check fails in CI (.ci/run
// installs it) and is skipped elsewhere, saying how to install it.
func checkAccessible(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	src := axeSource()
	if src == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("axe-core not found; .ci/run should have installed it (scripts/install-test-deps.sh)")
		}
		t.Logf("axe-core not found (looked at $AXE_CORE and %s): the accessibility of %s is not checked; run scripts/install-test-deps.sh",
			strings.Join(axePaths()[1:], ", "), what)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`typeof axe === "object"`))
	if err != nil {
		t.Fatalf("accessibility of %s: %v", what, err)
	}
	if !loaded {
		if _, err := chromedp.Run(sctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			t.Fatalf("accessibility of %s: loading axe-core: %v", what, err)
		}
	}
	found, err := chromedp.Run(sctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {
		runOnly: {type: "tag", values: `+axeRules+`},
		resultTypes: ["violations", "incomplete"],
	}).then(r => [...r.violations, ...r.incomplete.filter(v => `+axeReviewed+`.includes(v.id))].map(v => ({
		id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html, summary: n.failureSummary})),
	})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("accessibility of %s: running axe-core: %v", what, err)
	}
	if len(found) == 0 {
		return
	}
	loc, _ := chromedp.Run(sctx, chromedp.Location())
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) is not accessible: axe-core finds it breaks these WCAG 2.1 A and AA rules:", what, loc)
	for _, v := range found {
		fmt.Fprintf(&b, "\n- %s (%s): %s\n  %s", v.ID, v.Impact, v.Help, v.URL)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n  * %s\n    %s\n    %s", strings.Join(n.Target, " "), n.HTML,
				strings.ReplaceAll(n.Summary, "\n", "\n    "))
		}
	}
	t.Error(b.String())
}
