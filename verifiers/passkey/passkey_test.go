package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/stepgate/stepgate/internal/softkey"
	"github.com/stepgate/stepgate/messages"
	"github.com/stepgate/stepgate/store"
	"github.com/stepgate/stepgate/verifiers"
)

const origin = "https://app.example.com"

var (
	alice = verifiers.User{Name: "alice", DisplayName: "Alice"}
	bob   = verifiers.User{Name: "bob"}
)

func newVerifier(t *testing.T) *Verifier {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Verifier{Store: st, Name: "Example", Key: []byte("0123456789abcdef0123456789abcdef")}
}

func challenge(id string) verifiers.Challenge {
	return verifiers.Challenge{ID: id, Origin: origin}
}

// beginAdd shows the set-up page and returns its step.
func beginAdd(t testing.TB, v *Verifier, u verifiers.User, ch verifiers.Challenge) verifiers.EnrolStep {
	t.Helper()
	step, err := v.Enrol(context.Background(), verifiers.EnrolRequest{User: u, Challenge: ch})
	if err != nil {
		t.Fatal(err)
	}
	if step.Page != "passkey.html" || step.State == "" {
		t.Fatalf("set-up page: %+v", step)
	}
	return step
}

// post posts an answer to a set-up step.
func post(t testing.TB, v *Verifier, u verifiers.User, ch verifiers.Challenge, state, answer, name string) (verifiers.EnrolStep, error) {
	t.Helper()
	return v.Enrol(context.Background(), verifiers.EnrolRequest{User: u, Challenge: ch, State: state,
		Form: url.Values{"credential": {answer}, "name": {name}}})
}

// add registers key as one of u's passkeys.
func add(t testing.TB, v *Verifier, u verifiers.User, key *softkey.Key, name string) {
	t.Helper()
	ch := challenge("add-" + u.Name + name)
	step := beginAdd(t, v, u, ch)
	answer, err := key.Register([]byte(step.Data.(setUpPage).Options), ch.Origin)
	if err != nil {
		t.Fatal(err)
	}
	done, err := post(t, v, u, ch, step.State, string(answer), name)
	if err != nil || !done.Done {
		t.Fatalf("adding %s's passkey: %+v, %v", u.Name, done, err)
	}
}

// options shows the verify page and returns the ceremony's options.
func options(t testing.TB, v *Verifier, u verifiers.User, ch verifiers.Challenge) []byte {
	t.Helper()
	d, err := v.PageData(context.Background(), u, ch)
	if err != nil {
		t.Fatal(err)
	}
	opts := d.(verifyPage).Options
	if opts == "" {
		t.Fatal("the verify page has no ceremony")
	}
	return []byte(opts)
}

func check(t testing.TB, v *Verifier, u verifiers.User, ch verifiers.Challenge, answer []byte) verifiers.Result {
	t.Helper()
	res, err := v.Check(context.Background(), u, ch, string(answer))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// signIn answers a new verify page with key.
func signIn(t testing.TB, v *Verifier, u verifiers.User, key *softkey.Key, ch verifiers.Challenge) verifiers.Result {
	t.Helper()
	answer, err := key.Assert(options(t, v, u, ch), ch.Origin)
	if err != nil {
		t.Fatal(err)
	}
	return check(t, v, u, ch, answer)
}

func challengeOf(t *testing.T, opts []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	b, err := base64.RawURLEncoding.DecodeString(o.PublicKey.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddThenSignIn(t *testing.T) {
	v := newVerifier(t)
	ctx := context.Background()
	if ok, _ := v.Registered(ctx, alice); ok {
		t.Fatal("registered before any passkey")
	}
	key := softkey.New()
	add(t, v, alice, key, "Work laptop")
	cs, err := v.Credentials(ctx, alice)
	if err != nil || len(cs) != 1 || cs[0].Name != "Work laptop" || !cs[0].LastUsed.IsZero() || cs[0].ID != base64.RawURLEncoding.EncodeToString(key.ID) {
		t.Fatalf("credentials after adding: %+v, %v", cs, err)
	}
	if ok, _ := v.Registered(ctx, alice); !ok {
		t.Fatal("not registered after adding a passkey")
	}
	if res := signIn(t, v, alice, key, challenge("s1")); res != verifiers.Accepted {
		t.Fatalf("signing in: %v", res)
	}
	if res := signIn(t, v, alice, key, challenge("s2")); res != verifiers.Accepted {
		t.Fatalf("signing in again: %v", res)
	}
	cs, _ = v.Credentials(ctx, alice)
	if cs[0].LastUsed.IsZero() {
		t.Fatal("last used not recorded")
	}
	_, recs, _ := v.records(ctx, alice.Name)
	if recs[0].Cred.Authenticator.SignCount != key.Counter || key.Counter != 2 {
		t.Fatalf("stored counter %d, key's %d", recs[0].Cred.Authenticator.SignCount, key.Counter)
	}
	// The user handle is random, not the name, and shared by a user's
	// passkeys.
	second := softkey.New()
	add(t, v, alice, second, "Security key")
	if strings.Contains(string(second.UserHandle), "alice") || string(second.UserHandle) != string(key.UserHandle) || len(key.UserHandle) != 32 {
		t.Fatalf("user handles %x and %x", key.UserHandle, second.UserHandle)
	}
	if res := signIn(t, v, alice, second, challenge("s3")); res != verifiers.Accepted {
		t.Fatalf("signing in with the second passkey: %v", res)
	}
}

func TestAnAnswerCountsOnce(t *testing.T) {
	v := newVerifier(t)
	key := softkey.New()
	add(t, v, alice, key, "")
	ch := challenge("once")
	answer, err := key.Assert(options(t, v, alice, ch), origin)
	if err != nil {
		t.Fatal(err)
	}
	if res := check(t, v, alice, ch, answer); res != verifiers.Accepted {
		t.Fatalf("first use: %v", res)
	}
	if res := check(t, v, alice, ch, answer); res != verifiers.Expired {
		t.Fatalf("the same answer again: %v, want Expired", res)
	}
	// An answer to a page shown before the latest one is not live either.
	old, _ := key.Assert(options(t, v, alice, ch), origin)
	options(t, v, alice, ch)
	if res := check(t, v, alice, ch, old); res != verifiers.Expired {
		t.Fatalf("an answer to a replaced page: %v, want Expired", res)
	}
	// Nor one made for another sign-in's challenge.
	other, _ := key.Assert(options(t, v, alice, challenge("other")), origin)
	if res := check(t, v, alice, ch, other); res != verifiers.Expired {
		t.Fatalf("an answer to another sign-in: %v, want Expired", res)
	}
}

func TestRefusedAnswers(t *testing.T) {
	v := newVerifier(t)
	ctx := context.Background()
	key := softkey.New()
	add(t, v, alice, key, "")
	bobs := softkey.New()
	add(t, v, bob, bobs, "")
	cases := []struct {
		name   string
		answer func(opts []byte) ([]byte, error)
		before func()
	}{
		{name: "wrong relying party", answer: func(opts []byte) ([]byte, error) {
			return key.AssertFor(challengeOf(t, opts), "evil.example", origin)
		}},
		{name: "wrong origin (a phishing page)", answer: func(opts []byte) ([]byte, error) {
			return key.Assert(opts, "https://app.example.com.evil.example")
		}},
		{name: "another user's passkey", answer: func(opts []byte) ([]byte, error) {
			return bobs.Assert(opts, origin)
		}},
		{name: "an unknown passkey", answer: func(opts []byte) ([]byte, error) {
			k := softkey.New()
			k.UserHandle = key.UserHandle
			return k.Assert(opts, origin)
		}},
		{name: "a copied passkey (its counter goes back)", answer: func(opts []byte) ([]byte, error) {
			key.Counter = 0
			return key.Assert(opts, origin)
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if res := signIn(t, v, alice, key, challenge("warm"+c.name)); res != verifiers.Accepted {
				t.Fatalf("the real passkey before: %v", res)
			}
			ch := challenge("case" + string(rune('a'+i)))
			answer, err := c.answer(options(t, v, alice, ch))
			if err != nil {
				t.Fatal(err)
			}
			_, before, _ := v.records(ctx, alice.Name)
			if res := check(t, v, alice, ch, answer); res != verifiers.Rejected {
				t.Fatalf("got %v, want Rejected", res)
			}
			_, after, _ := v.records(ctx, alice.Name)
			if after[0].Cred.Authenticator.SignCount != before[0].Cred.Authenticator.SignCount {
				t.Fatal("a refused answer changed the stored counter")
			}
			key.Counter = after[0].Cred.Authenticator.SignCount
		})
	}
}

func TestDeletedPasskey(t *testing.T) {
	v := newVerifier(t)
	ctx := context.Background()
	key, other := softkey.New(), softkey.New()
	add(t, v, alice, key, "Old")
	add(t, v, alice, other, "New")
	ch := challenge("deleted")
	opts := options(t, v, alice, ch)
	cs, _ := v.Credentials(ctx, alice)
	if err := v.Remove(ctx, alice, cs[0].ID, true); err != nil {
		t.Fatal(err)
	}
	answer, _ := key.Assert(opts, origin)
	if res := check(t, v, alice, ch, answer); res != verifiers.Rejected {
		t.Fatalf("a deleted passkey: %v", res)
	}
	if err := v.Remove(ctx, bob, cs[1].ID, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob deleting alice's passkey: %v", err)
	}
	if err := v.Rename(ctx, bob, cs[1].ID, "mine"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob renaming alice's passkey: %v", err)
	}
	if err := v.Rename(ctx, alice, cs[1].ID, strings.Repeat("x", 41)); err == nil {
		t.Fatal("a 41-character name accepted")
	}
}

func TestUserVerification(t *testing.T) {
	v := newVerifier(t)
	key := softkey.New()
	add(t, v, alice, key, "")
	key.NoUV = true
	if res := signIn(t, v, alice, key, challenge("presence")); res != verifiers.Accepted {
		t.Fatalf("presence only, verification preferred: %v", res)
	}
	v.UserVerification = protocol.VerificationRequired
	if res := signIn(t, v, alice, key, challenge("required")); res != verifiers.Rejected {
		t.Fatalf("presence only, verification required: %v", res)
	}
	key.NoUV = false
	if res := signIn(t, v, alice, key, challenge("verified")); res != verifiers.Accepted {
		t.Fatalf("verified, verification required: %v", res)
	}
}

// One passkey serves every site under the cookie domain: the relying
// party is the domain, and each site's own origin is accepted there.
// With user verification required, a key that cannot verify the user is
// not added: it could never pass a second step.
func TestUserVerificationRequiredAtSetUp(t *testing.T) {
	v := newVerifier(t)
	v.UserVerification = protocol.VerificationRequired
	ch := challenge("uv-add")
	step := beginAdd(t, v, alice, ch)
	key := softkey.New()
	key.NoUV = true
	answer, _ := key.Register([]byte(step.Data.(setUpPage).Options), origin)
	if got, err := post(t, v, alice, ch, step.State, string(answer), ""); err != nil || got.Done {
		t.Fatalf("a key without user verification: %+v, %v", got, err)
	}
	if cs, _ := v.Credentials(context.Background(), alice); len(cs) != 0 {
		t.Fatal("the key was stored")
	}
}

func TestCookieDomainIsTheRelyingParty(t *testing.T) {
	v := newVerifier(t)
	v.Domain = "example.com"
	key := softkey.New()
	add(t, v, alice, key, "")
	ch := verifiers.Challenge{ID: "b", Origin: "https://wiki.example.com"}
	opts := options(t, v, alice, ch)
	if !strings.Contains(string(opts), `"rpId":"example.com"`) {
		t.Fatalf("options: %s", opts)
	}
	answer, _ := key.Assert(opts, ch.Origin)
	if res := check(t, v, alice, ch, answer); res != verifiers.Accepted {
		t.Fatalf("the passkey on another site of the domain: %v", res)
	}
	// A site outside the domain is its own relying party.
	if id, _ := v.rpID("https://other.test:8443"); id != "other.test" {
		t.Fatalf("relying party outside the domain: %q", id)
	}
	if id, _ := v.rpID("https://notexample.com"); id != "notexample.com" {
		t.Fatalf("relying party of a look-alike domain: %q", id)
	}
}

func TestMalformedAnswersChangeNothing(t *testing.T) {
	v := newVerifier(t)
	key := softkey.New()
	add(t, v, alice, key, "")
	ch := challenge("bad")
	opts := options(t, v, alice, ch)
	good, _ := key.Assert(opts, origin)
	for _, bad := range []string{"", "{}", "null", "[]", `{"id":"x","type":"public-key"}`, strings.Repeat("a", maxResponse+1),
		strings.Replace(string(good), `"signature":"`, `"signature":"AAAA`, 1), string(good[:len(good)/2])} {
		res, err := v.Check(context.Background(), alice, ch, bad)
		if err != nil || res == verifiers.Accepted {
			t.Fatalf("%.40q: %v, %v", bad, res, err)
		}
	}
	// The page's challenge was not used up by answers that could not be
	// read... unless one named it: then it is gone, and the real answer
	// finds it expired rather than accepted twice.
	if res := check(t, v, alice, ch, good); res == verifiers.Accepted {
		t.Fatal("accepted after a tampered copy of it used the challenge")
	}
}

func TestAddRefusals(t *testing.T) {
	v := newVerifier(t)
	ctx := context.Background()
	ch := challenge("add")
	step := beginAdd(t, v, alice, ch)
	for _, bad := range []string{"not json", "{}", strings.Repeat("a", maxResponse+1)} {
		got, err := post(t, v, alice, ch, step.State, bad, "x")
		if err != nil || got.Done || got.Error == "" || got.Status != 400 {
			t.Fatalf("answer %.20q: %+v, %v", bad, got, err)
		}
	}
	key := softkey.New()
	answer, _ := key.Register([]byte(step.Data.(setUpPage).Options), origin)
	if got, _ := post(t, v, alice, ch, step.State, string(answer), strings.Repeat("n", 41)); got.Done || !strings.Contains(got.Error, "40 characters") {
		t.Fatalf("a long name: %+v", got)
	}
	// The wrong origin: a set-up run on a phishing page.
	step = beginAdd(t, v, alice, ch)
	answer, _ = key.Register([]byte(step.Data.(setUpPage).Options), "https://evil.example")
	if got, _ := post(t, v, alice, ch, step.State, string(answer), ""); got.Done || got.Error == "" {
		t.Fatalf("a set-up answered for another origin: %+v", got)
	}
	// The wrong relying party: an authenticator that signed for another
	// domain.
	step = beginAdd(t, v, alice, ch)
	answer, _ = key.RegisterFor(challengeOf(t, []byte(step.Data.(setUpPage).Options)), "evil.example", []byte("h"), origin)
	if got, _ := post(t, v, alice, ch, step.State, string(answer), ""); got.Done || got.Error == "" {
		t.Fatalf("a set-up signed for another relying party: %+v", got)
	}
	// The same answer twice adds one passkey.
	step = beginAdd(t, v, alice, ch)
	answer, _ = key.Register([]byte(step.Data.(setUpPage).Options), origin)
	if got, err := post(t, v, alice, ch, step.State, string(answer), ""); err != nil || !got.Done {
		t.Fatalf("adding: %+v, %v", got, err)
	}
	if got, _ := post(t, v, alice, ch, step.State, string(answer), ""); got.Done || !strings.Contains(got.Error, "expired or was already used") {
		t.Fatalf("the same set-up answer again: %+v", got)
	}
	// The same authenticator for another account, on a new ceremony.
	bc := challenge("bob-add")
	step = beginAdd(t, v, bob, bc)
	again, _ := key.RegisterFor(challengeOf(t, []byte(step.Data.(setUpPage).Options)), "app.example.com", []byte("bob-handle"), origin)
	if got, err := post(t, v, bob, bc, step.State, string(again), ""); err != nil || got.Done || !strings.Contains(got.Error, "already set up") {
		t.Fatalf("alice's passkey for bob: %+v, %v", got, err)
	}
	if cs, _ := v.Credentials(ctx, bob); len(cs) != 0 {
		t.Fatalf("bob has %d passkeys", len(cs))
	}
	if cs, _ := v.Credentials(ctx, alice); len(cs) != 1 {
		t.Fatalf("alice has %d passkeys", len(cs))
	}
	// First-sign-in registration refuses a user who has a method by now.
	step = beginAdd(t, v, alice, ch)
	answer, _ = softkey.New().Register([]byte(step.Data.(setUpPage).Options), origin)
	_, err := v.Enrol(ctx, verifiers.EnrolRequest{User: alice, Challenge: ch, State: step.State, First: true,
		Form: url.Values{"credential": {string(answer)}}})
	if !errors.Is(err, store.ErrAlreadySetUp) {
		t.Fatalf("first-sign-in set-up of a user with a passkey: %v", err)
	}
}

// Two set-ups begun before the user had any passkey (a laptop and a
// phone, in two sessions): the second to finish is asked to start again,
// and then its passkey signs in as well as the first.
func TestTwoFirstSetUpsShareOneHandle(t *testing.T) {
	v := newVerifier(t)
	laptop, phone := challenge("laptop"), challenge("phone")
	first, second := beginAdd(t, v, alice, laptop), beginAdd(t, v, alice, phone)
	k1, k2 := softkey.New(), softkey.New()
	a1, _ := k1.Register([]byte(first.Data.(setUpPage).Options), origin)
	if got, err := post(t, v, alice, laptop, first.State, string(a1), "Laptop"); err != nil || !got.Done {
		t.Fatalf("the laptop: %+v, %v", got, err)
	}
	a2, _ := k2.Register([]byte(second.Data.(setUpPage).Options), origin)
	got, err := post(t, v, alice, phone, second.State, string(a2), "Phone")
	if err != nil || got.Done || !strings.Contains(got.Error, "Try again") {
		t.Fatalf("the phone's set-up begun before the laptop's passkey: %+v, %v", got, err)
	}
	again := beginAdd(t, v, alice, phone)
	a2, _ = k2.Register([]byte(again.Data.(setUpPage).Options), origin)
	if got, err := post(t, v, alice, phone, again.State, string(a2), "Phone"); err != nil || !got.Done {
		t.Fatalf("the phone, started again: %+v, %v", got, err)
	}
	for i, k := range []*softkey.Key{k1, k2} {
		if res := signIn(t, v, alice, k, challenge(fmt.Sprint("s", i))); res != verifiers.Accepted {
			t.Fatalf("passkey %d: %v", i+1, res)
		}
	}
}

func TestAllowedModels(t *testing.T) {
	v := newVerifier(t)
	allowed := uuid.MustParse("cb69481e-8ff7-4039-93ec-0a2729a154a8")
	v.AAGUIDs = []uuid.UUID{allowed}
	ch := challenge("model")
	step := beginAdd(t, v, alice, ch)
	key := softkey.New()
	answer, _ := key.Register([]byte(step.Data.(setUpPage).Options), origin)
	if got, _ := post(t, v, alice, ch, step.State, string(answer), ""); got.Done || !strings.Contains(got.Error, "doesn't allow this kind") {
		t.Fatalf("a model not allowed: %+v", got)
	}
	step = beginAdd(t, v, alice, ch)
	key.AAGUID = allowed
	answer, _ = key.Register([]byte(step.Data.(setUpPage).Options), origin)
	if got, err := post(t, v, alice, ch, step.State, string(answer), ""); err != nil || !got.Done {
		t.Fatalf("an allowed model: %+v, %v", got, err)
	}
}

func TestAtMostTenPasskeys(t *testing.T) {
	v := newVerifier(t)
	for i := 0; i < MaxPasskeys; i++ {
		add(t, v, alice, softkey.New(), "k"+string(rune('0'+i)))
	}
	_, err := v.Enrol(context.Background(), verifiers.EnrolRequest{User: alice, Challenge: challenge("11")})
	var refusal verifiers.Refusal
	if !errors.As(err, &refusal) || !strings.Contains(refusal.Explain(messages.English(), "", v.now()), "10 passkeys") {
		t.Fatalf("an eleventh passkey: %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`)
	f.Add("{}")
	v := &Verifier{}
	dir := f.TempDir()
	st, err := store.OpenSQLite(filepath.Join(dir, "s.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	v.Store = st
	key := softkey.New()
	add(f, v, alice, key, "")
	f.Fuzz(func(t *testing.T, input string) {
		res, _ := v.Check(context.Background(), alice, challenge("fuzz"), input)
		if res == verifiers.Accepted {
			t.Fatalf("accepted %q", input)
		}
	})
}

// countingStore counts the code-store writes a verifier makes.
type countingStore struct {
	*store.SQLite
	writes atomic.Int64
}

func (s *countingStore) PutCode(ctx context.Context, c store.Code) error {
	s.writes.Add(1)
	return s.SQLite.PutCode(ctx, c)
}

func (s *countingStore) TakeSend(ctx context.Context, limits []store.Limit, now time.Time) (*store.Limit, time.Time, error) {
	s.writes.Add(1)
	return s.SQLite.TakeSend(ctx, limits, now)
}

// The sign-in page offers every visitor a passkey ceremony, so starting
// one stores nothing; its challenge is bound to the ceremony, lives five
// minutes and signs in once.
func TestPasskeySignInCeremony(t *testing.T) {
	v := newVerifier(t)
	key := softkey.New()
	add(t, v, alice, key, "Laptop")
	cs := &countingStore{SQLite: v.Store.(*store.SQLite)}
	v.Store = cs
	now := time.Now()
	v.Now = func() time.Time { return now }
	ctx := context.Background()

	begin := func(ch verifiers.Challenge) []byte {
		t.Helper()
		opts, err := v.BeginDiscover(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(opts)
	}
	ch := verifiers.Challenge{ID: "page-1", Origin: origin, Created: now}
	for i := 0; i < 100; i++ {
		begin(verifiers.Challenge{ID: fmt.Sprint("view-", i), Origin: origin, Created: now})
	}
	if n := cs.writes.Load(); n != 0 {
		t.Fatalf("100 views of the sign-in page wrote %d records", n)
	}
	opts := begin(ch)
	if a, b := challengeOf(t, opts), challengeOf(t, begin(verifiers.Challenge{ID: "page-2", Origin: origin, Created: now})); bytes.Equal(a, b) {
		t.Fatal("two ceremonies share a challenge")
	}
	answer, err := key.Assert(opts, origin)
	if err != nil {
		t.Fatal(err)
	}

	// Posted in another ceremony, or after five minutes, it is refused.
	for name, other := range map[string]verifiers.Challenge{
		"another ceremony": {ID: "page-2", Origin: origin, Created: now},
		"another start":    {ID: "page-1", Origin: origin, Created: now.Add(-time.Second)},
		"too late":         {ID: "page-1", Origin: origin, Created: now.Add(-challengeLifetime - time.Second)},
	} {
		if name == "too late" {
			// The same ceremony, seen from five minutes on.
			v.Now = func() time.Time { return now.Add(challengeLifetime + time.Second) }
			other = ch
		}
		if _, _, err := v.Discovered(ctx, other, string(answer)); !errors.Is(err, verifiers.ErrGone) {
			t.Errorf("%s: %v", name, err)
		}
		v.Now = func() time.Time { return now }
	}
	if n := cs.writes.Load(); n != 0 {
		t.Fatalf("refused answers wrote %d records", n)
	}

	who, verified, err := v.Discovered(ctx, ch, string(answer))
	if err != nil || who != "alice" || !verified {
		t.Fatalf("the answer: %q %v %v", who, verified, err)
	}
	if _, _, err := v.Discovered(ctx, ch, string(answer)); !errors.Is(err, verifiers.ErrGone) {
		t.Fatalf("the answer again: %v", err)
	}
	// A second answer to the same ceremony, freshly signed, is refused too.
	again, _ := key.Assert(opts, origin)
	if _, _, err := v.Discovered(ctx, ch, string(again)); !errors.Is(err, verifiers.ErrGone) {
		t.Fatalf("a second answer to one ceremony: %v", err)
	}

	v.Key = nil
	if _, err := v.BeginDiscover(ctx, ch); err == nil {
		t.Fatal("a ceremony without a key")
	}
}

// TestNameRefusedSaysWhatCredentialNameRefused: the message for a name
// that can't be used says what verifiers.CredentialName found, in the
// English it gave before the words moved into the catalogue.
func TestNameRefusedSaysWhatCredentialNameRefused(t *testing.T) {
	l := messages.English()
	for _, in := range []string{"\xff", " a\xffb ", "a\x01b", "tab\there", " \u200b ", strings.Repeat("n", 41), strings.Repeat("é", 41) + " "} {
		_, err := verifiers.CredentialName(in, "passkey", "Passkey")
		if err == nil {
			t.Fatalf("%q accepted", in)
		}
		if got, want := l.T(nameRefused(err)), "That name can't be used: "+err.Error()+"."; got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	if got := defaultName(l, 0) + ", " + defaultName(l, 1) + ", " + defaultName(l, 9); got != "Passkey, Passkey 2, Passkey 10" {
		t.Errorf("default names: %s", got)
	}
}
