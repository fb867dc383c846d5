package attack

import (
	"bytes"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
)

// TestOversizedAndMalformedInput sends what no browser would: every answer
// is a clear 4xx (or the normal page), never a 500 or a dropped
// connection, and the process's memory stays bounded.
func TestOversizedAndMalformedInput(t *testing.T) {
	start(t, []string{"alice"}, "sms outbox\n\t\tpush")
	c := newClient(t)
	token := c.csrf("/.stepgate/")
	big := bytes.Repeat([]byte("a"), 10<<20)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	type attempt struct {
		method, path string
		body         []byte
		hdr          map[string]string
		want         []int
	}
	form := func(kv ...string) []byte {
		v := url.Values{"csrf": {token}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return []byte(v.Encode())
	}
	attempts := map[string]attempt{
		"10 MB sign-in form":         {"POST", "/.stepgate/", big, nil, []int{413}},
		"10 MB code form":            {"POST", "/.stepgate/verify", big, nil, []int{413}},
		"10 MB device request":       {"POST", "/.stepgate/push/answer", big, map[string]string{"Content-Type": "application/json"}, []int{400}},
		"10 MB to the app":           {"POST", "/app", big, nil, []int{302, 401}},
		"100 KB cookie":              {"GET", "/app", nil, map[string]string{"Cookie": "stepgate=" + strings.Repeat("A", 100<<10)}, []int{302, 431}},
		"100 KB header":              {"GET", "/.stepgate/", nil, map[string]string{"X-Junk": strings.Repeat("j", 100<<10)}, []int{200, 431}},
		"100 KB return URL":          {"GET", "/.stepgate/?rd=/" + strings.Repeat("a", 100<<10), nil, nil, []int{200, 414, 431}},
		"invalid UTF-8 username":     {"POST", "/.stepgate/", form("username", "\xff\xfe\xfd", "password", "x"), nil, []int{401}},
		"NUL in the username":        {"POST", "/.stepgate/", form("username", "ali\x00ce", "password", password_), nil, []int{401}},
		"NUL in the password":        {"POST", "/.stepgate/", form("username", "alice", "password", "x\x00y"), nil, []int{401}},
		"1 MB password":              {"POST", "/.stepgate/", form("username", "alice", "password", strings.Repeat("p", 1<<20)), nil, []int{413}},
		"repeated username fields":   {"POST", "/.stepgate/", form("username", "nobody", "username", "alice", "password", "x"), nil, []int{401}},
		"malformed percent-encoding": {"POST", "/.stepgate/", []byte("username=%zz&password=%&csrf=" + token), nil, []int{400}},
		"code without a sign-in":     {"POST", "/.stepgate/verify", form("code", "123456"), nil, []int{200}},
		"device request not JSON":    {"POST", "/.stepgate/push/answer", []byte("\x00\xff{"), map[string]string{"Content-Type": "application/json"}, []int{400}},
		"unknown portal path":        {"GET", "/.stepgate/%00/../etc/passwd", nil, nil, []int{400, 404}},
		"TRACE to the portal":        {"TRACE", "/.stepgate/", nil, nil, []int{405}},
		"control characters in path": {"GET", "/.stepgate/verify%0d%0aSet-Cookie:x=y", nil, nil, []int{404}},
	}
	for name, a := range attempts {
		req, err := http.NewRequest(a.method, base+a.path, bytes.NewReader(a.body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Origin", base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if a.body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range a.hdr {
			req.Header.Set(k, v)
		}
		for _, ck := range c.c.Jar.Cookies(req.URL) {
			if a.hdr["Cookie"] == "" {
				req.AddCookie(ck)
			}
		}
		res, err := c.c.Do(req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		res.Body.Close()
		ok := false
		for _, s := range a.want {
			ok = ok || res.StatusCode == s
		}
		if !ok || res.StatusCode >= 500 {
			t.Errorf("%s: %d, want one of %v", name, res.StatusCode, a.want)
		}
		if strings.Contains(res.Header.Get("Set-Cookie"), "x=y") {
			t.Errorf("%s: header injection", name)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Errorf("the heap grew by %d MB over %d requests", grown>>20, len(attempts))
	}
	t.Logf("%d oversized or malformed requests", len(attempts))
}
