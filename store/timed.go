package store

import (
	"context"
	"time"
)

// Timed wraps s so that observe is told how long each call took (the
// call's method name and its duration): the store's latency, per
// operation, whatever the backend.
func Timed(s Store, observe func(op string, d time.Duration)) Store {
	if observe == nil {
		return s
	}
	t := &timed{Store: s, observe: observe}
	if w, ok := s.(RevocationWatcher); ok {
		return &timedWatcher{timed: t, w: w}
	}
	return t
}

type timed struct {
	Store
	observe func(op string, d time.Duration)
}

// timedWatcher is a timed store whose store can watch for sign-outs.
type timedWatcher struct {
	*timed
	w RevocationWatcher
}

// WatchRevocations implements RevocationWatcher.
func (t *timedWatcher) WatchRevocations(ctx context.Context) <-chan struct{} {
	return t.w.WatchRevocations(ctx)
}

func (t *timed) since(op string, start time.Time) { t.observe(op, time.Since(start)) }

// The methods below forward each of Store's methods, timed, one for one
// (TestTimedCoversEveryMethod fails when one is missing: a method added to
// Store would otherwise be forwarded untimed by the embedded Store).

func (t *timed) SecurityInfo(ctx context.Context, username string) (SecurityInfo, error) {
	defer t.since("SecurityInfo", time.Now())
	return t.Store.SecurityInfo(ctx, username)
}

func (t *timed) SetTOTP(ctx context.Context, username string, sealed []byte, lastStep int64) error {
	defer t.since("SetTOTP", time.Now())
	return t.Store.SetTOTP(ctx, username, sealed, lastStep)
}

func (t *timed) SetFirstTOTP(ctx context.Context, username string, sealed []byte, lastStep int64) error {
	defer t.since("SetFirstTOTP", time.Now())
	return t.Store.SetFirstTOTP(ctx, username, sealed, lastStep)
}

func (t *timed) UseTOTPStep(ctx context.Context, username string, step int64) (bool, error) {
	defer t.since("UseTOTPStep", time.Now())
	return t.Store.UseTOTPStep(ctx, username, step)
}

func (t *timed) SetPhone(ctx context.Context, username, phone string) error {
	defer t.since("SetPhone", time.Now())
	return t.Store.SetPhone(ctx, username, phone)
}

func (t *timed) SetFirstPhone(ctx context.Context, username, phone string) error {
	defer t.since("SetFirstPhone", time.Now())
	return t.Store.SetFirstPhone(ctx, username, phone)
}

func (t *timed) Failures(ctx context.Context, username, method string) (Failures, error) {
	defer t.since("Failures", time.Now())
	return t.Store.Failures(ctx, username, method)
}

func (t *timed) AddFailure(ctx context.Context, username, method string, at time.Time) (Failures, error) {
	defer t.since("AddFailure", time.Now())
	return t.Store.AddFailure(ctx, username, method, at)
}

func (t *timed) TakeAttempt(ctx context.Context, username, method string, now time.Time, backoff Backoff) (Attempt, error) {
	defer t.since("TakeAttempt", time.Now())
	return t.Store.TakeAttempt(ctx, username, method, now, backoff)
}

func (t *timed) ReturnAttempt(ctx context.Context, username, method string, a Attempt) error {
	defer t.since("ReturnAttempt", time.Now())
	return t.Store.ReturnAttempt(ctx, username, method, a)
}

func (t *timed) ResetFailures(ctx context.Context, username, method string) error {
	defer t.since("ResetFailures", time.Now())
	return t.Store.ResetFailures(ctx, username, method)
}

func (t *timed) UnlockUser(ctx context.Context, username string) (int, error) {
	defer t.since("UnlockUser", time.Now())
	return t.Store.UnlockUser(ctx, username)
}

func (t *timed) PutCode(ctx context.Context, c Code) error {
	defer t.since("PutCode", time.Now())
	return t.Store.PutCode(ctx, c)
}

func (t *timed) UseCode(ctx context.Context, challengeID, username, method string, hash []byte, now time.Time, maxTries int) (CodeResult, error) {
	defer t.since("UseCode", time.Now())
	return t.Store.UseCode(ctx, challengeID, username, method, hash, now, maxTries)
}

func (t *timed) TakeSend(ctx context.Context, limits []Limit, now time.Time) (blocked *Limit, retry time.Time, err error) {
	defer t.since("TakeSend", time.Now())
	return t.Store.TakeSend(ctx, limits, now)
}

func (t *timed) PutCall(ctx context.Context, challengeID, username string, expires time.Time) error {
	defer t.since("PutCall", time.Now())
	return t.Store.PutCall(ctx, challengeID, username, expires)
}

func (t *timed) SetCallState(ctx context.Context, challengeID, from, to, detail string, now time.Time) (bool, error) {
	defer t.since("SetCallState", time.Now())
	return t.Store.SetCallState(ctx, challengeID, from, to, detail, now)
}

func (t *timed) CallState(ctx context.Context, challengeID, username string, now time.Time) (state, detail string, err error) {
	defer t.since("CallState", time.Now())
	return t.Store.CallState(ctx, challengeID, username, now)
}

func (t *timed) PutPushEnrolment(ctx context.Context, tokenHash []byte, challengeID, username string, expires time.Time, firstMethod bool) error {
	defer t.since("PutPushEnrolment", time.Now())
	return t.Store.PutPushEnrolment(ctx, tokenHash, challengeID, username, expires, firstMethod)
}

func (t *timed) DropPushEnrolments(ctx context.Context, username string) error {
	defer t.since("DropPushEnrolments", time.Now())
	return t.Store.DropPushEnrolments(ctx, username)
}

func (t *timed) EnrolPushDevice(ctx context.Context, tokenHash []byte, d PushDevice, now time.Time) (PushDevice, string, error) {
	defer t.since("EnrolPushDevice", time.Now())
	return t.Store.EnrolPushDevice(ctx, tokenHash, d, now)
}

func (t *timed) PushEnrolled(ctx context.Context, challengeID string) (PushDevice, error) {
	defer t.since("PushEnrolled", time.Now())
	return t.Store.PushEnrolled(ctx, challengeID)
}

func (t *timed) FinishPushEnrolment(ctx context.Context, challengeID, username string) (PushDevice, error) {
	defer t.since("FinishPushEnrolment", time.Now())
	return t.Store.FinishPushEnrolment(ctx, challengeID, username)
}

func (t *timed) PushDevices(ctx context.Context, username string) ([]PushDevice, error) {
	defer t.since("PushDevices", time.Now())
	return t.Store.PushDevices(ctx, username)
}

func (t *timed) PushDevice(ctx context.Context, id string) (PushDevice, error) {
	defer t.since("PushDevice", time.Now())
	return t.Store.PushDevice(ctx, id)
}

func (t *timed) RenamePushDevice(ctx context.Context, id, name string) error {
	defer t.since("RenamePushDevice", time.Now())
	return t.Store.RenamePushDevice(ctx, id, name)
}

func (t *timed) DeletePushDevice(ctx context.Context, username, id string) error {
	defer t.since("DeletePushDevice", time.Now())
	return t.Store.DeletePushDevice(ctx, username, id)
}

func (t *timed) SetPushSubscription(ctx context.Context, id, subscription string, gone bool) error {
	defer t.since("SetPushSubscription", time.Now())
	return t.Store.SetPushSubscription(ctx, id, subscription, gone)
}

func (t *timed) PutPushRequest(ctx context.Context, r PushRequest, maxPending int) error {
	defer t.since("PutPushRequest", time.Now())
	return t.Store.PutPushRequest(ctx, r, maxPending)
}

func (t *timed) PendingPushRequests(ctx context.Context, username string, now time.Time) ([]PushRequest, error) {
	defer t.since("PendingPushRequests", time.Now())
	return t.Store.PendingPushRequests(ctx, username, now)
}

func (t *timed) LatestPushRequest(ctx context.Context, challengeID, username string, now time.Time) (PushRequest, error) {
	defer t.since("LatestPushRequest", time.Now())
	return t.Store.LatestPushRequest(ctx, challengeID, username, now)
}

func (t *timed) SetPushState(ctx context.Context, id, username, from, to, detail, device string, now time.Time) (bool, error) {
	defer t.since("SetPushState", time.Now())
	return t.Store.SetPushState(ctx, id, username, from, to, detail, device, now)
}

func (t *timed) ExpirePushRequests(ctx context.Context, username string, now time.Time) (int, error) {
	defer t.since("ExpirePushRequests", time.Now())
	return t.Store.ExpirePushRequests(ctx, username, now)
}

func (t *timed) Setting(ctx context.Context, key string) (string, error) {
	defer t.since("Setting", time.Now())
	return t.Store.Setting(ctx, key)
}

func (t *timed) InitSetting(ctx context.Context, key, value string) (string, error) {
	defer t.since("InitSetting", time.Now())
	return t.Store.InitSetting(ctx, key, value)
}

func (t *timed) Revoke(ctx context.Context, r Revocation) (Revocation, error) {
	defer t.since("Revoke", time.Now())
	return t.Store.Revoke(ctx, r)
}

func (t *timed) RevocationsAfter(ctx context.Context, after int64, now time.Time) ([]Revocation, error) {
	defer t.since("RevocationsAfter", time.Now())
	return t.Store.RevocationsAfter(ctx, after, now)
}

func (t *timed) RecordSignInEvent(ctx context.Context, e SignInEvent) error {
	defer t.since("RecordSignInEvent", time.Now())
	return t.Store.RecordSignInEvent(ctx, e)
}

func (t *timed) RecentSignInEvents(ctx context.Context, username string, n int) ([]SignInEvent, error) {
	defer t.since("RecentSignInEvents", time.Now())
	return t.Store.RecentSignInEvents(ctx, username, n)
}

func (t *timed) MethodCount(ctx context.Context, username string) (int, error) {
	defer t.since("MethodCount", time.Now())
	return t.Store.MethodCount(ctx, username)
}

func (t *timed) RemoveMethod(ctx context.Context, username string, m MethodRef, keepOne bool) error {
	defer t.since("RemoveMethod", time.Now())
	return t.Store.RemoveMethod(ctx, username, m, keepOne)
}

func (t *timed) SetDefaultMethod(ctx context.Context, username, method string) error {
	defer t.since("SetDefaultMethod", time.Now())
	return t.Store.SetDefaultMethod(ctx, username, method)
}

func (t *timed) ResetMethods(ctx context.Context, username string, grant bool, now time.Time) (int, error) {
	defer t.since("ResetMethods", time.Now())
	return t.Store.ResetMethods(ctx, username, grant, now)
}

func (t *timed) RegistrationGranted(ctx context.Context, username string) (bool, error) {
	defer t.since("RegistrationGranted", time.Now())
	return t.Store.RegistrationGranted(ctx, username)
}

func (t *timed) ClearRegistrationGrant(ctx context.Context, username string) error {
	defer t.since("ClearRegistrationGrant", time.Now())
	return t.Store.ClearRegistrationGrant(ctx, username)
}

func (t *timed) AddCredential(ctx context.Context, c Credential, first bool) error {
	defer t.since("AddCredential", time.Now())
	return t.Store.AddCredential(ctx, c, first)
}

func (t *timed) Credentials(ctx context.Context, username, method string) ([]Credential, error) {
	defer t.since("Credentials", time.Now())
	return t.Store.Credentials(ctx, username, method)
}

func (t *timed) CredentialByID(ctx context.Context, id string) (Credential, error) {
	defer t.since("CredentialByID", time.Now())
	return t.Store.CredentialByID(ctx, id)
}

func (t *timed) RenameCredential(ctx context.Context, username, id, name string) error {
	defer t.since("RenameCredential", time.Now())
	return t.Store.RenameCredential(ctx, username, id, name)
}

func (t *timed) TouchCredential(ctx context.Context, username, id string, at time.Time, data []byte) error {
	defer t.since("TouchCredential", time.Now())
	return t.Store.TouchCredential(ctx, username, id, at, data)
}

func (t *timed) PutAccessPass(ctx context.Context, p AccessPass) error {
	defer t.since("PutAccessPass", time.Now())
	return t.Store.PutAccessPass(ctx, p)
}

func (t *timed) UseAccessPass(ctx context.Context, username string, hash []byte, now time.Time) (AccessPass, error) {
	defer t.since("UseAccessPass", time.Now())
	return t.Store.UseAccessPass(ctx, username, hash, now)
}

func (t *timed) AccessPassOf(ctx context.Context, username string) (AccessPass, error) {
	defer t.since("AccessPassOf", time.Now())
	return t.Store.AccessPassOf(ctx, username)
}

func (t *timed) DeleteAccessPass(ctx context.Context, username string) error {
	defer t.since("DeleteAccessPass", time.Now())
	return t.Store.DeleteAccessPass(ctx, username)
}

func (t *timed) Prune(ctx context.Context, now time.Time) error {
	defer t.since("Prune", time.Now())
	return t.Store.Prune(ctx, now)
}

func (t *timed) RememberDevice(ctx context.Context, d RememberedDevice, max int) (bool, error) {
	defer t.since("RememberDevice", time.Now())
	return t.Store.RememberDevice(ctx, d, max)
}

func (t *timed) RememberedDevice(ctx context.Context, username, id string, now time.Time) (RememberedDevice, error) {
	defer t.since("RememberedDevice", time.Now())
	return t.Store.RememberedDevice(ctx, username, id, now)
}

func (t *timed) RememberedDevices(ctx context.Context, username string, now time.Time) ([]RememberedDevice, error) {
	defer t.since("RememberedDevices", time.Now())
	return t.Store.RememberedDevices(ctx, username, now)
}

func (t *timed) TouchRememberedDevice(ctx context.Context, username, id string, at time.Time) error {
	defer t.since("TouchRememberedDevice", time.Now())
	return t.Store.TouchRememberedDevice(ctx, username, id, at)
}

func (t *timed) ForgetDevice(ctx context.Context, username, id string) (bool, error) {
	defer t.since("ForgetDevice", time.Now())
	return t.Store.ForgetDevice(ctx, username, id)
}

func (t *timed) ForgetDevices(ctx context.Context, username string) (int, error) {
	defer t.since("ForgetDevices", time.Now())
	return t.Store.ForgetDevices(ctx, username)
}
