package portal

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/stepgate/stepgate/verifiers"
)

// method is one registered second-step method, with what it offers beyond
// signing in looked up once.
type method struct {
	verifiers.Method
	desc   verifiers.Description
	enrol  verifiers.Enroller // nil: the method offers no set-up
	own    verifiers.OwnSetUp
	poll   verifiers.Poller
	deny   verifiers.Denier
	extra  verifiers.PageData
	verify *template.Template            // the verify page, with the method's extra part
	pages  map[string]*template.Template // the method's own pages
}

// registry is the methods in use.
type registry struct {
	// byStrength lists the methods strongest first: a user who has not
	// chosen a default gets the first they have.
	byStrength []*method
	// setUp lists the methods that offer a set-up, in the order they were
	// given: the first is what first-sign-in registration shows first.
	setUp  []*method
	byName map[string]*method
	// routes are the methods' own endpoints, longest path first.
	routes []methodRoute
	// authMethods is the Remote-Auth-Methods value of a session whose
	// second step was the method (or a Temporary Access Pass) after a
	// password: built once, so the hot path looks it up.
	authMethods map[string]string
	// discover is the method that signs users in without a username (a
	// passkey), nil when none; discoverName is its name.
	discover     verifiers.Discoverer
	discoverName string
}

type methodRoute struct {
	verifiers.Route
	method string
}

// newRegistry builds the registry from built methods, checking that their
// names, set-up pages and routes do not collide, with each other or with
// the portal's own pages (portalPages).
func newRegistry(ms []verifiers.Method, pageSet *pages) (*registry, error) {
	reg := &registry{byName: map[string]*method{}, authMethods: map[string]string{byPass: byPass, bySetUpPass: byPass}}
	slugs := map[string]string{}
	for _, vm := range ms {
		m := &method{Method: vm, desc: vm.Describe()}
		name := m.desc.Name
		switch {
		case name == "" || name != vm.Method():
			return nil, fmt.Errorf("method %q describes itself as %q", vm.Method(), name)
		case reg.byName[name] != nil:
			return nil, fmt.Errorf("method %q is registered twice", name)
		case m.desc.Title == "":
			return nil, fmt.Errorf("method %q has no title", name)
		case m.desc.Answer == verifiers.TypedCode && m.desc.CodeDigits <= 0:
			return nil, fmt.Errorf("method %q takes a typed code of no length", name)
		}
		m.enrol, _ = vm.(verifiers.Enroller)
		if m.desc.SetUp == "" {
			m.enrol = nil
		}
		m.own, _ = vm.(verifiers.OwnSetUp)
		m.poll, _ = vm.(verifiers.Poller)
		m.deny, _ = vm.(verifiers.Denier)
		m.extra, _ = vm.(verifiers.PageData)
		if d, ok := vm.(verifiers.Discoverer); ok && reg.discover == nil {
			reg.discover, reg.discoverName = d, name
		}
		var own fs.FS
		if p, ok := vm.(verifiers.Pages); ok {
			own = p.Pages()
		}
		var err error
		if m.verify, m.pages, err = pageSet.forMethod(own); err != nil {
			return nil, fmt.Errorf("method %q: %w", name, err)
		}
		if m.enrol != nil {
			if m.desc.Slug == "" || strings.ContainsAny(m.desc.Slug, "/?#") || m.desc.Slug == "qr.png" || m.desc.Slug == "status" {
				return nil, fmt.Errorf("method %q: set-up slug %q is not a path segment", name, m.desc.Slug)
			}
			// Two methods may share a set-up (a phone serves texts and
			// calls): the first given serves it.
			if _, ok := slugs[m.desc.Slug]; !ok {
				slugs[m.desc.Slug] = name
				reg.setUp = append(reg.setUp, m)
			}
		}
		if r, ok := vm.(verifiers.Router); ok {
			for _, rt := range r.Routes() {
				if rt.Path == "" || strings.HasPrefix(rt.Path, "/") || rt.Handler == nil {
					return nil, fmt.Errorf("method %q: bad route %q", name, rt.Path)
				}
				// Method routes are matched before the portal's pages:
				// a route over one would take it over (and an Insecure
				// one would serve it over plain HTTP).
				if page, ok := reservedBy(portalPages, rt.Path); ok {
					return nil, fmt.Errorf("method %q: route %q overlaps the portal's own page %s", name, rt.Path, Prefix+page)
				}
				for _, have := range reg.routes {
					if have.Path == rt.Path {
						return nil, fmt.Errorf("methods %q and %q both serve %s", have.method, name, rt.Path)
					}
				}
				reg.routes = append(reg.routes, methodRoute{Route: rt, method: name})
			}
		}
		reg.byName[name] = m
		reg.byStrength = append(reg.byStrength, m)
		reg.authMethods[name] = "password," + name
	}
	slices.SortStableFunc(reg.byStrength, func(a, b *method) int { return b.desc.Strength - a.desc.Strength })
	slices.SortStableFunc(reg.routes, func(a, b methodRoute) int { return len(b.Path) - len(a.Path) })
	return reg, nil
}

// phishingResistant reports whether the session's latest second step was
// a phishing-resistant method.
func (reg *registry) phishingResistant(s *session) bool {
	m := reg.byName[s.By]
	return m != nil && m.desc.PhishingResistant
}

// methodsOf is the session's Remote-Auth-Methods value: how the user
// signed in, first step first ("password,totp"; "passkey" for a passkey
// sign-in without a password; "access-pass").
func (reg *registry) methodsOf(s *session) string {
	if s.Methods != "" {
		return s.Methods
	}
	if v, ok := reg.authMethods[s.By]; ok {
		return v
	}
	return "password"
}

// get returns the method called name, or nil.
func (reg *registry) get(name string) *method { return reg.byName[name] }

// setUpBySlug returns the set-up served at register/<slug>; "" is the
// first set-up.
func (reg *registry) setUpBySlug(slug string) *method {
	for _, m := range reg.setUp {
		if slug == "" || m.desc.Slug == slug {
			return m
		}
	}
	return nil
}

// route finds the method endpoint serving rel (a path under the prefix).
func (reg *registry) route(rel string) (verifiers.Route, bool) {
	for _, rt := range reg.routes {
		if rel == rt.Path || strings.HasSuffix(rt.Path, "/") && strings.HasPrefix(rel, rt.Path) {
			return rt.Route, true
		}
	}
	return verifiers.Route{}, false
}

// allows reports whether the route serves an HTTP method.
func routeAllows(rt verifiers.Route, m string) bool {
	if len(rt.Methods) == 0 {
		return true
	}
	for _, want := range rt.Methods {
		if want == m || want == http.MethodGet && m == http.MethodHead {
			return true
		}
	}
	return false
}

// anySetUp reports whether the user has any method set up, usable or not
// (calls blocked after a fraud report, texts turned off in the
// Caddyfile): such a user must never be offered first-sign-in
// registration, or whoever has their password could add their own method.
// Every registered method is asked.
func (p *Portal) anySetUp(ctx context.Context, user verifiers.User) (bool, error) {
	for _, m := range p.reg.byStrength {
		ok, err := m.Registered(ctx, user)
		if err != nil || ok {
			return ok, err
		}
	}
	// The store may also hold credentials of methods this site has
	// turned off (a phone, with texts and calls off): they count too.
	return p.storedMethods(ctx, user.Name)
}

// storedMethods reports whether the store holds any credential for user,
// of any method, turned on or not.
func (p *Portal) storedMethods(ctx context.Context, user string) (bool, error) {
	n, err := p.cfg.Store.MethodCount(ctx, user)
	return n > 0, err
}
