package portal

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

func TestSessionSerializerRoundTrip(t *testing.T) {
	in := session{ID: "0123456789abcdef0123456789abcdef", User: "alice", Aud: ".example.com", Issued: 1_800_000_000, Seen: -5, Expires: 1_800_043_200,
		Verified: 1_800_000_100, By: "passkey", Methods: "passkey"}
	b, err := sessionSerializer{}.Serialize(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out session
	if err := (sessionSerializer{}).Deserialize(b, &out); err != nil || out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	for i := 0; i < len(b); i++ {
		if err := (sessionSerializer{}).Deserialize(b[:i], &out); err == nil {
			t.Errorf("truncated at %d accepted", i)
		}
	}
	if err := (sessionSerializer{}).Deserialize(append(b, 0), &out); err == nil {
		t.Error("trailing byte accepted")
	}
	if _, err := (sessionSerializer{}).Serialize("nope"); err == nil {
		t.Error("serialized a string")
	}
	// Format 1 (before sessions recorded their expiry) still decodes,
	// with no expiry of its own; nothing may follow its last field.
	v1 := []byte{1, 1, 'a', 1, 'b', 1, 'c'}
	v1 = binary.AppendVarint(v1, 1_800_000_000)
	v1 = binary.AppendVarint(v1, 1_800_000_060)
	want := session{ID: "a", User: "b", Aud: "c", Issued: 1_800_000_000, Seen: 1_800_000_060}
	out = session{Expires: 99}
	if err := (sessionSerializer{}).Deserialize(v1, &out); err != nil || out != want {
		t.Fatalf("format 1: %+v, %v", out, err)
	}
	if err := (sessionSerializer{}).Deserialize(binary.AppendVarint(v1, 5), &out); err == nil {
		t.Error("format 1 with an expiry accepted")
	}
	// Format 2 (before sessions recorded the last second step) decodes
	// with none; nothing may follow its expiry.
	v2 := append([]byte{2}, v1[1:]...)
	v2 = binary.AppendVarint(v2, 1_800_043_200)
	want.Expires = 1_800_043_200
	out = session{Verified: 7, By: "x"}
	if err := (sessionSerializer{}).Deserialize(v2, &out); err != nil || out != want {
		t.Fatalf("format 2: %+v, %v", out, err)
	}
	if err := (sessionSerializer{}).Deserialize(binary.AppendVarint(v2, 5), &out); err == nil {
		t.Error("format 2 with a verification time accepted")
	}
	// Format 3 (before sessions recorded a first step other than the
	// password) decodes with none; nothing may follow its method.
	v3 := append([]byte{3}, v2[1:]...)
	v3 = binary.AppendVarint(v3, 1_800_000_100)
	v3 = append(v3, 4, 't', 'o', 't', 'p')
	want.Verified, want.By = 1_800_000_100, "totp"
	out = session{Methods: "passkey"}
	if err := (sessionSerializer{}).Deserialize(v3, &out); err != nil || out != want {
		t.Fatalf("format 3: %+v, %v", out, err)
	}
	if err := (sessionSerializer{}).Deserialize(append(v3, 0), &out); err == nil {
		t.Error("format 3 with methods accepted")
	}
	// Format 4 (before "Stay signed in") decodes as not remembered;
	// nothing may follow its methods.
	v4 := append([]byte{4}, v3[1:]...)
	v4 = append(v4, 7, 'p', 'a', 's', 's', 'k', 'e', 'y')
	want.Methods = "passkey"
	out = session{Remembered: true}
	if err := (sessionSerializer{}).Deserialize(v4, &out); err != nil || out != want {
		t.Fatalf("format 4: %+v, %v", out, err)
	}
	if err := (sessionSerializer{}).Deserialize(append(v4, 1), &out); err == nil {
		t.Error("format 4 with a remembered flag accepted")
	}
	// Format 5 carries the flag, 0 or 1 and nothing else.
	want.Remembered = true
	v5, _ := sessionSerializer{}.Serialize(&want)
	if v5[0] != 5 || v5[len(v5)-1] != 1 {
		t.Fatalf("format 5 encoding %x", v5)
	}
	out = session{}
	if err := (sessionSerializer{}).Deserialize(v5, &out); err != nil || out != want {
		t.Fatalf("format 5, remembered: %+v, %v", out, err)
	}
	v5[len(v5)-1] = 2
	if err := (sessionSerializer{}).Deserialize(v5, &out); err == nil {
		t.Error("format 5 with flag 2 accepted")
	}
}

// TestFormat1SessionStillSignedIn: a cookie written before sessions
// recorded their expiry still works, and ends one lifetime after issue.
func TestFormat1SessionStillSignedIn(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lifetime = 2 * time.Hour; c.Idle = 2 * time.Hour })
	value := format1Cookie(t, e, e.clock.Now().Unix())
	if r := e.rawGet("/", plainNames.session+"="+value, nil); r.status != http.StatusOK {
		t.Fatalf("format 1 cookie: %d", r.status)
	}
	e.clock.Add(2*time.Hour - time.Minute)
	if r := e.rawGet("/", plainNames.session+"="+value, nil); r.status != http.StatusOK {
		t.Fatalf("format 1 cookie within its lifetime: %d", r.status)
	}
	e.clock.Add(time.Minute)
	if r := e.rawGet("/", plainNames.session+"="+value, nil); r.status != http.StatusFound {
		t.Fatalf("format 1 cookie past its lifetime: %d", r.status)
	}
}

// TestFormat1SessionRefreshGetsItsExpiry: a format-1 session refreshed by
// the idle timer is written with the expiry it has under the lifetime in
// force, so raising lifetime afterwards does not lengthen it.
func TestFormat1SessionRefreshGetsItsExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lifetime = 2 * time.Hour; c.Idle = 2 * time.Hour })
	issued := e.clock.Now().Unix()
	value := format1Cookie(t, e, issued)
	e.clock.Add(time.Hour) // past a quarter of the idle timeout: refreshed
	r := e.rawGet("/", plainNames.session+"="+value, nil)
	var refreshed string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == plainNames.session {
			refreshed = c.Value
		}
	}
	if r.status != http.StatusOK || refreshed == "" {
		t.Fatalf("format 1 cookie after an hour: %d, refreshed cookie %q", r.status, refreshed)
	}
	var s session
	if err := securecookie.DecodeMulti(plainNames.session, refreshed, &s, e.p.sessions...); err != nil || s.Expires != issued+2*3600 {
		t.Fatalf("refreshed session: %+v, %v; want expiry %d", s, err, issued+2*3600)
	}
	e2 := newEnvWith(t, e.usersFile, e.st, func(c *Config) { c.Now, c.Lifetime, c.Idle = e.clock.Now, 8*time.Hour, 2*time.Hour })
	e.clock.Add(time.Hour + time.Minute)
	if r := e2.rawGet("/", plainNames.session+"="+refreshed, nil); r.status != http.StatusFound {
		t.Fatalf("refreshed format 1 session past its lifetime, after lifetime was raised: %d, want 302", r.status)
	}
}

// format1Cookie is alice's session cookie on 127.0.0.1 in format 1 (no
// expiry of its own), issued and last seen at the unix time issued.
func format1Cookie(t *testing.T, e *env, issued int64) string {
	t.Helper()
	v1 := []byte{1, 2, 'i', 'd', 5, 'a', 'l', 'i', 'c', 'e', 9}
	v1 = append(v1, "127.0.0.1"...)
	v1 = binary.AppendVarint(v1, issued)
	v1 = binary.AppendVarint(v1, issued)
	sc := securecookie.New(e.p.keys[0].cookieHash, e.p.keys[0].cookieBlock)
	sc.SetSerializer(rawSerializer{})
	value, err := sc.Encode(plainNames.session, v1)
	if err != nil {
		t.Fatal(err)
	}
	return value
}

// rawSerializer passes bytes through, to write payloads of old formats.
type rawSerializer struct{}

func (rawSerializer) Serialize(src interface{}) ([]byte, error) { return src.([]byte), nil }
func (rawSerializer) Deserialize(src []byte, dst interface{}) error {
	*dst.(*[]byte) = src
	return nil
}

// FuzzSessionPayload: any bytes inside a validly signed cookie must decode
// cleanly or fail cleanly.
func FuzzSessionPayload(f *testing.F) {
	good, _ := sessionSerializer{}.Serialize(&session{ID: "a", User: "b", Aud: "c", Issued: 1, Seen: 2})
	f.Add(good)
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s session
		if err := (sessionSerializer{}).Deserialize(b, &s); err != nil {
			return
		}
		if b[0] == sessionFormatV1 || b[0] == sessionFormatV2 || b[0] == sessionFormatV3 || b[0] == sessionFormatV4 {
			// Read, never written: it re-encodes as the current format.
			if b[0] == sessionFormatV1 && s.Expires != 0 || b[0] < sessionFormatV3 && (s.Verified != 0 || s.By != "") ||
				b[0] != sessionFormatV4 && s.Methods != "" || s.Remembered {
				t.Fatalf("format %d %x decoded with fields it lacks: %+v", b[0], b, s)
			}
			return
		}
		again, err := sessionSerializer{}.Serialize(&s)
		if err != nil || string(again) != string(b) {
			t.Fatalf("decoded %x to %+v, which encodes to %x", b, s, again)
		}
	})
}

// FuzzSessionCookie: whatever a client puts in the session cookie, the
// hot path answers without panicking and never grants a session.
func FuzzSessionCookie(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{"", "x", "MTgwMDAwMDAwMHx8", "a|b|c", "\"quoted\"", "%00", "==", "MTIzfGFiY3xkZWY="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", plainNames.session+"="+value)
		if id := e.p.Authenticate(req); id != nil {
			t.Fatalf("cookie %q granted a session for %s", value, id.User.Name)
		}
		w := httptest.NewRecorder()
		e.p.Protect(w, req, Policy{})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("cookie %q: %d", value, w.Code)
		}
	})
}

func TestFindCookie(t *testing.T) {
	for _, tc := range []struct {
		header, name, want string
		ok                 bool
	}{
		{"a=1; stepgate=xyz; b=2", "stepgate", "xyz", true},
		{"stepgate-pending=p; stepgate=s", "stepgate", "s", true},
		{"stepgate-pending=p", "stepgate", "", false},
		{`stepgate="q"`, "stepgate", "q", true},
		{"xstepgate=1", "stepgate", "", false},
		{"", "stepgate", "", false},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", tc.header)
		got, ok := findCookie(req, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("findCookie(%q, %q) = %q, %v", tc.header, tc.name, got, ok)
		}
	}
}

func TestLockoutWait(t *testing.T) {
	l := DefaultLockout.WithDefaults()
	now := testTime
	for _, tc := range []struct {
		count    int
		ago      int // seconds since the last failure
		wantWait int // seconds
		hard     bool
	}{
		{0, 0, 0, false}, {4, 0, 0, false},
		{5, 0, 60, false}, {5, 30, 30, false}, {5, 60, 0, false},
		{6, 0, 120, false}, {7, 0, 240, false}, {12, 0, 3600, false}, {49, 0, 3600, false},
		{50, 99999, 0, true}, {100, 0, 0, true},
	} {
		f := failures(tc.count, now.Add(-secs(tc.ago)))
		wait, hard := l.Wait(f, now)
		if wait != secs(tc.wantWait) || hard != tc.hard {
			t.Errorf("count %d, %ds ago: wait %v hard %v; want %ds %v", tc.count, tc.ago, wait, hard, tc.wantWait, tc.hard)
		}
	}
	if got := (Lockout{HardLimit: 500}).WithDefaults().HardLimit; got > 100 {
		t.Errorf("hard limit above NIST's 100 accepted: %d", got)
	}
}

func TestVerifiedCacheIsBounded(t *testing.T) {
	c := newVerifiedCache(100)
	for i := 0; i < 1000; i++ {
		c.put(string(rune('a'+i%26))+string(rune(i)), session{ID: "x"})
		if c.len() > 100 {
			t.Fatalf("cache grew to %d", c.len())
		}
	}
	c.put("keep", session{User: "alice"})
	if s, ok := c.get("keep"); !ok || s.User != "alice" {
		t.Fatal("newest entry missing")
	}
}
