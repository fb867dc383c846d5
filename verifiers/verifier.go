// Package verifiers defines the interface every verification method
// implements. Each method lives in its own package below this one (password,
// totp, …); the portal drives them through this interface only.
package verifiers

import (
	"context"
	"errors"
	"strings"
	"time"
)

// User is an identity from the users file.
type User struct {
	// Name is the unique, lower-case username.
	Name string
	// DisplayName is the user's full name, shown on pages and sent as Remote-Name.
	DisplayName string
	// Email is sent to the app as Remote-Email.
	Email string
	// Groups are sent as Remote-Groups and used by `allow group` policies.
	Groups []string
	// Disabled users cannot sign in, and their existing sessions stop working.
	Disabled bool
}

// InGroup reports whether the user is a member of group.
func (u User) InGroup(group string) bool {
	for _, g := range u.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// Challenge is one attempt at a verification step. Codes and approvals are
// bound to the challenge that issued them.
type Challenge struct {
	// ID is a random identifier of the attempt.
	ID string
	// Created is when the attempt started.
	Created time.Time
	// ClientIP is the signing-in client's address, for per-IP limits.
	ClientIP string
	// Host is the site being signed in to (shown on approval requests).
	Host string
	// Origin is the origin (scheme://host[:port]) of the page the user is
	// on, as the browser names it: a passkey ceremony is bound to it.
	Origin string
	// Local: the client and the site are both on this machine (the
	// development outboxes send only then).
	Local bool
	// Method is the method the sign-in uses now.
	Method string
}

// Prompt tells the portal what to show after Start.
type Prompt struct {
	// Input is the kind of answer expected: "code" for a typed code,
	// "approval" for an answer given on another device.
	Input string
	// Message is a short line shown above the input (may be empty).
	Message string
	// Show is a value the page shows prominently: the number to pick on
	// the phone for an approval request.
	Show string
}

// Result is the outcome of Check.
type Result int

const (
	// Rejected means the answer is wrong; it counts as a failure.
	Rejected Result = iota
	// Accepted means the answer is right; the step is passed.
	Accepted
	// Replayed means the answer was right once but has already been used; it
	// counts as a failure, with its own message.
	Replayed
	// Expired means the challenge has no live answer any more (the code
	// expired, was used, or had too many wrong tries): a new one must be
	// sent. It does not count as a failure; the wrong tries already did.
	Expired
	// Pending means there is no answer yet (a call still ringing).
	Pending
)

// ErrNotEnrolled is returned by Start or Check when the user has not set up
// the method.
var ErrNotEnrolled = errors.New("method not set up for this user")

// Verifier is one second-step verification method.
type Verifier interface {
	// Method is the stable name of the method ("totp", "sms", …); it keys
	// failure counters and audit log entries.
	Method() string
	// Enrolled reports whether the user has set the method up.
	Enrolled(ctx context.Context, user User) (bool, error)
	// Start begins a challenge: sends a text, places a call, pushes a
	// notification, or does nothing (TOTP).
	Start(ctx context.Context, user User, ch Challenge) (Prompt, error)
	// Check judges the user's answer to the challenge.
	Check(ctx context.Context, user User, ch Challenge, input string) (Result, error)
}

// NormalizeCode removes the spaces and dashes people type into codes and
// reports whether what is left is exactly digits digits.
func NormalizeCode(input string, digits int) (string, bool) {
	if len(input) > 32 {
		return "", false
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, input)
	if len(code) != digits {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}
