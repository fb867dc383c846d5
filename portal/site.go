package portal

import (
	"context"
	"net/http"
)

type siteKey struct{}

// WithSite returns a copy of ctx that names the site a request to the
// portal arrived on, as the server's configuration names it. Approval
// requests show that name on the phone ("Sign in to app.example.com?"),
// so it must never be a Host header the client chose, as on a wildcard
// or catch-all site. "" names no site: the issuer is shown instead.
func WithSite(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, siteKey{}, name)
}

// siteName is the name of the site r arrived on (see WithSite), or the
// issuer's name when the front door gave none.
func (p *Portal) siteName(r *http.Request) string {
	if name, _ := r.Context().Value(siteKey{}).(string); name != "" {
		return name
	}
	return p.cfg.Issuer
}
