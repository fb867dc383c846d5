package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/voice"
)

// The JSON field names of Summary, Details and the types in them are the
// output of `stepgate user list --json` and `show --json`: scripts rely on
// them, so they only ever gain fields.

// Summary is one user in List.
type Summary struct {
	// Name is the username.
	Name string `json:"name"`
	// DisplayName is the user's full name ("" when not set).
	DisplayName string `json:"display_name"`
	// Email is the user's email address ("" when not set).
	Email string `json:"email"`
	// Groups are the user's groups, never null.
	Groups []string `json:"groups"`
	// Methods sums up the user's sign-in methods: "totp" for an
	// authenticator app, the phone's methods ("sms", "voice", or "phone"),
	// "push:N" for N Stepgate Authenticator devices, "METHOD:N" for N
	// credentials of another method. Never null.
	Methods []string `json:"methods"`
	// Locked: the password or the second step is in back-off or locked
	// until an administrator unlocks it.
	Locked bool `json:"locked"`
	// Disabled: the users file says `disabled: true`.
	Disabled bool `json:"disabled"`
	// LastSignIn is the user's last completed sign-in among the recent
	// activity kept; null when there is none.
	LastSignIn *time.Time `json:"last_sign_in"`
}

// Details is one user in Show.
type Details struct {
	// Summary is what List says of the user.
	Summary
	// DefaultMethod is the method the user chose to start sign-ins with
	// ("": the strongest they have).
	DefaultMethod string `json:"default_method"`
	// TOTP is the authenticator app; null when none is set up.
	TOTP *TOTP `json:"totp"`
	// Phone is the phone number for texts and calls; null when none.
	Phone *Phone `json:"phone"`
	// Devices are the Stepgate Authenticator devices, oldest first.
	Devices []Device `json:"devices"`
	// Credentials are the methods kept as generic credentials (passkeys).
	Credentials []Credential `json:"credentials"`
	// RememberedBrowsers skip the second step (session remember_device),
	// most recently remembered first.
	RememberedBrowsers []RememberedBrowser `json:"remembered_browsers"`
	// Lockout has the password and second-step failure counters.
	Lockout []Counter `json:"lockout"`
	// BlockedMethods are the methods turned off after a fraud report, until
	// `stepgate user unlock`.
	BlockedMethods []string `json:"blocked_methods"`
	// RecentActivity is the user's recent sign-in events, newest first.
	RecentActivity []Event `json:"recent_activity"`
	// AccessPass is the user's Temporary Access Pass while it can still be
	// used; null when there is none.
	AccessPass *AccessPassState `json:"access_pass"`
	// RegistrationGranted: after `reset-methods`, the user may set up a
	// method at their next sign-in, also where registration is off.
	RegistrationGranted bool `json:"registration_granted"`
}

// AccessPassState is what Show says of a Temporary Access Pass (never
// the pass itself, which is not kept).
type AccessPassState struct {
	// Created is when it was issued; Expires when it stops working.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Reusable: it works until it expires, not only once.
	Reusable bool `json:"reusable"`
	// LastUsed is when it was last used; null when never.
	LastUsed *time.Time `json:"last_used"`
}

// TOTP is a user's authenticator app.
type TOTP struct {
	// Added is when it was set up; null when unknown.
	Added *time.Time `json:"added"`
}

// Phone is a user's phone number.
type Phone struct {
	// Masked shows only the country code and the last two digits.
	Masked string `json:"masked"`
	// Methods are the ways the phone is used ("sms", "voice" or "phone").
	Methods []string `json:"methods"`
	// Added is when it was confirmed; null when unknown.
	Added *time.Time `json:"added"`
}

// Device is a Stepgate Authenticator device.
type Device struct {
	// ID identifies the device for RemoveDevice.
	ID string `json:"id"`
	// Name is what the user calls it.
	Name string `json:"name"`
	// Created is when it was set up.
	Created time.Time `json:"created"`
	// LastUsed is when it last approved a sign-in; null when never.
	LastUsed *time.Time `json:"last_used"`
	// Notifications is "on", "off" (none allowed) or "stopped" (the push
	// service dropped them; renewed when the app is opened).
	Notifications string `json:"notifications"`
}

// Credential is a method kept as a generic credential (a passkey).
type RememberedBrowser struct {
	// ID identifies it in the store.
	ID string `json:"id"`
	// Name describes the browser ("Firefox on Windows").
	Name string `json:"name"`
	// Created is when it was remembered; Expires when that ends.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// LastUsed is when it last skipped a second step; null when never.
	LastUsed *time.Time `json:"last_used"`
}

// Credential is one of a user's generic credentials.
type Credential struct {
	// ID identifies the credential.
	ID string `json:"id"`
	// Method is the credential's method ("passkey").
	Method string `json:"method"`
	// Name is what the user calls it.
	Name string `json:"name"`
	// Created is when it was added.
	Created time.Time `json:"created"`
	// LastUsed is when it last completed a sign-in; null when never.
	LastUsed *time.Time `json:"last_used"`
}

// Counter is one failure counter and the lockout it causes.
type Counter struct {
	// Counter is "password" (wrong passwords) or "code" (failed second
	// steps, whichever method).
	Counter string `json:"counter"`
	// Failures is the number of failures in a row.
	Failures int `json:"failures"`
	// LastFailure is when the last one happened; null when none.
	LastFailure *time.Time `json:"last_failure"`
	// Locked: an attempt now would be refused.
	Locked bool `json:"locked"`
	// LockedUntil is when the back-off ends; null when not in back-off or
	// locked until an administrator unlocks it (HardLocked).
	LockedUntil *time.Time `json:"locked_until"`
	// HardLocked: locked until `stepgate user unlock`.
	HardLocked bool `json:"hard_locked"`
}

// Event is one entry of a user's recent activity.
type Event struct {
	// At is when it happened.
	At time.Time `json:"at"`
	// Outcome is what happened: "success" (signed in), "password-ok",
	// "failure", "lockout", "method-added", … (as stored by the portal).
	Outcome string `json:"outcome"`
	// Method is the method used ("" when the sign-in did not get that far).
	Method string `json:"method"`
	// ClientIP is the address it came from.
	ClientIP string `json:"client_ip"`
	// Site is the protected site it was for.
	Site string `json:"site"`
	// Detail names the passkey or device it was about ("" none).
	Detail string `json:"detail"`
}

// ShowEvents is how many recent events Show returns.
const ShowEvents = 20

// List returns every user of the users file, sorted by name, with what the
// store knows of them.
func (s *Service) List(ctx context.Context) ([]Summary, error) {
	d, err := s.directory()
	if err != nil {
		return nil, err
	}
	users := d.Users()
	out := make([]Summary, 0, len(users))
	for _, u := range users {
		sum, err := s.summary(ctx, u)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// Show returns everything an administrator needs to know about one user.
func (s *Service) Show(ctx context.Context, name string) (Details, error) {
	u, err := s.user(name)
	if err != nil {
		return Details{}, err
	}
	sum, err := s.summary(ctx, u)
	if err != nil {
		return Details{}, err
	}
	det := Details{Summary: sum, Devices: []Device{}, Credentials: []Credential{}, RememberedBrowsers: []RememberedBrowser{}, BlockedMethods: []string{}, RecentActivity: []Event{}}
	st := s.cfg.Store
	info, err := st.SecurityInfo(ctx, u.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Details{}, fmt.Errorf("reading %s's security info: %w", u.Name, err)
	}
	det.DefaultMethod = info.DefaultMethod
	if info.TOTPSecret != nil {
		det.TOTP = &TOTP{Added: timeOrNil(info.TOTPAdded)}
	}
	if info.Phone != "" {
		det.Phone = &Phone{Masked: phone.Mask(info.Phone), Methods: s.cfg.PhoneMethods, Added: timeOrNil(info.PhoneAdded)}
	}
	if det.Devices, err = s.Devices(ctx, u.Name); err != nil {
		return Details{}, err
	}
	creds, err := st.Credentials(ctx, u.Name, "")
	if err != nil {
		return Details{}, fmt.Errorf("reading %s's credentials: %w", u.Name, err)
	}
	for _, c := range creds {
		det.Credentials = append(det.Credentials, Credential{ID: c.ID, Method: c.Method, Name: c.Name, Created: c.Created, LastUsed: timeOrNil(c.LastUsed)})
	}
	browsers, err := st.RememberedDevices(ctx, u.Name, s.cfg.Now())
	if err != nil {
		return Details{}, fmt.Errorf("reading %s's remembered browsers: %w", u.Name, err)
	}
	for _, b := range browsers {
		det.RememberedBrowsers = append(det.RememberedBrowsers, RememberedBrowser{ID: b.ID, Name: b.Name, Created: b.Created, Expires: b.Expires, LastUsed: timeOrNil(b.LastUsed)})
	}
	if det.Lockout, err = s.counters(ctx, u.Name); err != nil {
		return Details{}, err
	}
	for _, b := range []struct{ method, key string }{{voice.Method, voice.BlockedKey}, {push.Method, push.BlockedKey}} {
		f, err := st.Failures(ctx, u.Name, b.key)
		if err != nil {
			return Details{}, fmt.Errorf("reading %s's failure counters: %w", u.Name, err)
		}
		if f.Count > 0 {
			det.BlockedMethods = append(det.BlockedMethods, b.method)
		}
	}
	switch p, err := st.AccessPassOf(ctx, u.Name); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return Details{}, fmt.Errorf("reading %s's Temporary Access Pass: %w", u.Name, err)
	case p.Expires.After(s.cfg.Now()) && (p.Reusable || p.Used.IsZero()):
		det.AccessPass = &AccessPassState{Created: p.Created, Expires: p.Expires, Reusable: p.Reusable, LastUsed: timeOrNil(p.Used)}
	}
	// The grant only matters while the user has no method (one added on
	// Security info, after signing in with a pass, leaves it in place).
	if det.RegistrationGranted, err = st.RegistrationGranted(ctx, u.Name); err != nil {
		return Details{}, fmt.Errorf("reading %s's registration grant: %w", u.Name, err)
	}
	det.RegistrationGranted = det.RegistrationGranted && len(sum.Methods) == 0
	events, err := st.RecentSignInEvents(ctx, u.Name, ShowEvents)
	if err != nil {
		return Details{}, fmt.Errorf("reading %s's recent activity: %w", u.Name, err)
	}
	for _, e := range events {
		det.RecentActivity = append(det.RecentActivity, Event{At: e.At, Outcome: e.Outcome, Method: e.Method, ClientIP: e.ClientIP, Site: e.Site, Detail: e.Detail})
	}
	return det, nil
}

// summary is what List says of u.
func (s *Service) summary(ctx context.Context, u verifiers.User) (Summary, error) {
	sum := Summary{Name: u.Name, DisplayName: u.DisplayName, Email: u.Email, Groups: slices.Clone(u.Groups), Disabled: u.Disabled, Methods: []string{}}
	if sum.Groups == nil {
		sum.Groups = []string{}
	}
	st := s.cfg.Store
	info, err := st.SecurityInfo(ctx, u.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Summary{}, fmt.Errorf("reading %s's security info: %w", u.Name, err)
	}
	if info.TOTPSecret != nil {
		sum.Methods = append(sum.Methods, "totp")
	}
	if info.Phone != "" {
		sum.Methods = append(sum.Methods, s.cfg.PhoneMethods...)
	}
	devs, err := st.PushDevices(ctx, u.Name)
	if err != nil {
		return Summary{}, fmt.Errorf("reading %s's devices: %w", u.Name, err)
	}
	if len(devs) > 0 {
		sum.Methods = append(sum.Methods, fmt.Sprintf("%s:%d", push.Method, len(devs)))
	}
	creds, err := st.Credentials(ctx, u.Name, "")
	if err != nil {
		return Summary{}, fmt.Errorf("reading %s's credentials: %w", u.Name, err)
	}
	var kinds []string
	perKind := map[string]int{}
	for _, c := range creds {
		if perKind[c.Method] == 0 {
			kinds = append(kinds, c.Method)
		}
		perKind[c.Method]++
	}
	for _, k := range kinds {
		sum.Methods = append(sum.Methods, fmt.Sprintf("%s:%d", k, perKind[k]))
	}
	counters, err := s.counters(ctx, u.Name)
	if err != nil {
		return Summary{}, err
	}
	for _, c := range counters {
		sum.Locked = sum.Locked || c.Locked
	}
	events, err := st.RecentSignInEvents(ctx, u.Name, store.MaxSignInEvents)
	if err != nil {
		return Summary{}, fmt.Errorf("reading %s's recent activity: %w", u.Name, err)
	}
	for _, e := range events {
		if e.Outcome == "success" {
			at := e.At
			sum.LastSignIn = &at
			break
		}
	}
	return sum, nil
}

// counters reads the user's password and second-step failure counters and
// applies the lockout policy to them.
func (s *Service) counters(ctx context.Context, name string) ([]Counter, error) {
	now := s.cfg.Now()
	var out []Counter
	for _, key := range []string{store.FailuresPassword, store.FailuresCode} {
		f, err := s.cfg.Store.Failures(ctx, name, key)
		if err != nil {
			return nil, fmt.Errorf("reading %s's failure counters: %w", name, err)
		}
		c := Counter{Counter: key, Failures: f.Count, LastFailure: timeOrNil(f.Last)}
		if s.cfg.Backoff != nil && f.Count > 0 {
			wait, hard := s.cfg.Backoff(f, now)
			c.HardLocked = hard
			c.Locked = hard || wait > 0
			if !hard && wait > 0 {
				until := now.Add(wait)
				c.LockedUntil = &until
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// timeOrNil is nil for the zero time (unknown, never), else &t.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
