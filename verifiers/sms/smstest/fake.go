// Package smstest is a local fake of Twilio's Messages and Calls APIs for
// tests: the real twilio-go client talks to it over HTTP.
package smstest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Twilio plays Twilio's REST API for one account: it checks what a real
// request must carry (the account's path, Basic auth, To/From/Body) and
// keeps the messages, or answers with the error Fail writes.
type Twilio struct {
	URL        string
	AccountSID string
	AuthToken  string

	mu       sync.Mutex
	messages []Message
	calls    []Call
	verifies map[string]*verification // by service SID + "|" + To
	fail     func(w http.ResponseWriter) bool
}

// Message is one text the fake accepted. Locale is the language Twilio
// Verify was asked to text in ("" lets it choose by the number).
type Message struct {
	To, From, MessagingServiceSID, Body string
	Locale                              string
}

// verification is one pending Twilio Verify code.
type verification struct {
	code  string
	tries int
}

// Call is one call the fake accepted.
type Call struct {
	To, From, Twiml, StatusCallback, StatusCallbackMethod string
	StatusCallbackEvents                                  []string
}

// NewTwilio starts a fake for the account, closed when the test ends.
func NewTwilio(t testing.TB, accountSID, authToken string) *Twilio {
	f := &Twilio{AccountSID: accountSID, AuthToken: authToken}
	srv := httptest.NewServer(http.HandlerFunc(f.serve(t)))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *Twilio) serve(t testing.TB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/Services/") {
			f.serveVerify(w, r)
			return
		}
		account := "/2010-04-01/Accounts/" + f.AccountSID
		if r.Method != http.MethodPost || (r.URL.Path != account+"/Messages.json" && r.URL.Path != account+"/Calls.json") {
			t.Errorf("fake Twilio: unexpected %s %s", r.Method, r.URL.Path)
			writeError(w, 404, 20404, "The requested resource was not found")
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != f.AccountSID || p != f.AuthToken {
			writeError(w, 401, 20003, "Authenticate")
			return
		}
		if err := r.ParseForm(); err != nil {
			writeError(w, 400, 21602, "Message body is required")
			return
		}
		f.mu.Lock()
		fail := f.fail
		f.mu.Unlock()
		if r.URL.Path == account+"/Calls.json" {
			c := Call{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Twiml: r.PostForm.Get("Twiml"),
				StatusCallback: r.PostForm.Get("StatusCallback"), StatusCallbackMethod: r.PostForm.Get("StatusCallbackMethod"),
				StatusCallbackEvents: r.PostForm["StatusCallbackEvent"]}
			if c.To == "" || c.From == "" || c.Twiml == "" {
				writeError(w, 400, 21205, "A 'To', 'From' and 'Twiml' are required")
				return
			}
			if fail != nil && fail(w) {
				return
			}
			f.mu.Lock()
			f.calls = append(f.calls, c)
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			w.Write([]byte(`{"sid":"CA00000000000000000000000000000000","status":"queued"}`))
			return
		}
		m := Message{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"),
			MessagingServiceSID: r.PostForm.Get("MessagingServiceSid"), Body: r.PostForm.Get("Body")}
		if m.To == "" || m.Body == "" || (m.From == "" && m.MessagingServiceSID == "") {
			writeError(w, 400, 21604, "A 'To', 'From' and 'Body' are required")
			return
		}
		if fail != nil && fail(w) {
			return
		}
		f.mu.Lock()
		f.messages = append(f.messages, m)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"sid":"SM00000000000000000000000000000000","status":"queued"}`))
	}
}

// serveVerify plays Twilio Verify: a verification per service and number,
// a random code texted, at most 5 checks, gone once approved.
func (f *Twilio) serveVerify(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != f.AccountSID || p != f.AuthToken {
		writeError(w, 401, 20003, "Authenticate")
		return
	}
	r.ParseForm()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/Services/"), "/")
	if len(parts) != 2 || r.PostForm.Get("To") == "" {
		writeError(w, 404, 20404, "The requested resource was not found")
		return
	}
	key := parts[0] + "|" + r.PostForm.Get("To")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.verifies == nil {
		f.verifies = map[string]*verification{}
	}
	w.Header().Set("Content-Type", "application/json")
	switch parts[1] {
	case "Verifications":
		if r.PostForm.Get("Channel") != "sms" {
			writeError(w, 400, 60200, "Invalid parameter: Channel")
			return
		}
		code := fmt.Sprintf("%06d", mathrand.IntN(1_000_000))
		f.verifies[key] = &verification{code: code}
		f.messages = append(f.messages, Message{To: r.PostForm.Get("To"), From: "verify:" + parts[0], Body: "Your verification code is: " + code,
			Locale: r.PostForm.Get("Locale")})
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"sid": "VE0", "status": "pending", "to": r.PostForm.Get("To")})
	case "VerificationCheck":
		v := f.verifies[key]
		if v == nil {
			writeError(w, 404, 20404, "The requested resource was not found")
			return
		}
		if v.tries >= 5 {
			writeError(w, 429, 60202, "Max check attempts reached")
			return
		}
		v.tries++
		status := "pending"
		if r.PostForm.Get("Code") == v.code {
			status = "approved"
			delete(f.verifies, key)
		}
		w.WriteHeader(200)
		json.NewEncoder(w).Encode(map[string]any{"sid": "VE0", "status": status, "valid": status == "approved"})
	default:
		writeError(w, 404, 20404, "The requested resource was not found")
	}
}

// FailWith makes the fake answer every message with Twilio's error JSON
// (status and Twilio error code); FailWith(0, 0) restores success.
func (f *Twilio) FailWith(status, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		f.fail = nil
		return
	}
	f.fail = func(w http.ResponseWriter) bool {
		writeError(w, status, code, "fake Twilio error")
		return true
	}
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + http.StatusText(status)})
}

// Calls returns the calls accepted so far.
func (f *Twilio) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Messages returns the texts accepted so far.
func (f *Twilio) Messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.messages...)
}

var codeRe = regexp.MustCompile(`\b(\d{6})\b`)

// LastCode is the 6-digit code in the last text to number ("" if none).
func (f *Twilio) LastCode(number string) string {
	msgs := f.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == number {
			if m := codeRe.FindStringSubmatch(msgs[i].Body); m != nil {
				return m[1]
			}
		}
	}
	return ""
}

// Sign computes Twilio's X-Twilio-Signature for a form POST to fullURL, as
// Twilio does: HMAC-SHA1 with the auth token over the URL followed by each
// parameter name and value, names sorted, then base64.
func Sign(authToken, fullURL string, form url.Values) string {
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(fullURL))
	for _, k := range names {
		for _, v := range form[k] {
			m.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
