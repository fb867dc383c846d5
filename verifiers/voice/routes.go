package voice

import (
	"net/http"
	"strings"

	"github.com/twilio/twilio-go/client"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/verifiers"
)

// Routes implements verifiers.Router: Twilio's press-# and call-status
// webhooks, and the development outbox's stand-in for the callee.
func (v *Verifier) Routes() []verifiers.Route {
	post := []string{http.MethodPost}
	return []verifiers.Route{
		{Path: "twilio/", Methods: post, Insecure: true, Handler: http.HandlerFunc(v.twilioCallback)},
		{Path: "outbox/answer", Methods: post, Form: true, Handler: http.HandlerFunc(v.simulateAnswer)},
	}
}

// twilioCallback takes Twilio's press-# and call-status webhooks. They are
// authenticated by X-Twilio-Signature over the configured public URL (never
// one built from the request's Host), not by cookies or CSRF tokens.
func (v *Verifier) twilioCallback(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	full := strings.TrimSuffix(v.PublicURL, "/") + r.URL.RequestURI()
	params := map[string]string{}
	for k, vals := range r.PostForm {
		params[k] = vals[0]
	}
	sig := r.Header.Get("X-Twilio-Signature")
	rv := client.NewRequestValidator(v.AuthToken)
	if v.AuthToken == "" || sig == "" || !rv.Validate(full, params, sig) {
		v.log().Warn("refused a Twilio callback without a valid X-Twilio-Signature",
			zap.String("path", r.URL.Path), zap.String("client_ip", v.Host.ClientIP(r)), zap.Bool("signed", sig != ""))
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	challenge, user := q.Get("c"), q.Get("u")
	switch strings.TrimPrefix(r.URL.Path, v.Prefix) {
	case GatherPath:
		// The call goes on in the language it was placed in (the signed
		// URL keeps it), not in whatever Twilio's request would choose.
		l := v.callLanguage(q.Get(langParam))
		say, fraud, err := v.answer(messages.With(r.Context(), l), challenge, user, r.PostForm.Get("Digits"))
		if err != nil {
			v.log().Error("recording the answer to a call", zap.Error(err))
		}
		if fraud {
			v.Host.FraudReported(r, user, Method, msgCallFraud)
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(Say(l, say)))
	case StatusPath:
		switch status := r.PostForm.Get("CallStatus"); status {
		case "completed", "busy", "no-answer", "failed", "canceled":
			if err := v.Ended(r.Context(), challenge, status); err != nil {
				v.log().Error("recording a call's end", zap.Error(err))
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

const msgCallFraud = "the user pressed 0 on the sign-in call: someone else knows their password"

// simulateAnswer is the development outbox's stand-in for the callee: a
// button on the waiting page "presses" # or 0. Only with the outbox, only
// for clients on this machine, only for the user's own pending call.
func (v *Verifier) simulateAnswer(w http.ResponseWriter, r *http.Request) {
	if !v.Simulate || v.Mode != PressKey || !v.Host.Local(r) {
		http.NotFound(w, r)
		return
	}
	user, ch, ok := v.Host.Signing(r)
	if !ok || ch.Method != Method {
		http.Redirect(w, r, v.Prefix, http.StatusSeeOther)
		return
	}
	if _, fraud, err := v.answer(r.Context(), ch.ID, user.Name, r.PostFormValue("digits")); err != nil {
		v.log().Error("recording a simulated answer", zap.Error(err))
	} else if fraud {
		v.Host.FraudReported(r, user.Name, Method, msgCallFraud)
	}
	http.Redirect(w, r, v.Prefix+"verify", http.StatusSeeOther)
}

func (v *Verifier) log() *zap.Logger {
	if v.Log == nil {
		return zap.NewNop()
	}
	return v.Log
}
