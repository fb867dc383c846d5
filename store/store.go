// Package store keeps Stepgate's persistent state: users' security info,
// failure counters, used one-time-code steps and revocations. Implementations
// must make every check-and-update atomic, because several requests (or
// several Caddy instances) may race on the same user.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a user has no stored record.
var ErrNotFound = errors.New("not found")

// ErrAlreadySetUp is returned by the operations that add a user's first
// method (first-sign-in registration) when the user already has one: an
// authenticator secret, a phone number, an authenticator device or a
// credential.
var ErrAlreadySetUp = errors.New("the user already has a verification method set up")

// SecurityInfo is what the store knows about one user's verification methods.
type SecurityInfo struct {
	// Username is the user the record belongs to.
	Username string
	// TOTPSecret is the user's authenticator secret, sealed (encrypted) by the
	// caller; nil when the user has no authenticator app set up.
	TOTPSecret []byte
	// TOTPLastStep is the last TOTP time step accepted for this user.
	TOTPLastStep int64
	// DefaultMethod is the method the user chose as default ("" = strongest).
	DefaultMethod string
	// Phone is the user's confirmed phone number in E.164 form ("" = none).
	Phone string
	// TOTPAdded is when the authenticator secret was stored; zero when
	// there is none, or when it was stored before the store kept the time.
	TOTPAdded time.Time
	// PhoneAdded is when the phone number was stored; zero when there is
	// none, or when it was stored before the store kept the time.
	PhoneAdded time.Time
}

// Code is a one-time code sent by text or call, stored as a keyed hash and
// bound to the sign-in challenge that sent it.
type Code struct {
	ChallengeID string
	Username    string
	Method      string
	Hash        []byte
	Expires     time.Time
}

// CodeResult is what UseCode found.
type CodeResult int

const (
	// CodeAccepted: the code matched and is now used up.
	CodeAccepted CodeResult = iota
	// CodeWrong: the code did not match; one more try was counted.
	CodeWrong
	// CodeGone: there is no live code for this challenge (never sent,
	// expired, already used or out of tries): a new one must be sent.
	CodeGone
)

// Call states: a phone call placed for a sign-in waits (CallPending) until
// the callee answers it one way or another; CallUsed means its approval has
// completed a sign-in.
const (
	CallPending  = "pending"
	CallApproved = "approved"
	CallDenied   = "denied"
	CallFraud    = "fraud"
	CallFailed   = "failed" // busy, no answer, hung up, failed
	CallUsed     = "used"
)

// PushDevice is a phone (the Stepgate Authenticator web app) enrolled to
// approve sign-in requests. Its private key never leaves the phone.
type PushDevice struct {
	ID       string
	Username string
	// Name is what the user calls the device ("Pixel 8"); they can edit it.
	Name string
	// PublicKey is the device's ECDSA P-256 key, an uncompressed point.
	PublicKey []byte
	// Subscription is the Web Push subscription as JSON; "" when the
	// device has none (notifications blocked): the user opens the app.
	Subscription string
	// Gone: the push service said the subscription no longer exists; the
	// app renews it the next time it is opened.
	Gone    bool
	Created time.Time
	// LastUsed is when the device last approved a sign-in; zero when it
	// never has (or not since the store kept the time).
	LastUsed time.Time
}

// MaxPushDevices is how many devices one user may have enrolled at once.
const MaxPushDevices = 5

// ErrTooManyDevices is returned by EnrolPushDevice when the user already
// has MaxPushDevices devices.
var ErrTooManyDevices = errors.New("the user already has the most devices allowed")

// PushRequest is one approval request sent for a sign-in. A sign-in that
// asks again gets a new request; the earlier one becomes PushReplaced.
type PushRequest struct {
	ID          string
	ChallengeID string
	Username    string
	// Number is the one the sign-in page shows and the user types on the
	// phone; the phone is never told it.
	Number int
	State  string
	// Detail says why it was denied ("wrong number") or who answered.
	Detail string
	// Device is the device that answered.
	Device   string
	ClientIP string
	Host     string
	Created  time.Time
	Expires  time.Time
}

// Push request states. A pending request is answered once: approved (then
// used by the sign-in), denied or reported as fraud. PushExpired marks one
// that nobody answered in time.
const (
	PushPending  = "pending"
	PushApproved = "approved"
	PushDenied   = "denied"
	PushFraud    = "fraud"
	PushUsed     = "used"
	PushReplaced = "replaced"
	PushExpired  = "expired"
)

// ErrTooManyPending is returned by PutPushRequest when the user already has
// the most unanswered requests allowed.
var ErrTooManyPending = errors.New("too many unanswered approval requests")

// Limit is one sending limit: at most Max sends under Key per Window.
type Limit struct {
	Key    string
	Max    int
	Window time.Duration
}

// Failures is a per-account, per-method failure counter.
type Failures struct {
	// Count is the number of failures in a row since the last success.
	Count int
	// Last is the time of the most recent failure.
	Last time.Time
}

// Failure counters the portal keeps per account (the method argument of
// Failures, TakeAttempt and the like). Methods keep more counters under
// their own keys (a fraud report's block, for one).
const (
	// FailuresPassword counts wrong passwords.
	FailuresPassword = "password"
	// FailuresCode counts every failed second step (a wrong app code or
	// texted code, a denial on the phone): one lockout per account,
	// whichever method the attacker switches to.
	FailuresCode = "code"
)

// Backoff decides from a failure counter whether another attempt may be
// made at now: a zero wait and false let it through; a positive wait (back
// off) or locked (until an administrator unlocks the account) refuse it.
type Backoff func(f Failures, now time.Time) (wait time.Duration, locked bool)

// Attempt is what TakeAttempt decided.
type Attempt struct {
	// Taken: the attempt was counted as a failure in advance. The caller
	// checks it, then gives it back: ResetFailures after a success,
	// ReturnAttempt when the check could not be made.
	Taken bool
	// Failures is the counter after taking the attempt, or as found when
	// the attempt was refused.
	Failures Failures
	// Wait is how long to wait before the next attempt, when refused.
	Wait time.Duration
	// Locked: refused until an administrator unlocks the account.
	Locked bool
	// Prev is the time of the failure before this attempt (zero: none),
	// which ReturnAttempt puts back.
	Prev time.Time
}

// UserRevocationKept is the least time a revocation of all a user's
// sessions is kept: a year and a day, longer than any "Stay signed in"
// session can live. It does not depend on the configuration, which may
// change while such a session lives, or be unknown (a command run without
// it); the rows are small.
const UserRevocationKept = 366 * 24 * time.Hour

// Revocation withdraws sessions. Either SessionID is set (one session is
// revoked), or Username and NotBefore are (all that user's sessions issued
// before NotBefore are revoked).
type Revocation struct {
	// Seq orders revocations; pollers ask for those after the last Seq seen.
	Seq int64
	// SessionID is the revoked session's ID, if one session is revoked.
	SessionID string
	// Username is the user whose sessions are revoked, for user-wide revocations.
	Username string
	// NotBefore revokes the user's sessions issued before it.
	NotBefore time.Time
	// Expires is when the entry can be forgotten (the session would have
	// expired anyway).
	Expires time.Time
}

// SignInEvent is one entry of a user's recent sign-in activity, shown to
// them on their security info page.
type SignInEvent struct {
	// Username is the account the sign-in was for.
	Username string
	// At is when it happened.
	At time.Time
	// Method is the verification method used ("" when the sign-in did not
	// get that far).
	Method string
	// ClientIP is the address the sign-in came from.
	ClientIP string
	// Site is the protected site the sign-in was for.
	Site string
	// Outcome says how it ended ("success", "wrong code", ...).
	Outcome string
	// Detail names the credential an event was about (a passkey's or a
	// device's name), "" when none.
	Detail string
}

// MaxSignInEvents is how many sign-in events are kept per user; recording
// one more forgets the oldest.
const MaxSignInEvents = 100

// Method kinds of a MethodRef.
const (
	// KindTOTP is the user's authenticator app (ID unused).
	KindTOTP = "totp"
	// KindPhone is the user's phone number, for texts and calls (ID unused).
	KindPhone = "phone"
	// KindPushDevice is one enrolled push device; ID is the device's ID.
	KindPushDevice = "push-device"
	// KindCredential is one generic credential; ID is the credential's ID.
	KindCredential = "credential"
)

// MethodRef names one of a user's sign-in methods: an authenticator
// secret, a phone number, one push device or one credential.
type MethodRef struct {
	// Kind is KindTOTP, KindPhone, KindPushDevice or KindCredential.
	Kind string
	// ID is the device's or credential's ID; unused for the other kinds.
	ID string
}

// ErrLastMethod is returned by RemoveMethod when keepOne is set and the
// method is the user's last one.
var ErrLastMethod = errors.New("the user's last verification method cannot be removed")

// Credential is a sign-in method that is not built into the store (a
// passkey, for example): its verifier keeps what it needs in Data.
type Credential struct {
	// ID identifies the credential; it is unique across all users.
	ID string
	// Username is the user the credential belongs to.
	Username string
	// Method is the verifier's method name ("passkey"); it is also the
	// value of SecurityInfo.DefaultMethod that prefers it.
	Method string
	// Name is what the user calls the credential; they can edit it.
	Name string
	// Data is the verifier's own state (a public key, a sign counter).
	Data []byte
	// Created is when the credential was added.
	Created time.Time
	// LastUsed is when it last completed a sign-in; zero when it never has.
	LastUsed time.Time
}

// AccessPass is a user's Temporary Access Pass: a time-limited pass an
// administrator issues to a user who has lost their verification methods.
// The store keeps only a keyed hash of it; the caller computes the hash.
type AccessPass struct {
	// Username is the user the pass belongs to; a user has at most one.
	Username string
	// Hash is the keyed hash of the pass, computed by the caller.
	Hash []byte
	// Created is when the pass was issued.
	Created time.Time
	// Expires is when the pass stops working.
	Expires time.Time
	// Reusable: the pass works any number of times until it expires;
	// otherwise the first use ends it.
	Reusable bool
	// Used is when the pass was last used; zero until its first use.
	Used time.Time
}

// ErrNoAccessPass is returned by UseAccessPass when the user has no pass
// that is active now (none, expired, or single-use and used), or when the
// hash does not match. It does not say which, so that a caller cannot
// learn whether a user has a pass by guessing.
var ErrNoAccessPass = errors.New("no matching active access pass")

// SecurityInfoStore keeps each user's authenticator app secret and phone
// number.
type SecurityInfoStore interface {
	// SecurityInfo returns a user's record, or ErrNotFound.
	SecurityInfo(ctx context.Context, username string) (SecurityInfo, error)
	// SetTOTP stores a user's sealed TOTP secret, and marks lastStep as
	// used; the secret's added time is now.
	SetTOTP(ctx context.Context, username string, sealed []byte, lastStep int64) error
	// SetFirstTOTP is SetTOTP for first-sign-in registration: atomically,
	// it stores nothing and returns ErrAlreadySetUp when the user already
	// has any method.
	SetFirstTOTP(ctx context.Context, username string, sealed []byte, lastStep int64) error
	// UseTOTPStep atomically records step as used if it is newer than every
	// step used so far; it reports false when the step was already used (or an
	// older one), which means the code is a replay.
	UseTOTPStep(ctx context.Context, username string, step int64) (bool, error)
	// SetPhone stores a user's confirmed phone number, added now ("" removes
	// it and its added time). When it replaces or removes another number,
	// the user's pending calls fail in the same transaction (detail "phone
	// changed" or "phone removed"): nobody should answer those on a number
	// the user no longer has.
	SetPhone(ctx context.Context, username, phone string) error
	// SetFirstPhone is SetPhone for first-sign-in registration: atomically,
	// it stores nothing and returns ErrAlreadySetUp when the user already
	// has any method.
	SetFirstPhone(ctx context.Context, username, phone string) error
}

// CounterStore counts failed attempts per account and method, for the
// lockout.
type CounterStore interface {
	// Failures returns the failure counter of a user and method.
	Failures(ctx context.Context, username, method string) (Failures, error)
	// AddFailure counts one more failure and returns the new counter.
	AddFailure(ctx context.Context, username, method string, at time.Time) (Failures, error)
	// TakeAttempt atomically applies backoff to the counter of a user and
	// method and, unless it refuses, counts one more failure before the
	// caller checks anything: of any number of concurrent attempts, only as
	// many as backoff allows are ever checked. The attempt's time is its
	// failure time.
	TakeAttempt(ctx context.Context, username, method string, now time.Time, backoff Backoff) (Attempt, error)
	// ReturnAttempt gives back attempt a, taken by TakeAttempt, whose check
	// could not be made (the server was busy, the code had expired): the
	// counter goes down by one, and when no attempt was taken since, the
	// time of the last failure goes back to what it was, so a returned
	// attempt does not restart the back-off either. Nothing is given back
	// when the counter has been reset since a was taken and is below a's.
	ReturnAttempt(ctx context.Context, username, method string, a Attempt) error
	// ResetFailures clears the counter after a success.
	ResetFailures(ctx context.Context, username, method string) error
	// UnlockUser clears every failure counter of a user (an administrator
	// unlocking an account) and reports how many were cleared.
	UnlockUser(ctx context.Context, username string) (int, error)
}

// CodeStore keeps the codes sent by text or call, and the sending limits.
type CodeStore interface {
	// PutCode stores a code for its challenge, replacing the challenge's
	// earlier code (with its tries).
	PutCode(ctx context.Context, c Code) error
	// UseCode atomically checks hash against the challenge's live code:
	// a match uses it up, a mismatch counts a try; after maxTries wrong
	// tries the code is gone. Of concurrent calls with the right code,
	// exactly one gets CodeAccepted.
	UseCode(ctx context.Context, challengeID, username, method string, hash []byte, now time.Time, maxTries int) (CodeResult, error)
	// TakeSend atomically checks every limit and, when none is reached,
	// records one send under each key. Otherwise it records nothing and
	// returns the first limit reached and when a send will be possible.
	TakeSend(ctx context.Context, limits []Limit, now time.Time) (blocked *Limit, retry time.Time, err error)
}

// CallStore keeps the phone calls placed for sign-ins.
type CallStore interface {
	// PutCall records a call placed for a challenge, pending until expires.
	PutCall(ctx context.Context, challengeID, username string, expires time.Time) error
	// SetCallState atomically moves a pending, unexpired call to state (and
	// an approved one to CallUsed); it reports whether it did. detail says
	// why (Twilio's call status), for the portal to show.
	SetCallState(ctx context.Context, challengeID, from, to, detail string, now time.Time) (bool, error)
	// CallState returns a user's call for a challenge: its state and
	// detail, or ErrNotFound.
	CallState(ctx context.Context, challengeID, username string, now time.Time) (state, detail string, err error)
}

// PushStore keeps the Stepgate Authenticator's devices, their set-ups
// and the sign-in requests sent to them.
type PushStore interface {
	// PutPushEnrolment stores a one-time enrolment token (as a hash) that
	// lets one device enrol for username during the sign-in challengeID.
	// firstMethod marks a token of first-sign-in registration.
	PutPushEnrolment(ctx context.Context, tokenHash []byte, challengeID, username string, expires time.Time, firstMethod bool) error
	// DropPushEnrolments makes every unused enrolment token of username
	// unusable: a sign-out ends the set-ups its sessions began.
	DropPushEnrolments(ctx context.Context, username string) error
	// EnrolPushDevice atomically uses up a live enrolment token and stores
	// d for the token's user. It returns the stored device, and the
	// challenge the token was issued for; ErrNotFound when the token is
	// unknown, used or expired. For a token of first-sign-in registration
	// it stores nothing and returns ErrAlreadySetUp when the user already
	// has any method (set up since the token was issued). When the user
	// already has MaxPushDevices devices it stores nothing, leaves the
	// token unused and returns ErrTooManyDevices.
	EnrolPushDevice(ctx context.Context, tokenHash []byte, d PushDevice, now time.Time) (PushDevice, string, error)
	// PushEnrolled returns the device enrolled with the token of a
	// challenge while its set-up is unfinished, or ErrNotFound.
	PushEnrolled(ctx context.Context, challengeID string) (PushDevice, error)
	// FinishPushEnrolment atomically marks the set-up of challengeID
	// finished and returns its device: once, for the user whose token
	// enrolled a device that still exists. Every other call returns
	// ErrNotFound.
	FinishPushEnrolment(ctx context.Context, challengeID, username string) (PushDevice, error)
	// PushDevices lists a user's devices, oldest first.
	PushDevices(ctx context.Context, username string) ([]PushDevice, error)
	// PushDevice returns one device, or ErrNotFound.
	PushDevice(ctx context.Context, id string) (PushDevice, error)
	// RenamePushDevice sets a device's name.
	RenamePushDevice(ctx context.Context, id, name string) error
	// DeletePushDevice removes one of a user's devices (a lost phone);
	// ErrNotFound when the user has no such device. It is RemoveMethod
	// without keepOne: it may remove the user's last method.
	DeletePushDevice(ctx context.Context, username, id string) error
	// SetPushSubscription replaces a device's subscription and its gone flag.
	SetPushSubscription(ctx context.Context, id, subscription string, gone bool) error
	// PutPushRequest stores a new request: the challenge's earlier pending
	// requests become PushReplaced, and when the user then still has
	// maxPending live pending requests it stores nothing and returns
	// ErrTooManyPending. Atomic.
	PutPushRequest(ctx context.Context, r PushRequest, maxPending int) error
	// PendingPushRequests lists a user's live pending requests, newest first.
	PendingPushRequests(ctx context.Context, username string, now time.Time) ([]PushRequest, error)
	// LatestPushRequest returns the newest request of a challenge (a
	// pending one past its expiry reads as PushExpired), or ErrNotFound.
	LatestPushRequest(ctx context.Context, challengeID, username string, now time.Time) (PushRequest, error)
	// SetPushState atomically moves the user's request id from state from
	// to state to, recording detail and the answering device; a pending
	// request must also be unexpired. It reports whether it did: of
	// concurrent callers, exactly one wins. Moving a request to
	// PushApproved with a device records, in the same transaction, that
	// the device was used at now.
	SetPushState(ctx context.Context, id, username, from, to, detail, device string, now time.Time) (bool, error)
	// ExpirePushRequests marks the user's pending requests past their
	// expiry as PushExpired and returns how many it marked.
	ExpirePushRequests(ctx context.Context, username string, now time.Time) (int, error)
}

// SettingStore keeps the gateway's own settings (its push keys).
type SettingStore interface {
	// Setting returns a stored setting (such as generated VAPID keys), or
	// ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// InitSetting stores value under key unless the key is set already,
	// and returns the stored value: of instances racing to create a
	// setting, all end up with the first one's.
	InitSetting(ctx context.Context, key, value string) (string, error)
}

// RevocationStore keeps the sessions ended before their time.
type RevocationStore interface {
	// Revoke records a revocation and returns it with its sequence number.
	Revoke(ctx context.Context, r Revocation) (Revocation, error)
	// RevocationsAfter lists unexpired revocations with Seq > after, oldest first.
	RevocationsAfter(ctx context.Context, after int64, now time.Time) ([]Revocation, error)
}

// ActivityStore keeps each user's recent sign-in events.
type ActivityStore interface {
	// RecordSignInEvent records one sign-in event. It keeps the user's
	// MaxSignInEvents newest events and forgets older ones in the same
	// transaction, so a flood of attempts on one account takes bounded space.
	RecordSignInEvent(ctx context.Context, e SignInEvent) error
	// RecentSignInEvents returns at most n of the user's events, most
	// recently recorded first.
	RecentSignInEvents(ctx context.Context, username string, n int) ([]SignInEvent, error)
}

// MethodStore counts, removes and resets a user's methods of every kind.
type MethodStore interface {
	// MethodCount returns how many sign-in methods the user has: one for an
	// authenticator secret, one for a phone number, one per push device and
	// one per credential.
	MethodCount(ctx context.Context, username string) (int, error)
	// RemoveMethod atomically removes one of the user's methods;
	// ErrNotFound when the user has no such method. With keepOne, when it
	// is the user's last method, it removes nothing and returns
	// ErrLastMethod; concurrent removals of one user's methods are
	// serialised, so together they cannot remove the last one either.
	// Removing the last push device expires the user's pending approval
	// requests, and removing the phone fails their pending calls: nobody
	// should answer those on a removed method. A default method that is no
	// longer available is reset to "". Removing the authenticator secret
	// keeps its last used time step.
	RemoveMethod(ctx context.Context, username string, m MethodRef, keepOne bool) error
	// SetDefaultMethod stores the method the user chose as default ("" =
	// strongest).
	SetDefaultMethod(ctx context.Context, username, method string) error
	// ResetMethods atomically removes every verification method of the
	// user (an administrator's reset of a user who lost them): the
	// authenticator secret (its last used time step stays, as with
	// RemoveMethod), the phone number, every push device and every
	// credential, and the default method. As RemoveMethod does for each
	// kind, the user's pending approval requests expire and their pending
	// calls fail; their unfinished push enrolments are dropped too, so a
	// set-up link issued before the reset cannot add a device after it.
	// With grant, it sets a registration grant for the user in the same
	// transaction (without, it leaves any earlier grant as it is). It
	// returns how many methods it removed, counted as MethodCount does.
	ResetMethods(ctx context.Context, username string, grant bool, now time.Time) (int, error)
	// RegistrationGranted reports whether the user holds a registration
	// grant (set by ResetMethods). The first-method operations
	// (SetFirstTOTP, SetFirstPhone, AddCredential with first, and
	// EnrolPushDevice with a first-method token) clear it in the
	// transaction that stores the method.
	RegistrationGranted(ctx context.Context, username string) (bool, error)
	// ClearRegistrationGrant removes the user's registration grant; it is
	// no error when there is none.
	ClearRegistrationGrant(ctx context.Context, username string) error
}

// CredentialStore keeps the credentials of methods that are not built
// into the store (passkeys).
type CredentialStore interface {
	// AddCredential stores c. With first (first-sign-in registration) it
	// atomically stores nothing and returns ErrAlreadySetUp when the user
	// already has any method. A zero c.Created is stored as now.
	AddCredential(ctx context.Context, c Credential, first bool) error
	// Credentials lists the user's credentials of method (every method when
	// method is ""), oldest first.
	Credentials(ctx context.Context, username, method string) ([]Credential, error)
	// CredentialByID returns the credential with the ID, whoever's it is
	// (ErrNotFound when none): passkeys are found by their ID when the
	// browser names the passkey before the user.
	CredentialByID(ctx context.Context, id string) (Credential, error)
	// RenameCredential sets the name of one of the user's credentials;
	// ErrNotFound when the user has no such credential.
	RenameCredential(ctx context.Context, username, id, name string) error
	// TouchCredential records that one of the user's credentials completed
	// a sign-in at at and, when data is not nil, replaces its Data (a
	// passkey's sign counter); ErrNotFound when the user has no such
	// credential.
	TouchCredential(ctx context.Context, username, id string, at time.Time, data []byte) error
}

// AccessPassStore keeps Temporary Access Passes.
type AccessPassStore interface {
	// PutAccessPass stores p as the user's only pass, replacing any earlier
	// one (used, expired or not): a user has one active pass at most.
	PutAccessPass(ctx context.Context, p AccessPass) error
	// UseAccessPass atomically checks that the user's pass exists, has not
	// expired at now, matches hash (compared in constant time) and, unless
	// it is Reusable, has not been used; it then records the use (Used =
	// now) and returns the pass. Of concurrent calls with a single-use
	// pass, exactly one succeeds. Every failure is ErrNoAccessPass.
	UseAccessPass(ctx context.Context, username string, hash []byte, now time.Time) (AccessPass, error)
	// AccessPassOf returns the user's pass, whether used, expired or not,
	// without using it; ErrNotFound when the user has none.
	AccessPassOf(ctx context.Context, username string) (AccessPass, error)
	// DeleteAccessPass removes the user's pass; it is no error when there
	// is none.
	DeleteAccessPass(ctx context.Context, username string) error
}

// RememberedDevice is a browser on which a user chose "Don't ask again":
// until Expires, their password alone signs them in there. The browser
// holds a signed cookie naming ID; the record is what makes it count, so
// deleting it ends the device's pass at once.
type RememberedDevice struct {
	// ID is random and unique across all users.
	ID string
	// Username is the user who chose it.
	Username string
	// Name describes the browser ("Firefox on Windows") for the user.
	Name string
	// Created is when it was remembered; Expires when that ends.
	Created, Expires time.Time
	// LastUsed is when it last skipped the second step (zero: never).
	LastUsed time.Time
}

// RememberedDeviceStore keeps the browsers on which users skip the second
// step.
type RememberedDeviceStore interface {
	// RememberDevice stores d and reports whether it was new: d.ID stored
	// already for the same user changes nothing (false), for another user
	// is an error. A user keeps at most max devices: the ones remembered
	// longest ago are forgotten to make room.
	RememberDevice(ctx context.Context, d RememberedDevice, max int) (bool, error)
	// RememberedDevice returns the user's device id if it has not expired
	// at now; ErrNotFound otherwise (also for another user's device).
	RememberedDevice(ctx context.Context, username, id string, now time.Time) (RememberedDevice, error)
	// RememberedDevices lists the user's devices that have not expired at
	// now, most recently remembered first.
	RememberedDevices(ctx context.Context, username string, now time.Time) ([]RememberedDevice, error)
	// TouchRememberedDevice records that the device skipped a second step.
	TouchRememberedDevice(ctx context.Context, username, id string, at time.Time) error
	// ForgetDevice deletes one of the user's devices; false when the user
	// has no device id.
	ForgetDevice(ctx context.Context, username, id string) (bool, error)
	// ForgetDevices deletes all the user's devices and says how many.
	ForgetDevices(ctx context.Context, username string) (int, error)
}

// Store is the persistent state behind the portal and the verifiers: one
// interface per concern, so that each verifier takes only its part.
type Store interface {
	SecurityInfoStore
	CounterStore
	CodeStore
	CallStore
	PushStore
	SettingStore
	RevocationStore
	ActivityStore
	MethodStore
	CredentialStore
	AccessPassStore
	RememberedDeviceStore
	// Prune forgets expired revocations, stale failure counters, old codes
	// and send records, access passes that expired more than a day ago,
	// expired remembered devices, and sign-in events older than 90 days.
	Prune(ctx context.Context, now time.Time) error

	// Close releases the store.
	Close() error
}
