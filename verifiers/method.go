package verifiers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
)

// This file is the method registry's contract. Every second-step method
// is one package that implements Method; the portal iterates the methods
// it was given and never names one. What a method can do beyond signing
// in (set-up pages, its own endpoints, a status to poll, words for its
// errors) it offers by implementing the optional interfaces below.

// Answer is the kind of answer a method's challenge takes.
type Answer string

const (
	// TypedCode: the user types a code (from an app, a text, a call).
	TypedCode Answer = "code"
	// Approval: the user answers somewhere else (on a phone call, in the
	// Stepgate Authenticator) and the sign-in page waits for it.
	Approval Answer = "approval"
	// Ceremony: the browser runs a ceremony with an authenticator (a
	// passkey) and posts its result.
	Ceremony Answer = "ceremony"
)

// Description is what a method says about itself: its name, the words
// users see, and how it is answered.
type Description struct {
	// Name is the method's stable name. It keys failure counters, audit
	// entries and the user's default method, so it never changes.
	Name string
	// Title is what users call the method in lists ("Authenticator app").
	Title string
	// Strength orders methods, strongest first: a user who has not chosen
	// a default gets the strongest method they have.
	Strength int
	// Answer is what kind of answer the challenge takes.
	Answer Answer
	// CodeDigits is the length of a typed code (TypedCode).
	CodeDigits int

	// Heading is the verify page's heading ("Enter code").
	Heading string
	// Hint is the verify page's instruction under the prompt ("Enter the
	// code from the message.").
	Hint string
	// Again labels the button that starts the method anew ("Send a new
	// code", "Call again"); "" shows no such button.
	Again string
	// Waiting is what an Approval page says when the user continues before
	// answering; Continue labels its button ("I approved it, continue").
	Waiting  string
	Continue string
	// WrongCode is what a wrong typed code (or a ceremony's answer that
	// is not accepted) gets.
	WrongCode string
	// Gone is what a Ceremony's answer gets when its challenge is no longer
	// live (expired, replaced, or answered before); "" says the code
	// expired.
	Gone string
	// StartEvent is the audit event logged when Start has sent something
	// ("code-sent"); "" logs nothing.
	StartEvent string

	// Slug names the method's set-up pages: <prefix>register/<Slug>.
	Slug string
	// SetUp offers the method on another method's set-up page ("Get codes
	// by text message instead"); "" when the method offers no set-up.
	SetUp string
	// Add is the Security info page's words for adding the method ("Add
	// an authenticator app"), Change for setting up a replacement of a
	// user's only credential ("Change", "Replace"); Many: a user may have
	// several credentials of the method (devices), each added with Add.
	Add    string
	Change string
	Many   bool
	// PhishingResistant: a phishing page cannot relay the method's answer
	// (it is bound to the site's origin). `require phishing_resistant`
	// admits only sessions whose second step was such a method.
	PhishingResistant bool
}

// Method is a second-step method as the portal drives it.
type Method interface {
	Verifier
	// Describe returns the method's description. It is called once, when
	// the portal is built.
	Describe() Description
	// Registered reports whether the user has any credential of this
	// method, usable now or not (calls blocked after a fraud report, a
	// method turned off on this site). First-sign-in registration is only
	// for users for whom no method reports true: otherwise whoever has
	// the password could add their own method to the account.
	Registered(ctx context.Context, user User) (bool, error)
	// Label is the line offering the user's method in "Sign in another
	// way" ("Text +1 *** *** **42").
	Label(ctx context.Context, user User) (string, error)
}

// Refusal is an error a method returns (from Start or from a set-up step)
// with words for the user: a sending limit, a paused method, a country
// that is not allowed.
type Refusal interface {
	error
	// Explain is the message for the user; help names who to contact.
	Explain(l *messages.Localizer, help string, now time.Time) string
	// Outcome is the audit outcome ("limited"); "" logs no audit entry.
	Outcome() string
}

// Denial is what the page says about an Approval that was not given.
type Denial struct {
	// Message is shown on the page.
	Message string
	// Status is the HTTP status of the page.
	Status int
	// Outcome is logged as a sign-in event; "" logs nothing. Detail goes
	// with it.
	Outcome string
	Detail  string
	// Failure: the denial counts toward the account's lockout.
	Failure bool
}

// Denier explains an Approval challenge that Check did not accept
// (Rejected or Expired).
type Denier interface {
	Denied(ctx context.Context, user User, ch Challenge, help string) (Denial, error)
}

// Poller reports the state of a challenge that is answered elsewhere, for
// the waiting page's poll: "pending" while it waits.
type Poller interface {
	State(ctx context.Context, user User, ch Challenge) (string, error)
}

// EnrolRequest is one step of adding a credential.
type EnrolRequest struct {
	User      User
	Challenge Challenge
	// First is set during first-sign-in registration: the credential is
	// the user's first, and the store write that adds it must refuse
	// (store.ErrAlreadySetUp) when the user has any method by then.
	First bool
	// State is what the previous step kept ("" to begin).
	State string
	// Form is the submitted form; nil when the page is only shown.
	Form url.Values
	// Site is the site's origin (scheme://host[:port]), for links that
	// another device opens.
	Site string
	// Until, when set, is when the set-up must be finished by: a set-up
	// from the Security info page lasts no longer than the session's
	// recent second step allows changes. A method whose set-up is finished
	// elsewhere (a phone enrolling itself) makes its token expire by then.
	Until time.Time
	// Guard checks a typed code of the given length (the form's "code")
	// with the account's lockout around it: every guess a set-up step
	// makes goes through it.
	Guard func(digits int, check func(code string) (Result, error)) Guarded
}

// Guarded is the outcome of a guess made through EnrolRequest.Guard.
type Guarded struct {
	Result Result
	// Error and Status are for the page when Result is not Accepted.
	Error  string
	Status int
}

// EnrolStep is what a set-up step shows, or that it is done.
type EnrolStep struct {
	// State is kept for the next step, encrypted in a cookie.
	State string
	// Page names the method's template (see Pages) to show, under
	// Heading ("" keeps the set-up's usual heading).
	Page    string
	Heading string
	// Data is given to the template as .Step.
	Data any
	// QR is text drawn as a QR code the page can show ("" none), at most
	// QRSize pixels wide.
	QR     string
	QRSize int
	// Poll: the page waits for something done elsewhere (a phone setting
	// itself up), polling the set-up's status until Ready.
	Poll bool
	// Ready: what the page waited for has happened.
	Ready bool
	// Error is shown above the form, with Status.
	Error  string
	Status int
	// Sent: this step sent something (a code to confirm a number), which
	// the portal logs as the method's StartEvent.
	Sent bool
	// Done: the credential was added; Added describes it for the audit
	// log, and Name is what the user calls it ("" for a method whose
	// credentials have no names).
	Done  bool
	Added string
	Name  string
}

// Enroller adds credentials of a method. First-sign-in registration and
// the Security info page run the same steps.
type Enroller interface {
	Enrol(ctx context.Context, req EnrolRequest) (EnrolStep, error)
}

// Credential is one of a user's credentials of a method, as the Security
// info page lists it.
type Credential struct {
	// ID identifies the credential among the user's credentials of the
	// method (a device's ID); opaque to the portal.
	ID string
	// Name is what the page shows: what the user calls it ("Pixel 8") or
	// a detail ("+1 ••• ••• ••42").
	Name string
	// Added and LastUsed are zero when unknown.
	Added    time.Time
	LastUsed time.Time
	// Renamable: the user may rename it (see Renamer).
	Renamable bool
}

// Manager is implemented by a method whose credentials users manage on the
// Security info page.
type Manager interface {
	// Credentials lists the user's credentials of the method, oldest first.
	Credentials(ctx context.Context, user User) ([]Credential, error)
	// Remove deletes one of the user's credentials; an ID of another user's
	// credential, or an unknown one, is store.ErrNotFound and changes
	// nothing. With keepOne the store refuses (store.ErrLastMethod),
	// atomically, to remove the user's last credential of any method.
	Remove(ctx context.Context, user User, id string, keepOne bool) error
}

// Renamer is implemented by a method whose credentials users rename.
type Renamer interface {
	// Rename renames one of the user's credentials (store.ErrNotFound for
	// another user's or an unknown ID); a name that is not acceptable is
	// a Refusal.
	Rename(ctx context.Context, user User, id, name string) error
}

// OwnSetUp is implemented by a method whose set-up adds the credential
// before its last step (a phone enrols itself, then the page finishes):
// during first-sign-in registration the user then has a method, and the
// portal lets the set-up that added it finish.
type OwnSetUp interface {
	OwnSetUp(ctx context.Context, user User, ch Challenge) (bool, error)
}

// Pages is implemented by a method with pages of its own: html/template
// files, each defining "content" (shown inside the portal's layout). A
// file named "verify-extra.html" defines "extra", shown on the method's
// verify page with the data of PageData.
type Pages interface {
	Pages() fs.FS
}

// PageData is implemented by a method whose verify page shows more (see
// Pages).
type PageData interface {
	PageData(ctx context.Context, user User, ch Challenge) (any, error)
}

// Route is one of a method's own endpoints under the portal's prefix.
type Route struct {
	// Path is relative to the prefix ("push/"); one ending in "/" serves
	// everything below it.
	Path string
	// Methods are the HTTP methods served (GET also serves HEAD); others
	// get 405. Empty: any.
	Methods []string
	// Handler serves the route. The portal has set its security headers.
	Handler http.Handler
	// Insecure routes are served on plain HTTP too (callbacks signed
	// another way, static files); the others only over HTTPS or loopback.
	Insecure bool
	// Form routes are browser forms: the portal parses the form (16 KB at
	// most) and checks its CSRF token first.
	Form bool
}

// Router is implemented by a method with endpoints of its own (webhooks,
// a device API).
type Router interface {
	Routes() []Route
}

// Discoverer is implemented by a method that can sign a user in without a
// username (a passkey names its user): the sign-in page offers it.
type Discoverer interface {
	// BeginDiscover makes a new ceremony for the sign-in page, for
	// challenge ch (its ID names the ceremony; a new one replaces the
	// last with the same ID), and returns what the page's script uses.
	BeginDiscover(ctx context.Context, ch Challenge) (string, error)
	// Discovered checks the answer to the ceremony of ch and returns the
	// user it names, and whether the user was verified (a PIN or a
	// biometric: then it stands for both steps). ErrNotAccepted refuses
	// an answer; ErrGone one whose ceremony is no longer live.
	Discovered(ctx context.Context, ch Challenge, answer string) (user string, verified bool, err error)
}

var (
	// ErrNotAccepted is an answer that was checked and refused.
	ErrNotAccepted = errors.New("the answer was not accepted")
	// ErrGone is an answer to a ceremony that expired, was replaced or was
	// answered before.
	ErrGone = errors.New("the ceremony is no longer live")
)

// Host is what the portal offers to a method's endpoints.
type Host interface {
	// Audit logs one sign-in event.
	// A Named field names the credential in the user's Recent activity
	// too.
	Audit(r *http.Request, event, user, method, outcome string, fields ...zap.Field)
	// Failed counts a failure made elsewhere (a denial on a phone) toward
	// the user's lockout, and logs it.
	Failed(r *http.Request, user, method, outcome string)
	// FraudReported logs a user's report that a sign-in was not theirs.
	FraudReported(r *http.Request, user, method, detail string)
	// ClientIP is the client's address.
	ClientIP(r *http.Request) string
	// HelpContact names who helps users, in l's language when the
	// administrator named no one.
	HelpContact(l *messages.Localizer) string
	// Signing returns the request's sign-in waiting for its second step,
	// with the user it is for.
	Signing(r *http.Request) (User, Challenge, bool)
	// Local reports whether the request comes from this machine to a site
	// on this machine (the development outboxes serve only such requests).
	Local(r *http.Request) bool
	// FirstSignInRegistration reports whether users without a method may
	// set one up after their password.
	FirstSignInRegistration() bool
}

// Env is what a method is built with.
type Env struct {
	Store  store.Store
	Sealer *store.Sealer
	// Key is 32 bytes derived from the current secret, for keyed hashes.
	Key    []byte
	Issuer string
	// Prefix is the portal's path prefix ("/.stepgate/").
	Prefix string
	Now    func() time.Time
	Log    *zap.Logger
	Host   Host
	// Brand is the organisation's look, for a method's own pages (the
	// Authenticator).
	Brand Brand
	// Languages are the languages the portal speaks, with the
	// administrator's wording: for what a method says outside a user's
	// request (a telephony callback). Within one, messages.From(ctx) is
	// the user's language.
	Languages *messages.Set
}

// Brand is how the portal's pages show the organisation (the branding
// option). Its URLs are the portal's own or a checked https URL.
type Brand struct {
	// Name is the organisation's name, "Stepgate" without branding.
	Name string
	// Named is set when Name is the organisation's own (branding name).
	Named bool
	// Logo is the logo's URL for an <img>, "" none.
	Logo string
	// LogoOrigin is the https origin the logo loads from when it is not
	// the portal's own file ("" then), for the pages' img-src.
	LogoOrigin string
	// Color is the accent colour (#rgb or #rrggbb), "" the default.
	Color string
	// Stylesheet is the URL of the stylesheet that sets the accent colour
	// (after the portal's own), "" none.
	Stylesheet string
}

// Factory builds a method.
type Factory func(Env) (Method, error)

// WaitWords are the three messages of one thing said about a wait: in
// seconds and in minutes (plural messages given the Count), and for an
// hour or more (given Count 1: a plural message says its "one" form).
type WaitWords struct{ Seconds, Minutes, Hour string }

// Say is the message for a wait of d in l's language: whole seconds
// rounded up while under a minute (1 for anything up to a second), then
// whole minutes rounded up while under an hour (59.1 seconds is "a
// minute", not "60 seconds"), and an hour above.
func (w WaitWords) Say(l *messages.Localizer, d time.Duration) string {
	if s := int((d + time.Second - 1) / time.Second); s < 60 {
		return l.T(w.Seconds, "Count", max(s, 1))
	}
	if m := int((d + time.Minute - 1) / time.Minute); m < 60 {
		return l.T(w.Minutes, "Count", m)
	}
	return l.T(w.Hour, "Count", 1)
}

// CredentialName checks a name a user gives one of their credentials (a
// phone, a passkey): printable text of at most 40 characters, trimmed;
// empty gets fallback. what names the credential in the error ("device").
// A name it refuses comes back as a *NameError saying which rule it broke.
func CredentialName(s, what, fallback string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", &NameError{NameInvalid, fmt.Sprintf("the %s name is not valid text", what)}
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", &NameError{NameUnprintable, fmt.Sprintf("the %s name has characters that can't be shown", what)}
		}
	}
	if utf8.RuneCountInString(s) > 40 {
		return "", &NameError{NameTooLong, fmt.Sprintf("the %s name is longer than 40 characters", what)}
	}
	if s == "" {
		s = fallback
	}
	return s, nil
}

// NameProblem is the rule of CredentialName a name broke.
type NameProblem int

const (
	NameInvalid     NameProblem = iota + 1 // not valid text (UTF-8)
	NameUnprintable                        // characters that can't be shown
	NameTooLong                            // more than 40 characters
)

// NameError is CredentialName's refusal: the rule broken, for the user's
// words in their language, and the English, for the log.
type NameError struct {
	Problem NameProblem
	english string
}

func (e *NameError) Error() string { return e.english }

// NameProblemOf is the rule of CredentialName err says was broken; 0 when
// err is not CredentialName's.
func NameProblemOf(err error) NameProblem {
	var ne *NameError
	if errors.As(err, &ne) {
		return ne.Problem
	}
	return 0
}

// StoredCredentials lists a user's credentials of a method kept in the
// store's generic credentials, for a Manager: each is renamable.
func StoredCredentials(ctx context.Context, st store.CredentialStore, user, method string) ([]Credential, error) {
	cs, err := st.Credentials(ctx, user, method)
	if err != nil {
		return nil, err
	}
	out := make([]Credential, len(cs))
	for i, c := range cs {
		out[i] = Credential{ID: c.ID, Name: c.Name, Added: c.Created, LastUsed: c.LastUsed, Renamable: true}
	}
	return out, nil
}

// credentialNameKey is the log field that names the credential an event
// is about.
const credentialNameKey = "credential_name"

// Named is the audit field naming the credential an event is about (a
// passkey's or a device's name): the log has it, and the user's Recent
// activity shows it.
func Named(name string) zap.Field { return zap.String(credentialNameKey, name) }

// NameIn returns the name a Named field among fields gives, or "".
func NameIn(fields []zap.Field) string {
	for _, f := range fields {
		if f.Key == credentialNameKey && f.Type == zapcore.StringType {
			return f.String
		}
	}
	return ""
}
