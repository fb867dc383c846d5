package portal

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/totp"
)

// waitsForApproval reports whether the pending sign-in waits for an
// approval on the phone.
func (p *Portal) waitsForApproval(pd pending) bool {
	return pd.M == push.Method && p.push != nil
}

// checkPush finishes a sign-in whose request was approved, and otherwise
// says what happened to the request.
func (p *Portal) checkPush(w http.ResponseWriter, r *http.Request, pd pending, user verifiers.User, show func(int, string)) {
	ctx := r.Context()
	res, done := p.checkAnswered(w, r, pd, user, p.push, "We haven't had your answer yet. On your phone, type the number shown here and tap Approve, then continue.", show)
	if done {
		return
	}
	switch res {
	case verifiers.Expired:
		p.audit(r, "sign-in", user.Name, push.Method, "expired")
		show(http.StatusUnauthorized, "The request wasn't answered in time. Select Send another request, or sign in another way.")
		return
	}
	req, err := p.push.Request(ctx, user, p.attempt(r, &pd))
	if err != nil {
		p.storeError(w, r, err)
		return
	}
	switch {
	case req.State == store.PushFraud:
		show(http.StatusForbidden, "You reported this sign-in as suspicious, so it was stopped and requests to your phone are turned off. If it was you after all, contact "+p.cfg.HelpContact+".")
	case strings.HasPrefix(req.Detail, "wrong number"):
		show(http.StatusUnauthorized, "The number typed on your phone didn't match the one shown here, so the request was denied. Send another request, or sign in another way.")
	default:
		show(http.StatusUnauthorized, "The request was denied on your phone. Send another request, or sign in another way.")
	}
}

// verifyStatus answers the waiting page's poll: {"state": "pending"} while
// the phone rings or the approval request waits.
func (p *Portal) verifyStatus(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	pd, user, ok := p.readPending(r, stageVerify)
	state := "gone"
	switch {
	case ok && p.waitsForCall(pd):
		if s, _, err := p.voice.State(r.Context(), user, p.attempt(r, &pd)); err == nil {
			state = s
		}
	case ok && p.waitsForApproval(pd):
		if req, err := p.push.Request(r.Context(), user, p.attempt(r, &pd)); err == nil {
			state = req.State
		}
	}
	json.NewEncoder(w).Encode(map[string]string{"state": state})
}

// errRegistrationOff refuses a set-up token after first-sign-in
// registration was turned off.
var errRegistrationOff = errors.New("first-sign-in registration is turned off")

// deviceError is an answer to the authenticator app: a status and words
// for the person holding the phone.
func (p *Portal) deviceError(w http.ResponseWriter, r *http.Request, err error) {
	var ie *push.InputError
	status, msg := http.StatusServiceUnavailable, "Something went wrong on the server. Try again in a moment."
	switch {
	case errors.As(err, &ie):
		status, msg = http.StatusBadRequest, ie.Msg
	case errors.Is(err, push.ErrBadToken):
		status, msg = http.StatusBadRequest, "This set-up code has expired or was already used. On your computer, start setting up again to get a new QR code."
	case errors.Is(err, push.ErrAlreadySetUp), errors.Is(err, errRegistrationOff):
		status, msg = http.StatusForbidden, "This account already has a sign-in method set up, so this set-up code can't add a device. If you didn't set one up, contact "+p.cfg.HelpContact+"."
	case errors.Is(err, push.ErrUnknownDevice):
		status, msg = http.StatusNotFound, "This device is no longer set up for sign-in. Set it up again from the sign-in page on your computer."
	case errors.Is(err, push.ErrBadSignature):
		status, msg = http.StatusUnauthorized, "This request wasn't signed by this device's key."
	case errors.Is(err, push.ErrStale):
		status, msg = http.StatusBadRequest, "Your phone's clock seems to be wrong. Set it to the correct time and try again."
	case errors.Is(err, push.ErrNotPending):
		status, msg = http.StatusConflict, "This request has expired or was already answered."
	}
	if status == http.StatusServiceUnavailable {
		p.log.Error("authenticator request failed", zap.String("path", r.URL.Path), zap.Error(err))
	} else {
		p.log.Warn("authenticator request refused", zap.String("path", r.URL.Path), zap.String("client_ip", p.cfg.ClientIP(r)),
			zap.Int("status", status), zap.Error(err))
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a small JSON body into v, or answers 400.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "The request could not be read: send a JSON object of at most 16 KB."})
		return false
	}
	return true
}

// deviceAPI serves the authenticator app's requests under push/. They
// carry no cookies: every one is signed by the device's key (enrolment
// by the key being enrolled, with a one-time token).
func (p *Portal) deviceAPI(w http.ResponseWriter, r *http.Request, action string) {
	securityHeaders(w.Header())
	if p.push == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Authenticator app notifications are not turned on for this site."})
		return
	}
	if action == "config" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		key, err := p.push.Sender.PublicKey(r.Context())
		if err != nil {
			p.deviceError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"vapidKey": key, "appName": p.cfg.Issuer})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "Use POST."})
		return
	}
	ctx := r.Context()
	switch action {
	case "enrol":
		var e push.Enrolment
		if !readJSON(w, r, &e) {
			return
		}
		// Tokens come from first-sign-in registration: a kept one is
		// refused once registration is turned off (here) or once the
		// user has any method (atomically, in the store).
		if !p.cfg.FirstSignInRegistration {
			p.deviceError(w, r, errRegistrationOff)
			return
		}
		d, _, err := p.push.Enrol(ctx, e)
		if err != nil {
			p.deviceError(w, r, err)
			return
		}
		p.audit(r, "device-enrolled", d.Username, push.Method, "success", zap.String("device", d.Name), zap.Bool("notifications", d.Subscription != ""))
		writeJSON(w, http.StatusOK, map[string]any{"device": d.ID, "user": d.Username, "name": d.Name})
	case "pending":
		var req struct {
			push.Signed
			Subscription string `json:"subscription"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		d, reqs, err := p.push.Pending(ctx, req.Signed, req.Subscription)
		if err != nil {
			p.deviceError(w, r, err)
			return
		}
		list := make([]push.Notification, len(reqs))
		for i, q := range reqs {
			list[i] = push.NotificationOf(q)
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": d.Username, "name": d.Name, "notifications": d.Subscription != "" && !d.Gone, "requests": list})
	case "rename":
		var req struct {
			push.Signed
			Name string `json:"name"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		d, err := p.push.Rename(ctx, req.Signed, req.Name)
		if err != nil {
			p.deviceError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": d.Name})
	case "answer":
		var a push.Answer
		if !readJSON(w, r, &a) {
			return
		}
		d, req, out, err := p.push.Answer(ctx, a)
		if err != nil {
			p.deviceError(w, r, err)
			return
		}
		p.answered(r, d, req, out)
		writeJSON(w, http.StatusOK, map[string]any{"result": out, "message": answerMessage(out, p.cfg.HelpContact)})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "No such authenticator request."})
	}
}

// answered logs a device's answer; a denial counts toward the account's
// lockout, and a report is a high-priority event.
func (p *Portal) answered(r *http.Request, d store.PushDevice, req store.PushRequest, out push.Outcome) {
	fields := []zap.Field{zap.String("device", d.Name), zap.String("request_ip", req.ClientIP), zap.String("host", req.Host)}
	switch out {
	case push.Approved:
		p.audit(r, "push-answer", d.Username, push.Method, "approved", fields...)
	case push.Reported:
		p.audit(r, "push-answer", d.Username, push.Method, "reported", fields...)
		p.addFailure(r, d.Username, push.Method, "denied")
		p.fraudReported(r, d.Username, push.Method, "the user reported an approval request as suspicious: someone else knows their password")
	default:
		p.audit(r, "push-answer", d.Username, push.Method, string(out), fields...)
		p.addFailure(r, d.Username, push.Method, "denied")
	}
}

func answerMessage(out push.Outcome, help string) string {
	switch out {
	case push.Approved:
		return "Approved. You can go back to the sign-in page."
	case push.WrongNumber:
		return "That wasn't the number on the sign-in page, so the request was denied. If you're signing in, send another request."
	case push.Reported:
		return "Thanks. The sign-in was stopped and requests to this phone are paused. Change your password, and contact " + help + "."
	}
	return "Denied. Nobody was signed in."
}

// registerPush sets up the authenticator app during first-sign-in
// registration: the page shows a QR code that opens the app with a
// one-time set-up token; the sign-in finishes once a device has enrolled
// with it.
func (p *Portal) registerPush(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	ctx := r.Context()
	// The device this set-up enrolled makes the user "set up", so it is
	// looked for before registering() would refuse the user for it.
	if pd, user, ok := p.readPending(r, stageRegister); ok && p.cfg.FirstSignInRegistration && pd.Enrol != "" {
		if r.Method != http.MethodPost {
			d, err := p.push.EnrolledDevice(ctx, p.attempt(r, &pd))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				p.storeError(w, r, err)
				return
			}
			if err == nil && d.Username == user.Name {
				// The set-up is done: continue with a form post (the
				// session cookie is only set on POST).
				p.render(w, r, http.StatusOK, "pushsetup", pageData{Title: "Your phone is set up", Heading: "Your phone is set up",
					Username: user.Name, Info: "Your phone (" + d.Name + ") is set up for sign-in requests.", Done: true})
				return
			}
		} else {
			// Finishing is single use, like every second step: the store
			// marks the set-up finished in one guarded write, so a
			// replayed pending cookie (or 20 at once) finishes nothing
			// more and falls through to registering(), which sends a
			// user who now has a method back to sign in.
			d, err := p.push.FinishEnrolment(ctx, user, p.attempt(r, &pd))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				p.storeError(w, r, err)
				return
			}
			if err == nil {
				p.audit(r, "method-added", user.Name, push.Method, "success", zap.String("device", d.Name))
				p.finish(w, r, pd, user, push.Method)
				return
			}
		}
	}
	pd, user, ok := p.registering(w, r)
	if !ok {
		return
	}
	if pd.Enrol == "" {
		token, err := p.push.NewEnrolment(ctx, user, p.attempt(r, &pd), true)
		if err != nil {
			p.storeError(w, r, err)
			return
		}
		pd.Enrol = token
		if !p.setPending(w, r, pd) {
			p.storeError(w, r, errors.New("encoding pending cookie"))
			return
		}
	}
	data := pageData{Title: "Set up your phone for sign-in requests", Heading: "Set up your phone for sign-in requests",
		Username: user.Name, QR: Prefix + "register/push/qr.png", EnrolURL: p.enrolURL(r, pd.Enrol), TOTP: true, SMS: p.phoneCodes() != nil}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		data.Error, status = "Your phone hasn't finished setting up yet. Scan the QR code with your phone's camera and follow the steps, then continue.", http.StatusAccepted
	}
	p.render(w, r, status, "pushsetup", data)
}

// enrolURL opens the authenticator app with a set-up token. The token is
// in the fragment, so it never reaches a server log or a Referer.
func (p *Portal) enrolURL(r *http.Request, token string) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host + Prefix + "authenticator/#enrol=" + token
}

// registerPushStatus answers the set-up page's poll.
func (p *Portal) registerPushStatus(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	pd, _, ok := p.readPending(r, stageRegister)
	state := "gone"
	if ok && pd.Enrol != "" {
		state = "pending"
		if _, err := p.push.EnrolledDevice(r.Context(), p.attempt(r, &pd)); err == nil {
			state = "enrolled"
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": state})
}

// registerPushQR serves the QR code of the set-up link.
func (p *Portal) registerPushQR(w http.ResponseWriter, r *http.Request) {
	p.servePNG(w, r, func(pd pending, _ verifiers.User) ([]byte, error) {
		if pd.Enrol == "" {
			return nil, nil
		}
		return totp.QRCodeOf(p.enrolURL(r, pd.Enrol), 240)
	})
}
