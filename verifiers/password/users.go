package password

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/stepgate/stepgate/directory"
	"github.com/stepgate/stepgate/verifiers"
)

// fileUser is one entry of the users file.
type fileUser struct {
	DisplayName string   `yaml:"display_name,omitempty"`
	Email       string   `yaml:"email,omitempty"`
	Groups      []string `yaml:"groups,omitempty,flow"`
	Password    string   `yaml:"password"`
	Disabled    bool     `yaml:"disabled,omitempty"`
}

// usersFile is the YAML document: `users:` mapping usernames to entries.
type usersFile struct {
	Users map[string]fileUser `yaml:"users"`
	blank bool                // no YAML document at all
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// NormalizeName lower-cases and trims a typed username; it returns "" for a
// name that can never be valid, so callers treat it like an unknown user.
func NormalizeName(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if !validName.MatchString(name) {
		return ""
	}
	return name
}

type entry struct {
	user   verifiers.User
	hash   string
	groups string // comma-joined, computed once for the Remote-Groups header
}

type snapshot struct {
	users   map[string]entry
	modTime time.Time
	size    int64
	// file identifies the file read: a users file replaced by a rename
	// (every Stepgate write) is another file even when its size and
	// modification time (in whole seconds on some file systems) match.
	file os.FileInfo
	// kinds has one model hash per user, in name order: an unknown name is
	// checked against a dummy of the kind of model it maps to, so unknown
	// names take as long as the real users do, whatever hash kinds the
	// file mixes.
	kinds []string
	// dummies has one dummy hash per kind in kinds (or one of the
	// configured parameters for an empty file), made when the file loads.
	// Making a dummy costs no hashing (see dummyLike), so no sign-in ever
	// computes one, and a reload does not leave an empty cache for the
	// next burst of unknown names to fill.
	dummies map[string]string
	// blank is set when the file held no YAML document at all (empty, or
	// only comments).
	blank bool
}

// Directory is the users file in memory. Lookups never touch the disk; a
// watcher reloads the file when it changes and keeps serving the last good
// version when the new one is broken.
type Directory struct {
	path    string
	current atomic.Pointer[snapshot]

	seed   maphash.Seed
	params atomic.Pointer[Params]

	// hashing bounds password hashing in memory (one argon2id run per
	// slot) and in CPU time, and budgets failed attempts per source, so a
	// flood of sign-ins can neither starve the proxy nor lock users out.
	hashing *gate

	logger  *zap.Logger
	writeMu sync.Mutex // one upgrade of the users file at a time
	// upgradeOff is set when an upgrade of the users file failed (a
	// read-only file, a full disk, an entry changed meanwhile) and cleared
	// when the file is loaded again: without it, every sign-in of such a
	// user would hash twice and fail again.
	upgradeOff atomic.Bool
	write      func(path string, data []byte, mode os.FileMode, ok func() error) error
}

// Open loads the users file at path. New and upgraded hashes use
// DefaultParams and the gate DefaultLimits until SetParams or SetLimits
// say otherwise.
func Open(path string) (*Directory, error) {
	if path == "" {
		return nil, errors.New("no users file configured (users_file)")
	}
	d := newDirectory(path)
	snap, err := load(path, d.Params())
	if err != nil {
		return nil, err
	}
	d.current.Store(snap)
	return d, nil
}

// newDirectory is a Directory of path with no users loaded yet.
func newDirectory(path string) *Directory {
	p := DefaultParams
	d := &Directory{path: path, hashing: newGate(DefaultLimits, p.Threads), seed: maphash.MakeSeed(), logger: zap.NewNop(), write: writeAtomicIf}
	d.params.Store(&p)
	return d
}

// SetParams sets the argon2id parameters of upgraded hashes (and of the
// dummy hash when the users file is empty). Call it before serving.
func (d *Directory) SetParams(p Params) error {
	if err := p.Check(); err != nil {
		return err
	}
	d.params.Store(&p)
	d.hashing.configure(d.hashing.limits(), p.Threads)
	snap := *d.current.Load()
	if len(snap.kinds) == 0 {
		snap.dummies = map[string]string{"": dummyLike(formatArgon2id(p, make([]byte, argonSaltLen), make([]byte, argonKeyLen)))}
		d.current.Store(&snap)
	}
	return nil
}

// Params are the argon2id parameters SetParams set.
func (d *Directory) Params() Params { return *d.params.Load() }

// SetLimits sets the hashing gate's limits; zero fields take
// DefaultLimits' values. Call it before serving.
func (d *Directory) SetLimits(l Limits) {
	d.hashing.configure(l, d.Params().Threads)
}

// Limits are the hashing gate's limits in force.
func (d *Directory) Limits() Limits { return d.hashing.limits() }

// SetLogger sets where the directory logs hash upgrades and their failures.
func (d *Directory) SetLogger(l *zap.Logger) { d.logger = l }

// Path is the users file's path.
func (d *Directory) Path() string { return d.path }

// The users file is a directory Stepgate writes to.
var _ directory.Editor = (*Directory)(nil)

// Name implements directory.Directory.
func (d *Directory) Name() string { return "the users file " + d.path }

// AddUser implements directory.Editor: AddUser on the file, then a reload,
// so this Directory has the user at once.
func (d *Directory) AddUser(_ context.Context, u NewUser) error {
	if err := AddUser(d.path, u); err != nil {
		return err
	}
	_, err := d.Reload()
	return err
}

// ChangeUser implements directory.Editor: ChangeUser on the file, then a
// reload.
func (d *Directory) ChangeUser(_ context.Context, name string, c Change) (bool, error) {
	changed, err := ChangeUser(d.path, name, c)
	if err != nil || !changed {
		return changed, err
	}
	_, err = d.Reload()
	return true, err
}

// OpenOrEmpty is Open for a users file that may not exist yet (`stepgate
// user add` creates it): a missing file is a directory with no users.
func OpenOrEmpty(path string) (*Directory, error) {
	d, err := Open(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return d, err
	}
	d = newDirectory(path)
	d.current.Store(&snapshot{users: map[string]entry{}, dummies: map[string]string{"": dummyLike(formatArgon2id(d.Params(), make([]byte, argonSaltLen), make([]byte, argonKeyLen)))}})
	return d, nil
}

func load(path string, params Params) (*snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading users file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading users file: %w", err)
	}
	if st.Size() > 64<<20 {
		return nil, fmt.Errorf("users file %s: larger than 64 MiB", path)
	}
	raw := make([]byte, st.Size())
	if _, err := f.ReadAt(raw, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("reading users file: %w", err)
	}
	parsed, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	snap := &snapshot{users: make(map[string]entry, len(parsed.Users)), modTime: st.ModTime(), size: st.Size(), file: st, blank: parsed.blank}
	for name, u := range parsed.Users {
		snap.users[name] = entry{
			user:   verifiers.User{Name: name, DisplayName: u.DisplayName, Email: u.Email, Groups: u.Groups, Disabled: u.Disabled},
			hash:   u.Password,
			groups: strings.Join(u.Groups, ","),
		}
	}
	names := make([]string, 0, len(snap.users))
	for name := range snap.users {
		names = append(names, name)
	}
	sort.Strings(names)
	snap.dummies = map[string]string{}
	for _, name := range names {
		h := snap.users[name].hash
		snap.kinds = append(snap.kinds, h)
		if _, ok := snap.dummies[hashKind(h)]; !ok {
			snap.dummies[hashKind(h)] = dummyLike(h)
		}
	}
	if len(names) == 0 {
		snap.dummies[""] = dummyLike(formatArgon2id(params, make([]byte, argonSaltLen), make([]byte, argonKeyLen)))
	}
	return snap, nil
}

// parse decodes and validates a users file.
func parse(raw []byte) (usersFile, error) {
	var uf usersFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	// EOF: no document at all (an empty file, or only comments).
	if err := dec.Decode(&uf); errors.Is(err, io.EOF) {
		uf.blank = true
	} else if err != nil {
		return uf, fmt.Errorf("parsing YAML: %w", err)
	}
	for name, u := range uf.Users {
		if NormalizeName(name) != name {
			return uf, fmt.Errorf("user %q: usernames must be lower case letters, digits and . _ @ - (at most 64)", name)
		}
		if err := CheckHash(u.Password); err != nil {
			return uf, fmt.Errorf("user %q: password: %w", name, err)
		}
		for _, g := range u.Groups {
			if g == "" || strings.ContainsAny(g, ",\r\n") {
				return uf, fmt.Errorf("user %q: group %q: group names cannot be empty or contain commas or newlines", name, g)
			}
		}
		if strings.ContainsAny(u.DisplayName+u.Email, "\r\n") {
			return uf, fmt.Errorf("user %q: display_name and email must be one line", name)
		}
	}
	return uf, nil
}

// Lookup returns the user with the given (normalised) name.
func (d *Directory) Lookup(name string) (verifiers.User, bool) {
	e, ok := d.current.Load().users[name]
	return e.user, ok
}

// LookupWithGroups is Lookup plus the user's groups joined with commas
// (the Remote-Groups value, computed once when the file loads): one map
// lookup for the per-request path.
func (d *Directory) LookupWithGroups(name string) (verifiers.User, string, bool) {
	e, ok := d.current.Load().users[name]
	return e.user, e.groups, ok
}

// Users returns every user loaded, sorted by name.
func (d *Directory) Users() []verifiers.User {
	snap := d.current.Load()
	out := make([]verifiers.User, 0, len(snap.users))
	for _, e := range snap.users {
		out = append(out, e.user)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len is the number of users loaded.
func (d *Directory) Len() int { return len(d.current.Load().users) }

// Authenticate checks a username and password for a client whose network
// is source (verifiers.SourceKey of its address). It returns the user
// (which may be disabled: the caller decides what to say) and whether the
// password matched. An unknown user costs the same as a known one: the
// password is checked against a dummy hash with the same parameters, so
// response time does not reveal which usernames exist.
//
// Every check goes through the hashing gate (see Limits): when source has
// used its budget of failed attempts the error is a *TooManyAttemptsError
// and nothing is checked; when no hashing slot came free in time it is
// ErrBusy; when ctx ends it is ctx's error. A correct password gives its
// attempt back to source's budget.
//
// A correct password whose hash is not of the configured parameters is
// hashed again with them, in the same slot, and the users file entry is
// rewritten (see upgrade); a failure there is logged, and the sign-in
// goes on.
func (d *Directory) Authenticate(ctx context.Context, source, name, password string) (verifiers.User, bool, error) {
	snap := d.current.Load()
	e, known := snap.users[NormalizeName(name)]
	hash := e.hash
	if !known {
		hash = d.dummy(snap, name)
	}
	params := d.Params()
	var ok bool
	var newHash string
	var hashErr error
	giveBack, err := d.hashing.run(ctx, source, func() {
		ok = Verify(hash, password)
		if ok && known && hashKind(hash) != paramsKind(params) && !d.upgradeOff.Load() {
			newHash, hashErr = HashWith(params, password)
		}
	})
	if err != nil {
		return verifiers.User{}, false, err
	}
	if !known {
		return verifiers.User{}, false, nil
	}
	if ok {
		giveBack()
		switch {
		case hashErr != nil:
			d.logger.Error("upgrading password hash", zap.String("user", e.user.Name), zap.Error(hashErr))
		case newHash != "":
			if err := d.upgrade(e.user.Name, hash, newHash); err != nil {
				d.upgradeOff.Store(true)
				d.logger.Error("upgrading password hash; no more upgrades until the users file changes", zap.String("user", e.user.Name), zap.Error(err))
			} else {
				d.logger.Info("upgraded password hash", zap.String("user", e.user.Name), zap.String("from", hashKind(hash)), zap.String("to", paramsKind(params)))
			}
		}
	}
	return e.user, ok, nil
}

// CheckSource reports whether source (verifiers.SourceKey of the client's
// address) may have a password checked now, without using its budget:
// nil, or the *TooManyAttemptsError Authenticate would return, after the
// same pause. Callers that count an attempt against the account before
// Authenticate (the lockout) ask first, so a network over its budget
// never touches an account's failure counter.
func (d *Directory) CheckSource(ctx context.Context, source string) error {
	return d.hashing.admit(ctx, source)
}

// TakeSourceAttempt uses one attempt of source's budget of failed
// attempts for a check that needs no password hash (a Temporary Access
// Pass), so guesses there are limited like passwords: a
// *TooManyAttemptsError when the budget is used up. Call giveBack when the
// check succeeded.
func (d *Directory) TakeSourceAttempt(ctx context.Context, source string) (giveBack func(), err error) {
	return d.hashing.take(ctx, source)
}

// paramsKind is hashKind of a hash made with p.
func paramsKind(p Params) string {
	return "$argon2id$v=19$" + p.String()
}

// dummy returns the dummy hash an unknown name is checked against. The same
// name always maps to the same kind (within this process), in the
// proportions of the file.
func (d *Directory) dummy(snap *snapshot, name string) string {
	if len(snap.kinds) == 0 {
		return snap.dummies[""]
	}
	model := snap.kinds[maphash.String(d.seed, name)%uint64(len(snap.kinds))]
	return snap.dummies[hashKind(model)]
}

// errUpgradeStale means the users file entry changed since it was read:
// someone else changed the password, so the upgrade is dropped.
var errUpgradeStale = errors.New("the user's password hash changed in the file meanwhile; not upgraded")

// upgrade replaces name's password hash old with new in the users file. It
// re-reads the file and writes only if the entry still holds old, edits
// that one value in the YAML document (keeping every other entry, the
// comments and the order), checks that the result parses to the same
// users with only that hash changed, and replaces the file atomically,
// unless the file changed between the read and the rename.
func (d *Directory) upgrade(name, old, new string) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	unlock, err := lockUsersFile(d.path)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("reading users file: %w", err)
	}
	raw, err := os.ReadFile(d.path)
	if err != nil {
		return fmt.Errorf("reading users file: %w", err)
	}
	before, err := parse(raw)
	if err != nil {
		return fmt.Errorf("users file %s: %w", d.path, err)
	}
	if before.Users[name].Password != old {
		return errUpgradeStale
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("users file %s: %w", d.path, err)
	}
	node := passwordNode(&doc, name)
	if node == nil || node.Value != old {
		return errUpgradeStale
	}
	node.Value = new
	node.Style = yaml.SingleQuotedStyle
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("encoding users file: %w", err)
	}
	enc.Close()
	after, err := parse(buf.Bytes())
	if err != nil {
		return fmt.Errorf("upgraded users file would not parse (not changed): %w", err)
	}
	want := before
	u := want.Users[name]
	u.Password = new
	want.Users[name] = u
	if !reflect.DeepEqual(after, want) {
		return errors.New("upgraded users file would differ in more than one hash (not changed)")
	}
	unchanged := func() error {
		now, err := os.Stat(d.path)
		if err != nil || !now.ModTime().Equal(st.ModTime()) || now.Size() != st.Size() || !os.SameFile(now, st) {
			return errors.New("users file changed while upgrading a hash (not changed)")
		}
		return nil
	}
	if err := d.write(d.path, buf.Bytes(), st.Mode().Perm(), unchanged); err != nil {
		return err
	}
	if _, err := d.Reload(); err != nil {
		return err
	}
	return nil
}

// passwordNode finds the value node of users → name → password in a
// users file's YAML document.
func passwordNode(doc *yaml.Node, name string) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	users := mappingValue(doc.Content[0], "users")
	if users == nil {
		return nil
	}
	entry := mappingValue(users, name)
	if entry == nil {
		return nil
	}
	return mappingValue(entry, "password")
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	var found *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if found != nil {
				return nil // a duplicate key: leave such a file alone
			}
			found = m.Content[i+1]
		}
	}
	return found
}

// Reload re-reads the users file if its size or modification time changed.
// On error the previous users stay in force.
func (d *Directory) Reload() (bool, error) {
	st, err := os.Stat(d.path)
	if err != nil {
		return false, fmt.Errorf("users file: %w", err)
	}
	cur := d.current.Load()
	if st.ModTime().Equal(cur.modTime) && st.Size() == cur.size && cur.file != nil && os.SameFile(st, cur.file) {
		return false, nil
	}
	snap, err := load(d.path, d.Params())
	if err != nil {
		return false, err
	}
	// A file that had users and now holds no document at all is most
	// likely being written in place (truncated, not yet filled): keep the
	// users until it holds something. To remove every user, write
	// `users: {}`.
	if snap.blank && len(cur.users) > 0 {
		return false, fmt.Errorf("users file %s is empty; keeping the %d users loaded before (write `users: {}` to remove them all)", d.path, len(cur.users))
	}
	d.current.Store(snap)
	d.upgradeOff.Store(false)
	return true, nil
}

// Watch reloads the users file every interval until ctx ends, reporting each
// reload or error through the callbacks.
func (d *Directory) Watch(ctx context.Context, interval time.Duration, reloaded func(n int), failed func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := d.Reload()
			if err != nil {
				// Log a broken file once per distinct error, not every tick.
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

// NewUser is what `stepgate user add` writes.
type NewUser = directory.NewUser

// AddUser adds a user to the users file at path, creating the file if it
// does not exist. The new entry goes at the end of `users:`; the rest of
// the file (the other entries, their order, the comments) stays as it
// was. The file is replaced atomically: readers see the old or the new
// file, never half of one.
func AddUser(path string, u NewUser) error {
	if NormalizeName(u.Name) != u.Name {
		return fmt.Errorf("invalid username %q: use lower case letters, digits and . _ @ - (at most 64)", u.Name)
	}
	unlock, err := lockUsersFile(path)
	if err != nil {
		return err
	}
	defer unlock()
	var before usersFile
	mode := os.FileMode(0o600)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if before, err = parse(raw); err != nil {
			return fmt.Errorf("users file %s: %w (not changed)", path, err)
		}
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return fmt.Errorf("reading users file: %w", err)
	}
	if _, exists := before.Users[u.Name]; exists {
		return fmt.Errorf("user %q already exists in %s", u.Name, path)
	}
	groups := append([]string(nil), u.Groups...)
	sort.Strings(groups)
	entry := fileUser{DisplayName: u.DisplayName, Email: u.Email, Groups: groups, Password: u.Hash}
	out, err := appendUser(raw, u.Name, entry)
	if err != nil {
		return fmt.Errorf("users file %s: %w (not changed)", path, err)
	}
	after, err := parse(out)
	if err != nil {
		return err
	}
	want := usersFile{Users: map[string]fileUser{u.Name: entry}}
	for name, e := range before.Users {
		want.Users[name] = e
	}
	if !reflect.DeepEqual(after, want) {
		return fmt.Errorf("users file %s: adding %s would change more than that entry (not changed)", path, u.Name)
	}
	return writeAtomic(path, out, mode)
}

// appendUser returns the users file raw with name: e added at the end of
// its users mapping, editing the YAML document so that everything else in
// it, comments included, stays.
func appendUser(raw []byte, name string, e fileUser) ([]byte, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// Re-encoding keeps only one document: refuse to drop the others.
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document (--- lines)")
	}
	var prefix []byte
	if doc.Kind == 0 { // an empty file, or only comments: keep them above
		if trimmed := bytes.TrimRight(raw, " \t\r\n"); len(trimmed) > 0 {
			prefix = append(append([]byte(nil), trimmed...), '\n')
		}
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not a single YAML document")
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: root.HeadComment}
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("the document is not a mapping with users:")
	}
	users := mappingValue(root, "users")
	if users == nil {
		users = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "users"}, users)
	}
	if users.Kind == yaml.ScalarNode && users.Tag == "!!null" { // `users:` with nothing under it
		*users = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", LineComment: users.LineComment}
	}
	if users.Kind != yaml.MappingNode {
		return nil, errors.New("users: is not a mapping of names to entries")
	}
	if len(users.Content) == 0 {
		users.Style = 0 // `users: {}` becomes a block mapping
	}
	var value yaml.Node
	if err := value.Encode(e); err != nil {
		return nil, fmt.Errorf("encoding the new entry: %w", err)
	}
	if pw := mappingValue(&value, "password"); pw != nil {
		pw.Style = yaml.SingleQuotedStyle
	}
	users.Content = append(users.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, &value)
	buf := bytes.NewBuffer(prefix)
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encoding users file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding users file: %w", err)
	}
	return buf.Bytes(), nil
}

// writeAtomic writes data to a temporary file in the same directory, syncs
// it, and renames it over path.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	return writeAtomicIf(path, data, mode, func() error { return nil })
}

// writeAtomicIf is writeAtomic that calls ok just before the rename and
// leaves path alone when it returns an error.
func writeAtomicIf(path string, data []byte, mode os.FileMode, ok func() error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing users file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing users file: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing users file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing users file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing users file: %w", err)
	}
	if err := ok(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing users file: %w", err)
	}
	return nil
}
