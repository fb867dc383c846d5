package portal

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stepgate/stepgate/verifiers"
)

// fakeMethod is a method that describes itself as told.
type fakeMethod struct {
	desc       verifiers.Description
	registered bool
	routes     []verifiers.Route
}

func (f *fakeMethod) Method() string                  { return f.desc.Name }
func (f *fakeMethod) Describe() verifiers.Description { return f.desc }
func (f *fakeMethod) Enrolled(context.Context, verifiers.User) (bool, error) {
	return f.registered, nil
}
func (f *fakeMethod) Registered(context.Context, verifiers.User) (bool, error) {
	return f.registered, nil
}
func (f *fakeMethod) Label(context.Context, verifiers.User) (string, error) { return f.desc.Title, nil }
func (f *fakeMethod) Start(context.Context, verifiers.User, verifiers.Challenge) (verifiers.Prompt, error) {
	return verifiers.Prompt{}, nil
}
func (f *fakeMethod) Check(context.Context, verifiers.User, verifiers.Challenge, string) (verifiers.Result, error) {
	return verifiers.Rejected, nil
}
func (f *fakeMethod) Enrol(context.Context, verifiers.EnrolRequest) (verifiers.EnrolStep, error) {
	return verifiers.EnrolStep{}, nil
}

type routedMethod struct{ *fakeMethod }

func (r routedMethod) Routes() []verifiers.Route { return r.routes }

func fake(name string, strength int) *fakeMethod {
	return &fakeMethod{desc: verifiers.Description{Name: name, Title: strings.ToUpper(name), Strength: strength,
		Answer: verifiers.TypedCode, CodeDigits: 6, Slug: name, SetUp: "Set up " + name}}
}

func testPages(t *testing.T) *pages {
	t.Helper()
	ps, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestRegistryOrdersByStrength(t *testing.T) {
	reg, err := newRegistry([]verifiers.Method{fake("weak", 1), fake("strong", 50), fake("middle", 20)}, testPages(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range reg.byStrength {
		got = append(got, m.desc.Name)
	}
	if strings.Join(got, ",") != "strong,middle,weak" {
		t.Errorf("by strength: %v", got)
	}
	// Set-ups keep the order they were given: the first is registration's
	// first page.
	if reg.setUpBySlug("").desc.Name != "weak" || reg.setUpBySlug("middle").desc.Name != "middle" || reg.setUpBySlug("nope") != nil {
		t.Error("set-up lookup by slug")
	}
	if reg.get("strong") == nil || reg.get("absent") != nil {
		t.Error("lookup by name")
	}
}

func TestRegistryRefusesBadMethods(t *testing.T) {
	noTitle := fake("a", 1)
	noTitle.desc.Title = ""
	noDigits := fake("b", 1)
	noDigits.desc.CodeDigits = 0
	badSlug := fake("c", 1)
	badSlug.desc.Slug = "x/y"
	statusSlug := fake("d", 1)
	statusSlug.desc.Slug = "status"
	misnamed := fake("e", 1)
	misnamed.desc.Name = "other"
	route := func(name, path string) verifiers.Method {
		f := fake(name, 1)
		f.routes = []verifiers.Route{{Path: path, Handler: http.NotFoundHandler()}}
		return routedMethod{f}
	}
	for name, ms := range map[string][]verifiers.Method{
		"twice":            {fake("x", 1), fake("x", 2)},
		"no title":         {noTitle},
		"code of length 0": {noDigits},
		"slug with /":      {badSlug},
		"slug status":      {statusSlug},
		"misnamed":         nil,
		"route clash":      {route("r1", "hooks/"), route("r2", "hooks/")},
		"absolute route":   {route("r3", "/hooks")},
		"empty route":      {route("r4", "")},
	} {
		if name == "misnamed" {
			ms = []verifiers.Method{namedAs{misnamed, "e"}}
		}
		if _, err := newRegistry(ms, testPages(t)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// namedAs reports a Method() name other than its description's.
type namedAs struct {
	*fakeMethod
	name string
}

func (n namedAs) Method() string { return n.name }

func TestRegistrySharedSetUpAndRoutes(t *testing.T) {
	a, b := fake("texts", 1), fake("calls", 2)
	a.desc.Slug, b.desc.Slug = "phone", "phone"
	long := fake("long", 3)
	long.routes = []verifiers.Route{{Path: "hooks/special", Handler: http.NotFoundHandler()}}
	short := fake("short", 4)
	short.routes = []verifiers.Route{{Path: "hooks/", Handler: http.NotFoundHandler()}}
	reg, err := newRegistry([]verifiers.Method{a, b, routedMethod{short}, routedMethod{long}}, testPages(t))
	if err != nil {
		t.Fatal(err)
	}
	if m := reg.setUpBySlug("phone"); m == nil || m.desc.Name != "texts" {
		t.Errorf("shared slug served by %v, want the first given", m)
	}
	if len(reg.setUp) != 3 {
		t.Errorf("set-ups: %d", len(reg.setUp))
	}
	for path, want := range map[string]bool{"hooks/special": true, "hooks/x": true, "hooks": false, "other": false} {
		if _, ok := reg.route(path); ok != want {
			t.Errorf("route %q: %v", path, ok)
		}
	}
}

// TestRegistryRefusesRoutesOverPortalPages: method routes are matched
// before the portal's own pages, so a route at, above or below one of them
// ("security-info/", "verify", "logout", even Insecure over plain HTTP)
// would take it over; every page of the portal's route table is refused,
// while the built-in methods' routes and mere look-alikes are accepted.
func TestRegistryRefusesRoutesOverPortalPages(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	build := func(path string) error {
		f := fake("plug", 1)
		f.routes = []verifiers.Route{{Path: path, Handler: h, Insecure: true}}
		_, err := newRegistry([]verifiers.Method{routedMethod{f}}, testPages(t))
		return err
	}
	refused := []string{"security-info/", "security-info", "security-info/add/push", "verify", "verify/",
		"verify/status", "verify/status/", "verify/method/x", "logout", "logout/", "register", "register/",
		"register/sms", "static/", "static/app.css"}
	// Every page in the table, what is below it and what is above it.
	for _, pg := range portalPages {
		if pg.path == "" {
			continue // a route "" is refused as such, and "x/" is not above the sign-in page
		}
		refused = append(refused, pg.path, pg.path+"/", pg.path+"/x", pg.path+"/x/")
		for dir := pg.path; strings.Contains(dir, "/"); {
			dir = dir[:strings.LastIndex(dir, "/")]
			refused = append(refused, dir, dir+"/")
		}
	}
	for _, path := range refused {
		err := build(path)
		if err == nil {
			t.Errorf("a method's route %q over a portal page was accepted", path)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `"plug"`) || !strings.Contains(msg, strconv.Quote(path)) {
			t.Errorf("route %q: the error does not name the method and the path: %v", path, err)
		}
	}
	for _, path := range []string{
		"twilio/", "outbox/answer", "authenticator/", "push/", // the built-in methods'
		"verifying", "logouts/", "registered/", "security-information", "statics", "hooks/verify", "x/logout/",
	} {
		if err := build(path); err != nil {
			t.Errorf("route %q refused: %v", path, err)
		}
	}
}

// TestReservedByAbovePage: a route above a page whose parent is no page
// itself ("account/" above "account/settings") is refused too.
func TestReservedByAbovePage(t *testing.T) {
	pages := []portalPage{{path: ""}, {path: "account/settings"}}
	for path, want := range map[string]bool{
		"account": true, "account/": true, "account/settings": true, "account/settings/x": true,
		"accounts/": false, "account/set": false, "x": false,
	} {
		if _, got := reservedBy(pages, path); got != want {
			t.Errorf("%q reserved: %v, want %v", path, got, want)
		}
	}
}

// TestAnySetUpAsksEveryMethod: a method the portal has never heard of
// decides, like the built-in ones, that a user is set up, so first-sign-in
// registration is refused to whoever has only the password.
func TestAnySetUpAsksEveryMethod(t *testing.T) {
	custom := fake("custom", 5)
	custom.registered = true
	e := newEnv(t, func(c *Config) {
		c.Methods = append(c.Methods, func(verifiers.Env) (verifiers.Method, error) { return custom, nil })
	})
	alice, _ := e.cfg.Users.Lookup("alice")
	if any, err := e.p.anySetUp(context.Background(), alice); err != nil || !any {
		t.Fatalf("a user with the custom method counts as set up: %v %v", any, err)
	}
	custom.registered = false
	if any, err := e.p.anySetUp(context.Background(), alice); err != nil || any {
		t.Fatalf("a user without any method: %v %v", any, err)
	}
}
