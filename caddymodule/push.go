package caddymodule

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/portal"
	"github.com/stepgate/stepgate/verifiers/push"
)

// PushConfig turns on authenticator app notifications: sign-in requests
// sent to the Stepgate Authenticator web app with Web Push.
type PushConfig struct {
	// Contact is the VAPID subject push services may write to about
	// problems: a mailto: address or an https URL. Apple's push service
	// requires one. Default: public_url, else a placeholder and a warning.
	Contact string `json:"contact,omitempty"`
	// VAPIDPublicKey and VAPIDPrivateKey (base64url, as `web-push
	// generate-vapid-keys` prints them) set the gateway's push key pair.
	// Default: generated once and kept in the store, sealed with the secret.
	VAPIDPublicKey  string `json:"vapid_public_key,omitempty"`
	VAPIDPrivateKey string `json:"vapid_private_key,omitempty"`
	// MaxPending is the most unanswered requests a user can have (3).
	MaxPending int `json:"max_pending,omitempty"`
	// PerUser is how many requests a user may get per Window (5 per 10m).
	PerUser int            `json:"per_user,omitempty"`
	Window  caddy.Duration `json:"window,omitempty"`
	// After PauseAfter denied or unanswered requests in a row (3), requests
	// pause for Pause (15m) and the user is asked to sign in another way.
	PauseAfter int            `json:"pause_after,omitempty"`
	Pause      caddy.Duration `json:"pause,omitempty"`
	// Services are push services allowed besides the browsers' own (FCM,
	// Mozilla, Apple, Windows): host[:port], or http://host:port for a
	// plain-HTTP test service.
	Services []string `json:"services,omitempty"`
}

// pushPortalConfig builds the portal's push configuration.
func (a *App) pushPortalConfig(repl *caddy.Replacer, cfg *portal.Config) error {
	c := a.Push
	if c == nil {
		return nil
	}
	keys := push.VAPIDKeys{Public: repl.ReplaceKnown(c.VAPIDPublicKey, ""), Private: repl.ReplaceKnown(c.VAPIDPrivateKey, "")}
	if keys.Public != "" || keys.Private != "" {
		if err := keys.Check(); err != nil {
			return fmt.Errorf("push: %w (set both vapid_public_key and vapid_private_key, or neither to have them generated)", err)
		}
	}
	contact := repl.ReplaceKnown(c.Contact, "")
	switch {
	case contact == "" && a.PublicURL != "":
		contact = repl.ReplaceKnown(a.PublicURL, "")
	case contact == "":
		contact = "mailto:admin@localhost"
		a.logger.Warn("push: no contact set; push services (Apple's in particular) may refuse notifications. Set `push { contact mailto:you@example.com }`")
	}
	if u, err := url.Parse(contact); err != nil || (u.Scheme != "mailto" && u.Scheme != "https") || len(contact) < 10 {
		return fmt.Errorf("push: contact %q must be a mailto: address or an https URL", contact)
	}
	for _, s := range c.Services {
		hostport := strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
		if u, err := url.Parse("https://" + hostport); err != nil || u.Host != hostport || hostport == "" {
			return fmt.Errorf("push: service %q: want host[:port] or http://host:port", s)
		}
	}
	cfg.Push = &portal.PushConfig{
		VAPID: keys, Contact: contact, Services: c.Services,
		Limits: push.Limits{MaxPending: c.MaxPending, PerUser: c.PerUser, Window: time.Duration(c.Window),
			PauseAfter: c.PauseAfter, Pause: time.Duration(c.Pause)},
	}
	a.logger.Info("authenticator app notifications on", zap.String("app", "/.stepgate/authenticator/"), zap.Bool("vapid_from_store", keys.Private == ""))
	return nil
}
