package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// RememberPath is the page that offers "Stay signed in?" and "Don't ask
// again on this device" right after a sign-in.
const RememberPath = Prefix + "stay-signed-in"

// byDevice is the session's By when a remembered device stood in for the
// second step: no method was used, so the session is never fresh for
// Security info changes and never phishing-resistant.
const byDevice = "remembered-device"

// rememberOfferWindow is how long after its second step a session may
// still answer the offer: a session cookie taken later cannot make itself
// long-lived or remember the thief's browser.
const rememberOfferWindow = 10 * time.Minute

// maxRememberedDevices is how many browsers a user keeps remembered; the
// oldest is forgotten to make room.
const maxRememberedDevices = 10

// deviceToken is the remembered-device cookie's content. The cookie is
// signed and encrypted (securecookie, bound to its name); the stored
// record it names is what makes it count.
type deviceToken struct {
	ID   string `json:"id"`
	User string `json:"u"`
	Exp  int64  `json:"exp"`
}

// rememberOffer is the offer page's data.
type rememberOffer struct {
	Stay      bool   // offer "Stay signed in"
	StayFor   string // for how long, in words of the page's language ("30 days")
	Device    bool   // offer "Don't ask again on this device"
	DeviceFor string
}

// offer is what the session s may still be offered after its sign-in in
// the browser that sent r.
func (p *Portal) offer(r *http.Request, s session) rememberOffer {
	now := p.cfg.Now().Unix()
	if s.Verified == 0 || now-s.Verified > int64(rememberOfferWindow/time.Second) || s.Verified > now+60 {
		return rememberOffer{}
	}
	// A Temporary Access Pass stands in for a method only until the user
	// has one: nothing it signs in is remembered.
	if s.By == byPass || s.By == bySetUpPass || s.By == byDevice || s.By == "" {
		return rememberOffer{}
	}
	var o rememberOffer
	l := p.lang(r)
	if p.cfg.Remember > 0 && !s.Remembered {
		o.Stay, o.StayFor = true, durationIn(l, p.cfg.Remember)
	}
	if _, already := p.rememberedDevice(r, s.User); p.cfg.RememberDevice > 0 && !already {
		o.Device, o.DeviceFor = true, durationIn(l, p.cfg.RememberDevice)
	}
	return o
}

// afterSignIn sends a user who has just signed in (session s) on: to the
// offer page when there is something to offer, else to rd.
func (p *Portal) afterSignIn(w http.ResponseWriter, r *http.Request, s session, rd string) {
	if o := p.offer(r, s); o.Stay || o.Device {
		http.Redirect(w, r, RememberPath+"?rd="+url.QueryEscape(rd), http.StatusSeeOther)
		return
	}
	p.toSite(w, r, rd, http.StatusSeeOther)
}

// stayOffer serves the offer page (GET) and its answer (POST).
func (p *Portal) stayOffer(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	rd := p.safeRd(r, r.FormValue("rd"))
	id := p.Authenticate(r)
	if id == nil {
		http.Redirect(w, r, Prefix+"?rd="+url.QueryEscape(rd), http.StatusSeeOther)
		return
	}
	o := p.offer(r, id.sess)
	if !o.Stay && !o.Device {
		p.toSite(w, r, rd, http.StatusSeeOther)
		return
	}
	if r.Method != http.MethodPost {
		l := p.lang(r)
		pd := pageData{Title: l.T("portal.remember.stay"), Heading: l.T("portal.remember.stay"), Username: id.User.Name, Rd: rd, Action: RememberPath, Step: o}
		if !o.Stay {
			pd.Title, pd.Heading = l.T("portal.remember.device"), l.T("portal.remember.device")
		}
		p.render(w, r, http.StatusOK, "remember", pd)
		return
	}
	// On the page that offers both, "No" declines both: the box is
	// read only with "Yes".
	if o.Device && r.PostFormValue("device") == "yes" && (!o.Stay || r.PostFormValue("stay") == "yes") {
		if err := p.rememberDevice(w, r, id); err != nil {
			p.storeError(w, r, err)
			return
		}
	}
	if o.Stay && r.PostFormValue("stay") == "yes" {
		s := id.sess
		s.Remembered = true
		s.Expires = s.Issued + int64(p.cfg.Remember/time.Second)
		s.Seen = p.cfg.Now().Unix()
		if !p.setSession(w, r, s) {
			p.storeError(w, r, errors.New("encoding session cookie"))
			return
		}
		p.audit(r, "stay-signed-in", s.User, "", "success", zap.String("session", s.ID[:8]))
	}
	p.toSite(w, r, rd, http.StatusSeeOther)
}

// rememberDevice stores this browser as one of the user's remembered
// devices and gives it the cookie that names it (offer has checked that
// the browser holds no live one for the user). A session remembers one
// browser at most: the device's ID comes from the session's, so answers
// sent again (or in parallel) name the same device and store nothing more.
func (p *Portal) rememberDevice(w http.ResponseWriter, r *http.Request, id *Identity) error {
	now := p.cfg.Now()
	d := store.RememberedDevice{ID: p.deviceID(id.sess.ID), Username: id.User.Name, Name: browserName(p.lang(r), r.UserAgent()),
		Created: now, Expires: now.Add(p.cfg.RememberDevice)}
	created, err := p.cfg.Store.RememberDevice(r.Context(), d, maxRememberedDevices)
	if err != nil {
		return err
	}
	if !created {
		// Already stored by an earlier answer of this session: the
		// browser gets its cookie again, with the stored expiry.
		if d, err = p.cfg.Store.RememberedDevice(r.Context(), id.User.Name, d.ID, now); err != nil {
			return err
		}
	}
	name := p.names(r).device
	v, err := securecookie.EncodeMulti(name, &deviceToken{ID: d.ID, User: d.Username, Exp: d.Expires.Unix()}, p.devices[0])
	if err != nil {
		return fmt.Errorf("encoding device cookie: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", HttpOnly: true, Secure: p.isSecure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(d.Expires.Sub(now) / time.Second)})
	if created {
		p.audit(r, "device-remembered", id.User.Name, "", "success", zap.String("device", d.ID[:8]), verifiers.Named(d.Name))
	}
	return nil
}

// deviceID is the ID of the browser a session remembers: a keyed hash of
// the session's ID, so one session names one device, and the stored ID
// tells nothing of the session.
func (p *Portal) deviceID(session string) string {
	mac := hmac.New(sha256.New, p.keys[0].cookieHash)
	mac.Write([]byte("remembered-device\x00" + session))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// rememberedDevice returns the device record this browser's cookie names
// when it is the user's and still remembered. Any doubt (no cookie, a bad
// one, another user's, a forgotten or expired device, a store error)
// says no, and the second step is asked as usual.
func (p *Portal) rememberedDevice(r *http.Request, user string) (store.RememberedDevice, bool) {
	tok, ok := p.deviceCookie(r, user)
	if !ok {
		return store.RememberedDevice{}, false
	}
	d, err := p.cfg.Store.RememberedDevice(r.Context(), user, tok.ID, p.cfg.Now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.log.Error("reading a remembered device; asking for the second step", zap.Error(err))
		}
		return store.RememberedDevice{}, false
	}
	return d, true
}

// deviceCookie is the request's remembered-device cookie when it is
// intact, the user's and unexpired (and remember_device is on); the store
// has not been asked whether the device is still remembered.
func (p *Portal) deviceCookie(r *http.Request, user string) (deviceToken, bool) {
	if p.cfg.RememberDevice <= 0 {
		return deviceToken{}, false
	}
	name := p.names(r).device
	raw, ok := findCookie(r, name)
	if !ok {
		return deviceToken{}, false
	}
	var tok deviceToken
	if err := securecookie.DecodeMulti(name, raw, &tok, p.devices...); err != nil {
		return deviceToken{}, false
	}
	if tok.User != user || tok.Exp <= p.cfg.Now().Unix() {
		return deviceToken{}, false
	}
	return tok, true
}

// skipSecondStep signs the user in on a remembered device, when this
// browser is one and the account is not locked for second steps. It
// reports whether it answered the request.
func (p *Portal) skipSecondStep(w http.ResponseWriter, r *http.Request, user verifiers.User, rd string) bool {
	ctx := r.Context()
	d, ok := p.rememberedDevice(r, user.Name)
	if !ok {
		return false
	}
	if _, locked := p.locked(r, user.Name, codeFailures); locked {
		return false
	}
	s := p.newSession(r, user.Name)
	s.By, s.Methods = byDevice, "password,"+byDevice
	if !p.setSession(w, r, s) {
		p.storeError(w, r, errors.New("encoding session cookie"))
		return true
	}
	if err := p.cfg.Store.TouchRememberedDevice(ctx, user.Name, d.ID, p.cfg.Now()); err != nil {
		p.log.Error("recording use of a remembered device", zap.Error(err))
	}
	p.clearCookie(w, r, p.names(r).pending)
	p.audit(r, "sign-in", user.Name, byDevice, "success", zap.String("session", s.ID[:8]), zap.String("device", d.ID[:min(8, len(d.ID))]))
	p.toSite(w, r, rd, http.StatusSeeOther)
	return true
}

// forgetDevice deletes one of the user's remembered devices (Security
// info).
func (p *Portal) forgetDevice(w http.ResponseWriter, r *http.Request, id *Identity) {
	devID := r.PostFormValue("id")
	// Its name, for Recent activity ("" when it has expired meanwhile).
	d, _ := p.cfg.Store.RememberedDevice(r.Context(), id.User.Name, devID, p.cfg.Now())
	ok, err := p.cfg.Store.ForgetDevice(r.Context(), id.User.Name, devID)
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	if !ok {
		p.showSecurityInfo(w, r, id, p.lang(r).T("portal.remember.not_remembered"), http.StatusNotFound)
		return
	}
	p.audit(r, "device-forgotten", id.User.Name, "", "success", verifiers.Named(d.Name))
	http.Redirect(w, r, SecurityInfoPath+"?done=device-forgotten", http.StatusSeeOther)
}

// forgetDevices ends every remembered device of the user: with a sign-out
// everywhere, a password change or a reset of the methods, a browser
// someone else may hold must ask for the second step again.
func (p *Portal) forgetDevices(ctx context.Context, user string) error {
	if _, err := p.cfg.Store.ForgetDevices(ctx, user); err != nil {
		return fmt.Errorf("forgetting %s's remembered devices: %w", user, err)
	}
	return nil
}

// rememberedRow is one remembered device on Security info.
type rememberedRow struct {
	ID, Name, Added, LastUsed, Until string
	This                             bool // the browser showing the page
}

// rememberedRows lists the user's remembered devices for Security info.
func (p *Portal) rememberedRows(r *http.Request, user string) ([]rememberedRow, error) {
	list, err := p.cfg.Store.RememberedDevices(r.Context(), user, p.cfg.Now())
	if err != nil {
		return nil, err
	}
	l := p.lang(r)
	// The list is read from the store already: the cookie only says
	// which entry is this browser.
	this, _ := p.deviceCookie(r, user)
	out := make([]rememberedRow, 0, len(list))
	for _, d := range list {
		// A lowered remember_device ends the browser's cookie sooner.
		until := min(d.Expires.Unix(), d.Created.Add(p.cfg.RememberDevice).Unix())
		out = append(out, rememberedRow{ID: d.ID, Name: d.Name, Added: when(l, d.Created), LastUsed: when(l, d.LastUsed),
			Until: when(l, time.Unix(until, 0)), This: d.ID == this.ID})
	}
	return out, nil
}

// durationIn says a remember time in l's language as users read it: in
// days, or under a day in hours, or under an hour in minutes, rounded
// down ("30 days", "1 day", "12 hours"; 36 hours is 1 day).
func durationIn(l *messages.Localizer, d time.Duration) string {
	return roundedDownIn(l, d, day, hour, minute)
}

// browserName describes a browser from its User-Agent for the list of
// remembered devices ("Firefox on Windows"), in l's language; "A
// browser" when unsure. It is a label for the user, never a check.
func browserName(l *messages.Localizer, ua string) string {
	var browser string
	switch {
	case strings.Contains(ua, "Edg/"):
		browser = "Edge"
	case strings.Contains(ua, "Firefox/"):
		browser = "Firefox"
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "Chromium/") || strings.Contains(ua, "CriOS/"):
		browser = "Chrome"
	case strings.Contains(ua, "Safari/"):
		browser = "Safari"
	}
	var os string
	switch {
	case strings.Contains(ua, "iPhone"):
		os = "iPhone"
	case strings.Contains(ua, "iPad"):
		os = "iPad"
	case strings.Contains(ua, "Android"):
		os = "Android"
	case strings.Contains(ua, "Windows"):
		os = "Windows"
	case strings.Contains(ua, "Mac OS X"):
		os = "macOS"
	case strings.Contains(ua, "CrOS"):
		os = "ChromeOS"
	case strings.Contains(ua, "Linux"):
		os = "Linux"
	}
	switch {
	case browser == "" && os == "":
		return l.T("portal.remember.browser")
	case browser == "":
		return l.T("portal.remember.browser_on", "System", os)
	case os == "":
		return browser
	}
	return l.T("portal.remember.named_browser_on", "Browser", browser, "System", os)
}
