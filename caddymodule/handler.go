package caddymodule

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/stepgate/stepgate/portal"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler protects the routes it is on: a request without a valid session
// is sent to sign in (browsers) or refused with 401 (other clients); a
// signed-in user the policy admits goes on with Remote-User, Remote-Groups,
// Remote-Email and Remote-Name set, and every client-sent copy of those
// headers removed. It also serves the sign-in portal under /.stepgate/.
//
// Sign-in requests sent to a phone name the site by the host matchers on
// the routes leading to the handler (a Caddyfile's site addresses), never
// by a Host header the client chose: see siteName.
//
// After sign-in the placeholders {http.auth.user.id},
// {http.auth.user.groups}, {http.auth.user.email} and
// {http.auth.user.name} hold the user's identity.
type Handler struct {
	// Allow admits only these users and groups; empty admits every
	// signed-in user.
	Allow *portal.Policy `json:"allow,omitempty"`
	// Deny refuses these users and groups' members, whatever Allow says.
	Deny *portal.Policy `json:"deny,omitempty"`
	// Require lists what a session needs beyond being admitted:
	// "phishing_resistant" lets in only sessions whose second step was a
	// passkey, and asks others to verify with one.
	Require []string `json:"require,omitempty"`
	// Portal makes the site a central portal (`stepgate portal`): it
	// serves the sign-in pages and sends every other GET to them; it
	// protects nothing.
	Portal bool `json:"portal,omitempty"`

	portal *portal.Portal
	policy portal.Policy

	site *siteCache
}

// siteCache holds the host names of a handler's site, found at its first
// request.
type siteCache struct {
	once  sync.Once
	hosts []string
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.stepgate",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision connects the handler to the stepgate app.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := ctx.App("stepgate")
	if err != nil {
		return fmt.Errorf("stepgate: %w", err)
	}
	h.portal = app.(*App).Portal()
	h.site = new(siteCache)
	if h.Portal && (h.Allow != nil || h.Deny != nil || len(h.Require) > 0) {
		return fmt.Errorf("stepgate: a portal site protects nothing, so it takes no allow, deny or require")
	}
	for _, req := range h.Require {
		if req != "phishing_resistant" {
			return fmt.Errorf("stepgate: require %q: the only requirement is phishing_resistant", req)
		}
		if app.(*App).Passkeys == nil {
			return fmt.Errorf("stepgate: require phishing_resistant needs passkeys: add 'passkeys' to the stepgate global option")
		}
		h.policy.PhishingResistant = true
	}
	if h.Portal && app.(*App).PortalURL == "" {
		ctx.Logger().Warn("stepgate portal without portal_url: the protected sites serve their own sign-in pages and send nobody here; set portal_url in the stepgate global option")
	}
	if h.Allow != nil {
		h.policy.Users, h.policy.Groups = h.Allow.Users, h.Allow.Groups
	}
	if h.Deny != nil {
		h.policy.DenyUsers, h.policy.DenyGroups = h.Deny.Users, h.Deny.Groups
	}
	return nil
}

// identityVar is the request variable in which the first stepgate handler
// of a request leaves the identity it established. Only handlers set
// request variables; clients cannot.
const identityVar = "stepgate.identity"

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if portal.IsPortalPath(r) {
		h.portal.ServeHTTP(w, r.WithContext(portal.WithSite(r.Context(), siteName(r, h.siteHosts(r)))))
		return nil
	}
	if h.Portal {
		// Nothing but the pages lives here: a visit to the site's root
		// (or any other page) is a visit to sign in.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return caddyhttp.Error(http.StatusNotFound, nil)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, portal.Prefix, http.StatusFound)
		return nil
	}
	// Protect takes Stepgate's cookies out of the request, so a second
	// stepgate handler on the same request (a stricter one inside a
	// route) judges the identity the first one found.
	if id, ok := caddyhttp.GetVar(r.Context(), identityVar).(*portal.Identity); ok && id != nil {
		if !h.portal.Admit(w, r, id, h.policy) {
			return nil
		}
		return next.ServeHTTP(w, r)
	}
	id, done := h.portal.Protect(w, r, h.policy)
	if done {
		return nil
	}
	caddyhttp.SetVar(r.Context(), identityVar, id)
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Set("http.auth.user.id", id.User.Name)
	repl.Set("http.auth.user.groups", id.Groups())
	repl.Set("http.auth.user.email", id.User.Email)
	repl.Set("http.auth.user.name", id.User.DisplayName)
	return next.ServeHTTP(w, r)
}

// siteHosts returns the host names of the site this handler is on, found
// once in the routes of the server r arrived on: the handler is
// provisioned before its server's routes are.
func (h *Handler) siteHosts(r *http.Request) []string {
	if h.site == nil { // not provisioned: name no site
		return nil
	}
	h.site.once.Do(func() {
		if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok {
			h.site.hosts, _ = siteHosts(srv.Routes, h, nil)
		}
	})
	return h.site.hosts
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
