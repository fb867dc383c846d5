package push

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

// maxBody bounds every request of the device API.
const maxBody = 16 << 10

// Routes implements verifiers.Router: the authenticator's files, and the
// device API it talks to.
func (v *Verifier) Routes() []verifiers.Route {
	return []verifiers.Route{
		{Path: "authenticator/", Methods: []string{http.MethodGet}, Insecure: true, Handler: http.HandlerFunc(v.serveApp)},
		{Path: "push/", Handler: http.HandlerFunc(v.deviceAPI)},
	}
}

// errRegistrationOff refuses a set-up token after first-sign-in
// registration was turned off.
var errRegistrationOff = errors.New("first-sign-in registration is turned off")

// deviceError is an answer to the authenticator app: a status and words
// for the person holding the phone, in the request's language (the app
// asks for its page's).
func (v *Verifier) deviceError(w http.ResponseWriter, r *http.Request, err error) {
	l := messages.From(r.Context())
	var ie *InputError
	status, msg := http.StatusServiceUnavailable, l.T("push.api.server_error")
	switch {
	case errors.As(err, &ie):
		status, msg = http.StatusBadRequest, ie.Msg
	case errors.Is(err, ErrBadToken):
		status, msg = http.StatusBadRequest, l.T("push.api.bad_token")
	case errors.Is(err, ErrAlreadySetUp), errors.Is(err, errRegistrationOff):
		status, msg = http.StatusForbidden, l.T("push.api.already_set_up", "Help", v.Host.HelpContact(l))
	case errors.Is(err, store.ErrTooManyDevices):
		status, msg = http.StatusConflict, tooManyDevices{}.Explain(l, "", time.Time{})
	case errors.Is(err, ErrUnknownDevice):
		status, msg = http.StatusNotFound, l.T("push.api.unknown_device")
	case errors.Is(err, ErrBadSignature):
		status, msg = http.StatusUnauthorized, l.T("push.api.bad_signature")
	case errors.Is(err, ErrStale):
		status, msg = http.StatusBadRequest, l.T("push.api.stale")
	case errors.Is(err, ErrNotPending):
		status, msg = http.StatusConflict, l.T("push.api.not_pending")
	}
	if status == http.StatusServiceUnavailable {
		v.log().Error("authenticator request failed", zap.String("path", r.URL.Path), zap.Error(err))
	} else {
		v.log().Warn("authenticator request refused", zap.String("path", r.URL.Path), zap.String("client_ip", v.Host.ClientIP(r)),
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": messages.From(r.Context()).T("push.api.unreadable")})
		return false
	}
	return true
}

// deviceAPI serves the authenticator app's requests under push/. They
// carry no cookies: every one is signed by the device's key (enrolment
// by the key being enrolled, with a one-time token).
func (v *Verifier) deviceAPI(w http.ResponseWriter, r *http.Request) {
	action := strings.TrimPrefix(r.URL.Path, v.Prefix+"push/")
	if action == "config" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		key, err := v.Sender.PublicKey(r.Context())
		if err != nil {
			v.deviceError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"vapidKey": key, "appName": v.AppName})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": messages.From(r.Context()).T("push.api.use_post")})
		return
	}
	ctx := r.Context()
	l := messages.From(ctx)
	switch action {
	case "enrol":
		var e Enrolment
		if !readJSON(w, r, &e) {
			return
		}
		// A token from first-sign-in registration is refused once
		// registration is turned off (here) or once the user has any
		// method (atomically, in the store). Tokens from the Security info
		// page were made for a user who verified it's them.
		if strings.HasPrefix(e.Token, FirstTokenPrefix) && !v.Host.FirstSignInRegistration() {
			v.deviceError(w, r, errRegistrationOff)
			return
		}
		d, _, err := v.EnrolDevice(ctx, e)
		if err != nil {
			v.deviceError(w, r, err)
			return
		}
		v.Host.Audit(r, "device-enrolled", d.Username, Method, "success", zap.String("device", d.Name), verifiers.Named(d.Name), zap.Bool("notifications", d.Subscription != ""))
		writeJSON(w, http.StatusOK, map[string]any{"device": d.ID, "user": d.Username, "name": d.Name})
	case "pending":
		var req struct {
			Signed
			Subscription string `json:"subscription"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		d, reqs, err := v.Pending(ctx, req.Signed, req.Subscription)
		if err != nil {
			v.deviceError(w, r, err)
			return
		}
		list := make([]Notification, len(reqs))
		for i, q := range reqs {
			list[i] = NotificationOf(l, q)
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": d.Username, "name": d.Name, "notifications": d.Subscription != "" && !d.Gone, "requests": list})
	case "rename":
		var req struct {
			Signed
			Name string `json:"name"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		d, err := v.RenameDevice(ctx, req.Signed, req.Name)
		if err != nil {
			v.deviceError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": d.Name})
	case "answer":
		var a Answer
		if !readJSON(w, r, &a) {
			return
		}
		d, req, out, err := v.Answer(ctx, a)
		if err != nil {
			v.deviceError(w, r, err)
			return
		}
		v.answered(r, d, req, out)
		writeJSON(w, http.StatusOK, map[string]any{"result": out, "message": answerMessage(l, out, v.Host.HelpContact(l))})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": l.T("push.api.not_found")})
	}
}

// answered logs a device's answer; a denial counts toward the account's
// lockout, and a report is a high-priority event.
func (v *Verifier) answered(r *http.Request, d store.PushDevice, req store.PushRequest, out Outcome) {
	fields := []zap.Field{zap.String("device", d.Name), zap.String("request_ip", req.ClientIP), zap.String("host", req.Host)}
	switch out {
	case Approved:
		v.Host.Audit(r, "push-answer", d.Username, Method, "approved", fields...)
	case Reported:
		v.Host.Audit(r, "push-answer", d.Username, Method, "reported", fields...)
		v.Host.Failed(r, d.Username, Method, "denied")
		v.Host.FraudReported(r, d.Username, Method, "the user reported an approval request as suspicious: someone else knows their password")
	default:
		v.Host.Audit(r, "push-answer", d.Username, Method, string(out), fields...)
		v.Host.Failed(r, d.Username, Method, "denied")
	}
}

// answerMessage is what the app says about an answer, in l's language.
func answerMessage(l *messages.Localizer, out Outcome, help string) string {
	switch out {
	case Approved:
		return l.T("push.answer.approved")
	case WrongNumber:
		return l.T("push.answer.wrong_number")
	case Reported:
		return l.T("push.answer.reported", "Help", help)
	}
	return l.T("push.answer.denied")
}
