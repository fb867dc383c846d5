package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/phone"
	"github.com/stepgate/stepgate/verifiers/push"
	"github.com/stepgate/stepgate/verifiers/sms"
	"github.com/stepgate/stepgate/verifiers/voice"
)

// codeFailures keys the failure counter that every typed code (app code,
// text code) counts toward: one lockout per account, whichever method the
// attacker switches to.
const codeFailures = "code"

// choice is one of a user's methods as the method list shows it.
type choice struct {
	Method string
	Label  string
}

// userMethods lists the methods the user has set up, strongest first.
func (p *Portal) userMethods(ctx context.Context, user verifiers.User) ([]choice, error) {
	var out []choice
	for _, v := range p.methods {
		ok, err := v.Enrolled(ctx, user)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		c := choice{Method: v.Method()}
		switch v.Method() {
		case "totp":
			c.Label = "Use a verification code from my authenticator app"
		case push.Method:
			c.Label = "Approve a request on my Stepgate Authenticator"
			if devs, err := p.push.Devices(ctx, user.Name); err == nil && len(devs) == 1 {
				c.Label += " (" + devs[0].Name + ")"
			}
		case sms.Method, voice.Method:
			number, err := p.phoneCodes().Phone(ctx, user)
			if err != nil {
				return nil, err
			}
			c.Label = "Text " + phone.Mask(number)
			if v.Method() == voice.Method {
				c.Label = "Call " + phone.Mask(number)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// defaultMethod is the user's chosen default when they still have it, else
// the strongest method they have.
func (p *Portal) defaultMethod(ctx context.Context, user verifiers.User, have []choice) (string, error) {
	info, err := p.cfg.Store.SecurityInfo(ctx, user.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	for _, c := range have {
		if c.Method == info.DefaultMethod {
			return c.Method, nil
		}
	}
	return have[0].Method, nil
}

func (p *Portal) verifier(method string) verifiers.Verifier {
	for _, v := range p.methods {
		if v.Method() == method {
			return v
		}
	}
	return nil
}

// start begins the pending sign-in's current method (a text is sent; an
// app code needs nothing) and keeps what to tell the user in pd.
func (p *Portal) start(r *http.Request, pd *pending, user verifiers.User) {
	pd.Prompt, pd.Err, pd.Show = "", "", ""
	v := p.verifier(pd.M)
	if v == nil {
		return
	}
	if !p.devAllowed(r, user.Name, pd.M) {
		pd.Err = msgOutboxOnly
		return
	}
	prompt, err := v.Start(r.Context(), user, p.attempt(r, pd))
	if err != nil {
		pd.Err = p.sendErrorMessage(r, user.Name, pd.M, err)
		return
	}
	pd.Prompt, pd.Show = prompt.Message, prompt.Show
	switch {
	case pd.M == push.Method:
		p.audit(r, "push-sent", user.Name, pd.M, "success")
	case p.waitsForCall(*pd):
		p.audit(r, "call-placed", user.Name, pd.M, "success")
	case pd.M != "totp":
		p.audit(r, "code-sent", user.Name, pd.M, "success")
	}
}

const msgOutboxOnly = "Texts and calls are in development mode on this server and only work from the server itself. Sign in another way."

// phoneCodes sends the codes that confirm a new phone number: by text when
// texts are on, else by a call that reads the code.
func (p *Portal) phoneCodes() *sms.Verifier {
	switch {
	case p.sms != nil:
		return p.sms
	case p.voice != nil:
		return p.voice.Codes
	}
	return nil
}

// devAllowed applies LoopbackOnly (the development outbox) to method.
func (p *Portal) devAllowed(r *http.Request, user, method string) bool {
	loopbackOnly := (method == sms.Method && p.cfg.SMS != nil && p.cfg.SMS.LoopbackOnly) ||
		(method == voice.Method && p.cfg.Voice != nil && p.cfg.Voice.LoopbackOnly)
	if !loopbackOnly || fromThisMachine(r) {
		return true
	}
	p.audit(r, "code-sent", user, method, "refused-outbox")
	p.log.Error("not sent: the outbox transport only serves clients on this machine; configure twilio, or set outbox_allowed for a test deployment",
		zap.String("method", method))
	return false
}

func (p *Portal) attempt(r *http.Request, pd *pending) verifiers.Challenge {
	return verifiers.Challenge{ID: pd.ID, Created: time.Unix(pd.Created, 0), ClientIP: p.cfg.ClientIP(r), Host: p.siteName(r)}
}

// sendErrorMessage logs a failed send and returns the words for the user.
func (p *Portal) sendErrorMessage(r *http.Request, user, method string, err error) string {
	var le *sms.LimitError
	var se *sms.SendError
	var pl *push.LimitError
	var pp *push.PausedError
	switch {
	case errors.As(err, &pl):
		p.audit(r, "push-sent", user, method, "limited")
		return "Too many sign-in requests have been sent. Try again in " + humanWait(pl.Retry.Sub(p.cfg.Now())) + ", or sign in another way."
	case errors.Is(err, store.ErrTooManyPending):
		p.audit(r, "push-sent", user, method, "too-many-pending")
		return "You already have sign-in requests waiting on your phone. Answer or deny them in the Stepgate Authenticator, wait two minutes, or sign in another way."
	case errors.As(err, &pp):
		p.audit(r, "push-sent", user, method, "paused")
		return "Several sign-in requests in a row were denied or not answered, so requests to your phone are paused for " + humanWait(pp.Until.Sub(p.cfg.Now())) + ". Sign in another way."
	case errors.Is(err, push.ErrBlocked):
		return "Sign-in requests to your phone are turned off after you reported one as suspicious. Sign in another way, or contact " + p.cfg.HelpContact + "."
	case errors.As(err, &le):
		p.audit(r, "code-sent", user, method, "limited", zap.String("limit", le.Limit))
		wait := humanWait(le.Retry.Sub(p.cfg.Now()))
		if le.Limit == "cooldown" {
			return "We just sent you a code. Wait " + wait + " before asking for a new one."
		}
		return "Too many codes have been sent. Try again in " + wait + ", or sign in another way."
	case errors.As(err, &se):
		p.audit(r, "code-sent", user, method, "send-failed", zap.Error(se.Err))
		return se.UserMessage
	case errors.Is(err, sms.ErrCountry):
		p.audit(r, "code-sent", user, method, "country-refused")
		return fmt.Sprintf("Phone numbers in that country can't be used here. Use a number starting with %s, or contact %s.", p.cfg.SMS.Countries, p.cfg.HelpContact)
	case errors.Is(err, voice.ErrBlocked):
		return "Phone calls are turned off for your account after a fraud report. Sign in another way, or contact " + p.cfg.HelpContact + "."
	case errors.Is(err, phone.ErrInvalid):
		return "That doesn't look like a phone number: " + phone.ErrInvalid.Error() + "."
	default:
		p.audit(r, "code-sent", user, method, "error", zap.Error(err))
		return "We couldn't send a code right now. Try again in a moment, or sign in another way."
	}
}

// verifyingWithMethods reads the pending sign-in at the second step and the
// user's methods; when it returns false it has answered the request.
func (p *Portal) verifyingWithMethods(w http.ResponseWriter, r *http.Request) (pending, verifiers.User, []choice, bool) {
	pd, user, ok := p.readPending(r, stageVerify)
	if !ok {
		p.restart(w, r, msgRestart)
		return pd, user, nil, false
	}
	have, err := p.userMethods(r.Context(), user)
	if err != nil {
		p.storeError(w, r, err)
		return pd, user, nil, false
	}
	return pd, user, have, true
}

// otherMethods lists the user's other methods ("Sign in another way"), or
// says there are none and who can help.
func (p *Portal) otherMethods(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	pd, user, have, ok := p.verifyingWithMethods(w, r)
	if !ok {
		return
	}
	var others []choice
	for _, c := range have {
		if c.Method != pd.M {
			others = append(others, c)
		}
	}
	p.render(w, r, http.StatusOK, "other", pageData{Title: "Sign in another way", Heading: "Sign in another way", Username: user.Name, Choices: others})
}

// chooseMethod switches the pending sign-in to another of the user's
// methods, or sends a new code for the current one, and starts it.
func (p *Portal) chooseMethod(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	pd, user, have, ok := p.verifyingWithMethods(w, r)
	if !ok {
		return
	}
	want := r.PostFormValue("method")
	found := false
	for _, c := range have {
		found = found || c.Method == want
	}
	if !found {
		p.render(w, r, http.StatusBadRequest, "message", pageData{Title: "Sign in another way", Heading: "That method isn't available",
			Info: "That verification method isn't set up for your account.", Continue: Prefix + "verify/other"})
		return
	}
	pd.M = want
	p.start(r, &pd, user)
	if !p.setPending(w, r, pd) {
		p.storeError(w, r, errors.New("encoding pending cookie"))
		return
	}
	http.Redirect(w, r, Prefix+"verify", http.StatusSeeOther)
}

// registerPhone sets up a phone for text messages during first-sign-in
// registration: the user enters a number, gets a code by text, and types
// it; only then is the number stored, and the sign-in finishes.
func (p *Portal) registerPhone(w http.ResponseWriter, r *http.Request) {
	if methodNotAllowed(w, r) {
		return
	}
	pd, user, ok := p.registering(w, r)
	if !ok {
		return
	}
	show := func(status int, msg, prompt string) {
		d := pageData{Title: "Set up your phone", Heading: "Set up your phone", Error: msg, Username: user.Name, Prompt: prompt}
		if pd.Phone != "" {
			d.Phone = phone.Mask(pd.Phone)
		}
		p.render(w, r, status, "phone", d)
	}
	if r.Method != http.MethodPost {
		show(http.StatusOK, "", pd.Prompt)
		return
	}
	switch {
	case r.PostForm.Has("phone"):
		// A new number (or the same one again): text it a code.
		number := r.PostFormValue("phone")
		if number == "" { // "Use a different number"
			pd.Phone, pd.Prompt = "", ""
			if !p.setPending(w, r, pd) {
				p.storeError(w, r, errors.New("encoding pending cookie"))
				return
			}
			show(http.StatusOK, "", "")
			return
		}
		codes := p.phoneCodes()
		if !p.devAllowed(r, user.Name, codes.Method()) {
			show(http.StatusForbidden, msgOutboxOnly, "")
			return
		}
		prompt, err := codes.SendTo(r.Context(), user, p.attempt(r, &pd), number)
		if err != nil {
			show(http.StatusBadRequest, p.sendErrorMessage(r, user.Name, codes.Method(), err), "")
			return
		}
		n, _ := phone.Parse(number)
		pd.Phone, pd.Prompt = n.E164, prompt.Message
		p.audit(r, "code-sent", user.Name, codes.Method(), "success", zap.String("purpose", "set-up"))
		if !p.setPending(w, r, pd) {
			p.storeError(w, r, errors.New("encoding pending cookie"))
			return
		}
		show(http.StatusOK, "", pd.Prompt)
	case pd.Phone == "":
		show(http.StatusBadRequest, "Enter your phone number first.", "")
	default:
		codes := p.phoneCodes()
		res, msg, status := p.checkCode(r, user, codes.Method(), func(code string) (verifiers.Result, error) {
			return codes.CheckNumber(r.Context(), user, p.attempt(r, &pd), pd.Phone, code)
		})
		if res != verifiers.Accepted {
			show(status, msg, pd.Prompt)
			return
		}
		// Atomically the first method, or nothing: the user may have set
		// up another method since this page was opened.
		if err := p.cfg.Store.SetFirstPhone(r.Context(), user.Name, pd.Phone); errors.Is(err, store.ErrAlreadySetUp) {
			p.restart(w, r, p.msgSetUpMeanwhile())
			return
		} else if err != nil {
			p.storeError(w, r, err)
			return
		}
		p.audit(r, "method-added", user.Name, "phone", "success")
		p.finish(w, r, pd, user, codes.Method())
	}
}
