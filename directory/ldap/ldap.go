package ldap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/verifiers"
	"github.com/stepgate/stepgate/verifiers/password"
)

// Directory is an LDAP server's users in memory.
type Directory struct {
	cfg     Config
	pool    *pool
	current atomic.Pointer[snapshot]
	budget  atomic.Pointer[password.Gate]
	logger  *zap.Logger
	// dummyDN is bound to with the typed password when the search found
	// nobody, so an unknown name costs the same round trips as a known
	// one. It names no entry.
	dummyDN string
	// took keeps how long recent sign-ins of names the search found took
	// (search and bind), missed how long those of names it did not find
	// took before any wait. A server answers a bind as an entry that
	// does not exist a little faster than one as a real entry (it checks
	// no password and no policy), so a sign-in of an unknown name is
	// made longer by the difference of the two medians: the two then take
	// times of one distribution. (Waiting until the time of a found
	// sign-in picked at random made unknown names the slower: the longer
	// of two times is longer than either. On a busy machine the attack
	// suite's test told them apart.)
	took, missed timings
}

// lastAsLong returns when d has passed since start (or ctx ended). The
// differences are a fraction of a millisecond, finer than a timer wakes
// up: the last 2 ms are waited for by yielding the processor in a loop.
func lastAsLong(ctx context.Context, start time.Time, d time.Duration) {
	end := start.Add(min(d, time.Second))
	if wait := time.Until(end) - 2*time.Millisecond; wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
	for time.Now().Before(end) && ctx.Err() == nil {
		runtime.Gosched()
	}
}

// timings is a ring of the last durations.
type timings struct {
	mu sync.Mutex
	d  [64]time.Duration
	n  int
}

func (t *timings) add(d time.Duration) {
	t.mu.Lock()
	t.d[t.n%len(t.d)] = d
	t.n++
	t.mu.Unlock()
}

// median returns the median of the kept durations, or 0 when none is.
func (t *timings) median() time.Duration {
	t.mu.Lock()
	kept := slices.Clone(t.d[:min(t.n, len(t.d))])
	t.mu.Unlock()
	if len(kept) == 0 {
		return 0
	}
	slices.Sort(kept)
	return kept[len(kept)/2]
}

// unknownNameWait is how much longer than own a sign-in of a name the
// search did not find must last: the difference of the medians of found
// and not-found sign-ins, when positive.
func (d *Directory) unknownNameWait(own time.Duration) time.Duration {
	d.missed.add(own)
	return max(0, d.took.median()-d.missed.median())
}

var _ directory.Directory = (*Directory)(nil)

type entry struct {
	user   verifiers.User
	dn     string
	groups string // comma-joined, for Remote-Groups
}

type snapshot struct {
	users   map[string]entry
	aliases map[string]string // another name a user signs in with → username ("" when two share it)
	skipped int               // entries whose username Stepgate cannot use
	at      time.Time
}

// Open checks cfg, connects, and reads the users and groups once: a
// directory that cannot be read at start is an error (Caddy keeps its
// running configuration).
func Open(cfg Config, logger *zap.Logger) (*Directory, error) {
	d, err := New(cfg, logger)
	if err != nil {
		return nil, err
	}
	if _, err := d.Reload(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// New is Open without the first read: the directory has no users until
// Reload.
func New(cfg Config, logger *zap.Logger) (*Directory, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("directory ldap: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	p, err := newPool(cfg)
	if err != nil {
		return nil, fmt.Errorf("directory ldap: %w", err)
	}
	b := make([]byte, 12)
	rand.Read(b)
	d := &Directory{cfg: cfg, pool: p, logger: logger,
		dummyDN: "cn=stepgate-nobody-" + hex.EncodeToString(b) + "," + cfg.BaseDN}
	d.current.Store(&snapshot{users: map[string]entry{}})
	d.budget.Store(password.NewGate())
	return d, nil
}

// UseGate makes d count failed attempts per network in g (the gateway's
// one gate, shared across config reloads), and gives g d's limits (the
// latest configuration's apply).
func (d *Directory) UseGate(g *password.Gate) {
	g.SetLimits(d.budget.Load().Limits())
	d.budget.Store(g)
}

// SetLimits sets the per-network budget of failed attempts.
func (d *Directory) SetLimits(l password.Limits) { d.budget.Load().SetLimits(l) }

// Close closes the idle connections.
func (d *Directory) Close() { d.pool.close() }

// Name implements directory.Directory.
func (d *Directory) Name() string {
	s := "the LDAP directory " + d.cfg.URLs[0]
	if n := len(d.cfg.URLs) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// Canonical implements directory.Aliaser: a name the user filter finds
// besides the username (an Active Directory userPrincipalName) is counted
// for lockout as the username it belongs to, as of the last refresh.
func (d *Directory) Canonical(name string) string {
	snap := d.current.Load()
	if _, ok := snap.users[name]; ok {
		return name
	}
	if u := snap.aliases[name]; u != "" {
		return u
	}
	return name
}

// PasswordHelp implements directory.PasswordHelper (password_help).
func (d *Directory) PasswordHelp() string { return d.cfg.PasswordHelp }

// aliasAttributes are the attributes the user filter matches typed names
// against besides the username: "(attr={username})" terms.
func (d *Directory) aliasAttributes() []string {
	var attrs []string
	for _, m := range aliasTerm.FindAllStringSubmatch(d.cfg.UserFilter, -1) {
		if !strings.EqualFold(m[1], d.cfg.Attributes.Username) && !slices.ContainsFunc(attrs, func(a string) bool { return strings.EqualFold(a, m[1]) }) {
			attrs = append(attrs, m[1])
		}
	}
	return attrs
}

var aliasTerm = regexp.MustCompile(`\(([A-Za-z][A-Za-z0-9-]*)=\{username\}\)`)

// Lookup implements directory.Directory.
func (d *Directory) Lookup(name string) (verifiers.User, bool) {
	e, ok := d.current.Load().users[name]
	return e.user, ok
}

// LookupWithGroups implements directory.Directory.
func (d *Directory) LookupWithGroups(name string) (verifiers.User, string, bool) {
	e, ok := d.current.Load().users[name]
	return e.user, e.groups, ok
}

// Users implements directory.Directory.
func (d *Directory) Users() []verifiers.User {
	snap := d.current.Load()
	out := make([]verifiers.User, 0, len(snap.users))
	for _, e := range snap.users {
		out = append(out, e.user)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len implements directory.Directory.
func (d *Directory) Len() int { return len(d.current.Load().users) }

// CheckSource implements directory.Directory.
func (d *Directory) CheckSource(ctx context.Context, source string) error {
	return d.budget.Load().Admit(ctx, source)
}

// TakeSourceAttempt implements directory.Directory.
func (d *Directory) TakeSourceAttempt(ctx context.Context, source string) (func(), error) {
	return d.budget.Load().Take(ctx, source)
}

// Authenticate implements directory.Directory: a search for the typed name
// as the service account, then a bind as the entry found with the typed
// password (or, when none was found, a bind as a DN nobody has, so both
// take the same round trips).
func (d *Directory) Authenticate(ctx context.Context, source, name, pw string) (verifiers.User, bool, error) {
	giveBack, err := d.budget.Load().Take(ctx, source)
	if err != nil {
		return verifiers.User{}, false, err
	}
	typed := strings.TrimSpace(name)
	// A name that cannot be a Stepgate username is not looked for: the
	// portal counts no lockout attempt for it, so it must never get a
	// password checked (an Active Directory userPrincipalName with a "+"
	// would otherwise be guessed at without a lockout). An empty password
	// would be an "unauthenticated bind", which servers accept for any
	// DN: never sent.
	if password.NormalizeName(typed) == "" || pw == "" || len(pw) > password.MaxPasswordLen {
		return verifiers.User{}, false, nil
	}
	ctx, cancel := timeoutCtx(ctx, d.cfg.Timeout)
	defer cancel()
	c, err := d.pool.get(ctx)
	if err != nil {
		return verifiers.User{}, false, err
	}
	good := true
	defer func() { d.pool.put(c, good) }()
	start := time.Now()
	found, err := d.searchUser(c, typed)
	if err != nil {
		good = !unavailable(err)
		return verifiers.User{}, false, d.failure("searching for the user", err)
	}
	dn := d.dummyDN
	if found != nil {
		dn = found.DN
	}
	req := goldap.NewSimpleBindRequest(dn, pw, nil)
	if d.cfg.Implementation == OpenLDAP {
		req.Controls = append(req.Controls, goldap.NewControlBeheraPasswordPolicy())
	}
	c.service = false
	res, bindErr := c.SimpleBind(req)
	if unavailable(bindErr) {
		good = false
		return verifiers.User{}, false, d.failure("binding as the user", bindErr)
	}
	if found == nil {
		own := time.Since(start)
		lastAsLong(ctx, start, own+d.unknownNameWait(own))
		return verifiers.User{}, false, nil
	}
	d.took.add(time.Since(start))
	u, ok := d.userOf(found)
	if !ok {
		return verifiers.User{}, false, nil
	}
	if bindErr == nil {
		if expired := ppolicyError(res); expired != "" {
			return u, false, d.expired()
		}
		giveBack()
		return u, true, nil
	}
	// The password was wrong, or it was right and the directory refuses
	// it (Active Directory says which in the message, and only for a
	// right password; OpenLDAP's password policy in its control).
	if ppolicyError(res) == "Password expired" {
		giveBack()
		return u, false, d.expired()
	}
	switch adReason(bindErr) {
	case "532", "773": // password expired, must be changed
		giveBack()
		return u, false, d.expired()
	case "533", "701", "775": // disabled, account expired, locked
		giveBack()
		u.Disabled = true
		return u, true, nil
	}
	return u, false, nil
}

func (d *Directory) expired() error {
	return &directory.PasswordError{Reason: "Your password has expired: change it " + d.cfg.PasswordHelp + ", then sign in with the new one."}
}

// failure wraps an error talking to the server as ErrUnavailable when it
// is one, and logs it.
func (d *Directory) failure(doing string, err error) error {
	d.logger.Error("LDAP directory: "+doing, zap.String("directory", d.Name()), zap.Error(err))
	if unavailable(err) && !errors.Is(err, directory.ErrUnavailable) {
		return fmt.Errorf("%w: %s: %w", directory.ErrUnavailable, doing, err)
	}
	return err
}

// searchUser finds the one entry the typed name names; nil when none or
// several do.
func (d *Directory) searchUser(c *conn, typed string) (*goldap.Entry, error) {
	res, err := c.Search(goldap.NewSearchRequest(d.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, int(d.cfg.Timeout/time.Second)+1, false, d.filterFor(typed), d.userAttributes(), nil))
	if err != nil {
		var le *goldap.Error
		if errors.As(err, &le) && le.ResultCode == goldap.LDAPResultSizeLimitExceeded {
			return nil, nil
		}
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// filterFor is the user filter for a typed name, the name escaped as a
// value (RFC 4515), so that no name is filter syntax.
func (d *Directory) filterFor(typed string) string {
	return strings.ReplaceAll(d.cfg.UserFilter, "{username}", goldap.EscapeFilter(typed))
}

func (d *Directory) userAttributes() []string {
	a := d.cfg.Attributes
	attrs := append([]string{a.Username, a.DisplayName, a.Email, a.Groups, "cn"}, d.aliasAttributes()...)
	switch d.cfg.Implementation {
	case OpenLDAP:
		attrs = append(attrs, "pwdAccountLockedTime")
	case ActiveDirectory:
		attrs = append(attrs, "userAccountControl", "accountExpires")
	}
	return attrs
}

// userOf makes the user of an entry, with its groups from the last
// refresh's group tree; false when its username cannot be a Stepgate
// username.
func (d *Directory) userOf(e *goldap.Entry) (verifiers.User, bool) {
	snap := d.current.Load()
	name := password.NormalizeName(e.GetAttributeValue(d.cfg.Attributes.Username))
	if name == "" {
		return verifiers.User{}, false
	}
	if known, ok := snap.users[name]; ok && strings.EqualFold(known.dn, e.DN) {
		u := known.user
		u.Disabled = d.disabled(e, time.Now())
		return u, true
	}
	// Someone added since the last refresh: their direct groups.
	return d.makeUser(e, name, nil, time.Now()), true
}

// makeUser builds a user from an entry; tree resolves nested groups (nil:
// direct groups only).
func (d *Directory) makeUser(e *goldap.Entry, name string, tree *groupTree, now time.Time) verifiers.User {
	a := d.cfg.Attributes
	display := e.GetAttributeValue(a.DisplayName)
	if display == "" {
		display = e.GetAttributeValue("cn")
	}
	var groups []string
	if tree != nil {
		groups = tree.namesOf(e.GetAttributeValues(a.Groups))
	} else {
		for _, g := range e.GetAttributeValues(a.Groups) {
			if n := rdnValue(g); n != "" {
				groups = append(groups, n)
			}
		}
		sort.Strings(groups)
	}
	return verifiers.User{Name: name, DisplayName: display, Email: e.GetAttributeValue(a.Email), Groups: groups, Disabled: d.disabled(e, now)}
}

// disabled reads whether the directory says the account may not sign in:
// OpenLDAP's password policy lock (pwdAccountLockedTime: an administrator's
// lock, 000001010000Z, or one that has not run out), Active Directory's
// ACCOUNTDISABLE flag or an accountExpires in the past.
func (d *Directory) disabled(e *goldap.Entry, now time.Time) bool {
	switch d.cfg.Implementation {
	case OpenLDAP:
		return e.GetAttributeValue("pwdAccountLockedTime") != ""
	case ActiveDirectory:
		uac, _ := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64)
		if uac&2 != 0 {
			return true
		}
		// accountExpires: 100 ns ticks since 1601; 0 and 2^63-1 are "never".
		exp, err := strconv.ParseInt(e.GetAttributeValue("accountExpires"), 10, 64)
		if err == nil && exp > 0 && exp < 1<<63-1 {
			const epochDelta = 116444736000000000 // 1601 → 1970 in ticks
			return time.Unix(0, (exp-epochDelta)*100).Before(now)
		}
	}
	return false
}

// ppolicyError is the password policy control's error in a bind
// response ("Password expired", …), or "".
func ppolicyError(res *goldap.SimpleBindResult) string {
	if res == nil {
		return ""
	}
	for _, c := range res.Controls {
		if pp, ok := c.(*goldap.ControlBeheraPasswordPolicy); ok && pp.Error >= 0 {
			return pp.ErrorString
		}
	}
	return ""
}

var adData = regexp.MustCompile(`\bdata ([0-9a-f]{3}),`)

// adReason is the "data NNN" code of an Active Directory bind refusal
// (525 no such user, 52e wrong password, 532 password expired, 533
// disabled, 701 account expired, 773 must change password, 775 locked).
func adReason(err error) string {
	var le *goldap.Error
	if !errors.As(err, &le) || le.ResultCode != goldap.LDAPResultInvalidCredentials || le.Err == nil {
		return ""
	}
	m := adData.FindStringSubmatch(le.Err.Error())
	if m == nil {
		return ""
	}
	return m[1]
}

// Reload implements directory.Directory: every user and group read
// again, as the service account.
func (d *Directory) Reload() (bool, error) {
	ctx, cancel := timeoutCtx(context.Background(), 6*d.cfg.Timeout)
	defer cancel()
	c, err := d.pool.get(ctx)
	if err != nil {
		return false, err
	}
	snap, err := d.read(c)
	d.pool.put(c, err == nil || !unavailable(err))
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", d.Name(), err)
	}
	old := d.current.Load()
	d.current.Store(snap)
	if snap.skipped > 0 && snap.skipped != old.skipped {
		d.logger.Warn("LDAP directory: entries without a username Stepgate can use (lower-case letters, digits and . _ @ -, at most 64) are left out",
			zap.String("directory", d.Name()), zap.Int("left_out", snap.skipped))
	}
	return !reflect.DeepEqual(old.users, snap.users), nil
}

func (d *Directory) read(c *conn) (*snapshot, error) {
	const page = 500
	limit := int(6 * d.cfg.Timeout / time.Second)
	groups, err := c.SearchWithPaging(goldap.NewSearchRequest(d.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, limit, false, d.cfg.GroupFilter, []string{"cn", d.cfg.Attributes.Groups}, nil), page)
	if err != nil {
		return nil, fmt.Errorf("groups (%s): %w", d.cfg.GroupFilter, err)
	}
	tree := newGroupTree(groups.Entries, d.cfg.Attributes.Groups)
	people, err := c.SearchWithPaging(goldap.NewSearchRequest(d.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, limit, false, d.cfg.UsersFilter, d.userAttributes(), nil), page)
	if err != nil {
		return nil, fmt.Errorf("users (%s): %w", d.cfg.UsersFilter, err)
	}
	now := time.Now()
	snap := &snapshot{users: make(map[string]entry, len(people.Entries)), aliases: map[string]string{}, at: now}
	aliasAttrs := d.aliasAttributes()
	for _, e := range people.Entries {
		name := password.NormalizeName(e.GetAttributeValue(d.cfg.Attributes.Username))
		if _, dup := snap.users[name]; name == "" || dup {
			snap.skipped++
			continue
		}
		u := d.makeUser(e, name, tree, now)
		snap.users[name] = entry{user: u, dn: e.DN, groups: strings.Join(u.Groups, ",")}
		for _, attr := range aliasAttrs {
			for _, v := range e.GetAttributeValues(attr) {
				alias := password.NormalizeName(v)
				if alias == "" || alias == name {
					continue
				}
				if other, seen := snap.aliases[alias]; seen && other != name {
					snap.aliases[alias] = "" // two users share it: counted as typed
					continue
				}
				snap.aliases[alias] = name
			}
		}
	}
	// A username is never another user's alias.
	for alias := range snap.aliases {
		if _, ok := snap.users[alias]; ok {
			delete(snap.aliases, alias)
		}
	}
	return snap, nil
}

// Watch implements directory.Directory. The users are read every Refresh
// of the configuration (interval is the users file's; not used here).
func (d *Directory) Watch(ctx context.Context, _ time.Duration, reloaded func(n int), failed func(error)) {
	t := time.NewTicker(d.cfg.Refresh)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			d.Close()
			return
		case <-t.C:
			changed, err := d.Reload()
			if err != nil {
				if err.Error() != lastErr {
					failed(err)
					lastErr = err.Error()
				}
				continue
			}
			lastErr = ""
			if changed {
				reloaded(d.Len())
			}
		}
	}
}

// Refresh is how often Watch reads the users again.
func (d *Directory) Refresh() time.Duration { return d.cfg.Refresh }
