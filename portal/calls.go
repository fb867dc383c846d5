package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/twilio/twilio-go/client"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/voice"
)

// waitsForCall reports whether the pending sign-in waits for a press-# call.
func (p *Portal) waitsForCall(pd pending) bool {
	return pd.M == voice.Method && p.voice != nil && p.voice.Mode == voice.PressKey
}

// checkCall finishes a press-# sign-in when the call was answered with #,
// and otherwise says what happened to the call.
func (p *Portal) checkCall(w http.ResponseWriter, r *http.Request, pd pending, user verifiers.User, show func(int, string)) {
	ctx := r.Context()
	if _, done := p.checkAnswered(w, r, pd, user, p.voice, "We haven't had your answer yet. Answer the call and press the pound key (#), then continue.", show); done {
		return
	}
	state, detail, err := p.voice.State(ctx, user, p.attempt(r, &pd))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.storeError(w, r, err)
		return
	}
	switch state {
	case store.CallFraud:
		p.audit(r, "sign-in", user.Name, voice.Method, "fraud-reported")
		show(http.StatusForbidden, "You reported this sign-in as not yours, so it was stopped and phone calls are turned off for your account. If it was you after all, contact "+p.cfg.HelpContact+".")
	case store.CallDenied:
		p.addFailure(r, user.Name, voice.Method, "denied")
		show(http.StatusUnauthorized, "The sign-in wasn't confirmed on the call. Call again, or sign in another way.")
	default:
		p.audit(r, "sign-in", user.Name, voice.Method, "call-failed", zap.String("detail", detail))
		show(http.StatusUnauthorized, callEndedMessage(detail))
	}
}

// checkAnswered checks a method the user answers on their phone (a call,
// an approval request) with the lockout around it. It finishes the
// sign-in when the answer approved it, and answers the request for a
// lockout, an error, no answer yet (waiting) or a replay; otherwise it
// returns the result for the caller to explain.
func (p *Portal) checkAnswered(w http.ResponseWriter, r *http.Request, pd pending, user verifiers.User, v verifiers.Verifier, waiting string, show func(int, string)) (verifiers.Result, bool) {
	ctx := r.Context()
	if msg, locked := p.locked(ctx, user.Name, codeFailures); locked {
		p.audit(r, "sign-in", user.Name, v.Method(), "locked")
		show(http.StatusTooManyRequests, msg)
		return verifiers.Rejected, true
	}
	res, err := v.Check(ctx, user, p.attempt(r, &pd), "")
	if err != nil {
		p.audit(r, "sign-in", user.Name, v.Method(), "error", zap.Error(err))
		show(http.StatusServiceUnavailable, "We couldn't check your answer right now. Try again in a moment.")
		return res, true
	}
	switch res {
	case verifiers.Accepted:
		if err := p.cfg.Store.ResetFailures(ctx, user.Name, codeFailures); err != nil {
			p.log.Error("resetting failures", zap.Error(err))
		}
		p.finish(w, r, pd, user, v.Method())
		return res, true
	case verifiers.Pending:
		show(http.StatusAccepted, waiting)
		return res, true
	case verifiers.Replayed:
		p.restart(w, r, msgRestart)
		return res, true
	}
	return res, false
}

func callEndedMessage(detail string) string {
	switch detail {
	case "busy":
		return "Your phone was busy. Call again, or sign in another way."
	case "no-answer", "expired":
		return "The call wasn't answered. Call again, or sign in another way."
	case "hung up":
		return "The call ended before you pressed the pound key (#). Call again, or sign in another way."
	}
	return "The call didn't go through. Call again, or sign in another way."
}

// twilioCallback takes Twilio's press-# and call-status webhooks. They are
// authenticated by X-Twilio-Signature over the configured public URL (never
// one built from the request's Host), not by cookies or CSRF tokens.
func (p *Portal) twilioCallback(w http.ResponseWriter, r *http.Request, path string) {
	if p.voice == nil || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	full := strings.TrimSuffix(p.cfg.Voice.PublicURL, "/") + r.URL.RequestURI()
	params := map[string]string{}
	for k, v := range r.PostForm {
		params[k] = v[0]
	}
	sig := r.Header.Get("X-Twilio-Signature")
	rv := client.NewRequestValidator(p.cfg.Voice.AuthToken)
	if p.cfg.Voice.AuthToken == "" || sig == "" || !rv.Validate(full, params, sig) {
		p.log.Warn("refused a Twilio callback without a valid X-Twilio-Signature",
			zap.String("path", r.URL.Path), zap.String("client_ip", p.cfg.ClientIP(r)), zap.Bool("signed", sig != ""))
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	challenge, user := q.Get("c"), q.Get("u")
	switch path {
	case voice.GatherPath:
		say, fraud, err := p.voice.Answer(r.Context(), challenge, user, r.PostForm.Get("Digits"))
		if err != nil {
			p.log.Error("recording the answer to a call", zap.Error(err))
		}
		if fraud {
			p.fraudReported(r, user, voice.Method, msgCallFraud)
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(voice.Say(say)))
	case voice.StatusPath:
		switch status := r.PostForm.Get("CallStatus"); status {
		case "completed", "busy", "no-answer", "failed", "canceled":
			if err := p.voice.Ended(r.Context(), challenge, status); err != nil {
				p.log.Error("recording a call's end", zap.Error(err))
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

const msgCallFraud = "the user pressed 0 on the sign-in call: someone else knows their password"

// fraudReported logs a user's fraud report as a high-priority event.
func (p *Portal) fraudReported(r *http.Request, user, method, detail string) {
	p.log.Error("sign-in event", zap.String("event", "fraud-report"), zap.String("user", user),
		zap.String("method", method), zap.String("outcome", "method-blocked"), zap.String("detail", detail),
		zap.String("client_ip", p.cfg.ClientIP(r)))
}

// simulateAnswer is the development outbox's stand-in for the callee: a
// button on the waiting page "presses" # or 0. Only with the outbox, only
// for clients on this machine, only for the user's own pending call.
func (p *Portal) simulateAnswer(w http.ResponseWriter, r *http.Request) {
	if p.voice == nil || !p.cfg.Voice.Simulate || r.Method != http.MethodPost || !fromThisMachine(r) {
		http.NotFound(w, r)
		return
	}
	pd, user, ok := p.readPending(r, stageVerify)
	if !ok || !p.waitsForCall(pd) {
		p.restart(w, r, msgRestart)
		return
	}
	digits := r.PostFormValue("digits")
	if _, fraud, err := p.voice.Answer(r.Context(), pd.ID, user.Name, digits); err != nil {
		p.storeError(w, r, err)
		return
	} else if fraud {
		p.fraudReported(r, user.Name, voice.Method, msgCallFraud)
	}
	http.Redirect(w, r, Prefix+"verify", http.StatusSeeOther)
}
