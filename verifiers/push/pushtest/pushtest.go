// Package pushtest is a Web Push service for tests, and a phone to go with
// it. The service takes the real request webpush-go sends, checks its
// VAPID Authorization header (RFC 8292) and decrypts its aes128gcm payload
// (RFC 8188, RFC 8291) with the subscription's keys, as a browser's push
// service and the phone would. The phone signs enrolments and answers
// with an ECDSA P-256 key, as the authenticator app does with WebCrypto.
package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepgate/stepgate/verifiers/push"
)

// Message is one notification the service accepted, decrypted.
type Message struct {
	Phone   string // the phone's name
	TTL     string
	Urgency string
	Subject string // the VAPID "sub" claim
	Payload push.Notification
	Raw     string // the decrypted payload as sent
}

// Service is a fake push service.
type Service struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	phones   map[string]*Phone
	messages []Message
	refused  []string
	status   int           // answer with this instead of 201 (0: 201)
	delay    time.Duration // wait before answering
}

// NewService starts a service; t.Cleanup stops it.
func NewService(t testing.TB) *Service {
	s := &Service{t: t, phones: map[string]*Phone{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// Origin is the service's scheme://host:port, as push.WebPush.Services
// takes it ("http://127.0.0.1:port").
func (s *Service) Origin() string { return s.srv.URL }

// FailWith makes the service answer every notification with status (0:
// accept them again).
func (s *Service) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Delay makes the service wait d before answering.
func (s *Service) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Messages returns the notifications accepted so far.
func (s *Service) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Refused returns why the service refused requests (bad VAPID, bad
// encryption): a test expects none.
func (s *Service) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

func (s *Service) refuse(w http.ResponseWriter, status int, why string) {
	s.mu.Lock()
	s.refused = append(s.refused, why)
	s.mu.Unlock()
	http.Error(w, why, status)
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ph, status, delay := s.phones[strings.TrimPrefix(r.URL.Path, "/push/")], s.status, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost || ph == nil {
		s.refuse(w, http.StatusNotFound, "no such subscription "+r.URL.Path)
		return
	}
	sub, err := checkVAPID(r.Header.Get("Authorization"), s.srv.URL)
	if err != nil {
		s.refuse(w, http.StatusUnauthorized, "VAPID: "+err.Error())
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		s.refuse(w, http.StatusBadRequest, "missing Content-Encoding: aes128gcm or TTL")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
	plain, err := ph.decrypt(body)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "decrypting: "+err.Error())
		return
	}
	var n push.Notification
	if err := json.Unmarshal(plain, &n); err != nil {
		s.refuse(w, http.StatusBadRequest, "payload is not a notification: "+err.Error())
		return
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, Message{Phone: ph.Name, TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency"), Subject: sub, Payload: n, Raw: string(plain)})
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

// checkVAPID verifies "vapid t=<JWT>, k=<key>": an ES256 JWT signed by k,
// for this service's origin, unexpired, with a contact subject.
func checkVAPID(header, origin string) (string, error) {
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return "", errors.New("no vapid scheme")
	}
	var token, key string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			token = v
		case "k":
			key = v
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return "", fmt.Errorf("k: %w", err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("t is not a JWT")
	}
	var head struct{ Alg string }
	if err := decodeJSON(parts[0], &head); err != nil || head.Alg != "ES256" {
		return "", fmt.Errorf("JWT header %q, %v", head.Alg, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return "", errors.New("JWT signature is not 64 bytes")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return "", errors.New("JWT signature does not verify with k")
	}
	var claims struct {
		Aud string
		Exp int64
		Sub string
	}
	if err := decodeJSON(parts[1], &claims); err != nil {
		return "", err
	}
	if claims.Aud != origin {
		return "", fmt.Errorf("aud %q, want %q", claims.Aud, origin)
	}
	if exp := time.Unix(claims.Exp, 0); time.Until(exp) <= 0 || time.Until(exp) > 24*time.Hour {
		return "", fmt.Errorf("exp %v is not within 24 hours", exp)
	}
	if !strings.HasPrefix(claims.Sub, "mailto:") && !strings.HasPrefix(claims.Sub, "https:") {
		return "", fmt.Errorf("sub %q is neither mailto: nor https:", claims.Sub)
	}
	return claims.Sub, nil
}

func decodeJSON(b64 string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Phone is a device running the authenticator: a signing key, and a push
// subscription on a Service.
type Phone struct {
	Name   string
	Key    *ecdsa.PrivateKey
	ua     *ecdh.PrivateKey
	auth   []byte
	svc    *Service
	id     string
	Device string // the ID the gateway gave it at enrolment
}

// NewPhone makes a phone subscribed on svc (nil: no subscription).
func NewPhone(t testing.TB, svc *Service, name string) *Phone {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &Phone{Name: name, Key: key, ua: ua, auth: make([]byte, 16), svc: svc}
	rand.Read(p.auth)
	b := make([]byte, 8)
	rand.Read(b)
	p.id = base64.RawURLEncoding.EncodeToString(b)
	if svc != nil {
		svc.mu.Lock()
		svc.phones[p.id] = p
		svc.mu.Unlock()
	}
	return p
}

// Resubscribe gives the phone a new subscription (new endpoint and keys),
// as the app does when its old one has gone.
func (p *Phone) Resubscribe(t testing.TB) {
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	p.svc.mu.Lock()
	delete(p.svc.phones, p.id)
	p.ua, p.id = ua, base64.RawURLEncoding.EncodeToString(b)
	p.svc.phones[p.id] = p
	p.svc.mu.Unlock()
}

// Subscription is the phone's PushSubscription as JSON ("" without a
// service).
func (p *Phone) Subscription() string {
	if p.svc == nil {
		return ""
	}
	b, _ := json.Marshal(map[string]any{"endpoint": p.svc.srv.URL + "/push/" + p.id, "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(p.ua.PublicKey().Bytes()),
		"auth":   base64.RawURLEncoding.EncodeToString(p.auth),
	}})
	return string(b)
}

// PublicKey is the signing key as the app exports it.
func (p *Phone) PublicKey() string {
	b, _ := p.Key.PublicKey.Bytes()
	return base64.RawURLEncoding.EncodeToString(b)
}

// Sign signs text as WebCrypto's ECDSA-SHA256 does: r‖s, base64url.
func (p *Phone) Sign(text []byte) string {
	h := sha256.Sum256(text)
	r, s, err := ecdsa.Sign(rand.Reader, p.Key, h[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return base64.RawURLEncoding.EncodeToString(sig)
}

// Enrolment is what the app sends with the token from the QR code.
func (p *Phone) Enrolment(token string) push.Enrolment {
	return push.Enrolment{Token: token, PublicKey: p.PublicKey(), Subscription: p.Subscription(), Name: p.Name,
		Sig: p.Sign(push.SignedText("enrol", token, p.PublicKey()))}
}

// Signed signs action for the enrolled device at time at.
func (p *Phone) Signed(at time.Time, action string, fields ...string) push.Signed {
	ts := at.UnixMilli()
	text := push.SignedText(action, append([]string{p.Device, strconv.FormatInt(ts, 10)}, fields...)...)
	return push.Signed{Device: p.Device, Time: ts, Sig: p.Sign(text)}
}

// Answer signs an answer to a request.
func (p *Phone) Answer(at time.Time, request string, number int, decision string) push.Answer {
	return push.Answer{Signed: p.Signed(at, "answer", request, strconv.Itoa(number), decision),
		Request: request, Number: number, Decision: decision}
}

// WrongNumber is a two-digit number other than number: what a user who
// types the wrong number sends.
func WrongNumber(number int) int {
	return (number-10+1)%90 + 10
}

// decrypt opens an aes128gcm body (one record) for this phone.
func (p *Phone) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid is %d bytes, want the sender's 65-byte public key", idlen)
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, err
	}
	record := body[21+idlen:]
	if uint32(len(record)) > rs {
		return nil, fmt.Errorf("record of %d bytes exceeds rs %d (more than one record)", len(record), rs)
	}
	secret, err := p.ua.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	keyInfo := append(append([]byte("WebPush: info\x00"), p.ua.PublicKey().Bytes()...), asPub.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, secret, p.auth, string(keyInfo), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, fmt.Errorf("AES-GCM: %w", err)
	}
	// Strip the padding: zeros after the last-record delimiter 0x02.
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("no last-record padding delimiter")
	}
	return plain[:end], nil
}
