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
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

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
	// kinds has one model hash per user, in name order: an unknown name is
	// checked against a dummy of the kind of model it maps to, so unknown
	// names take as long as the real users do, whatever hash kinds the
	// file mixes.
	kinds []string
}

// Directory is the users file in memory. Lookups never touch the disk; a
// watcher reloads the file when it changes and keeps serving the last good
// version when the new one is broken.
type Directory struct {
	path    string
	current atomic.Pointer[snapshot]

	dummies sync.Map // hash kind → dummy hash of that kind
	seed    maphash.Seed

	// hashing bounds password hashing in memory (64 MiB per argon2id run)
	// and in CPU time, so a flood of sign-ins cannot starve the proxy.
	hashing *gate
}

// Open loads the users file at path.
func Open(path string) (*Directory, error) {
	if path == "" {
		return nil, errors.New("no users file configured (users_file)")
	}
	d := &Directory{path: path, hashing: newGate(DefaultCPUShare), seed: maphash.MakeSeed()}
	snap, err := load(path)
	if err != nil {
		return nil, err
	}
	d.current.Store(snap)
	return d, nil
}

// Path is the users file's path.
func (d *Directory) Path() string { return d.path }

func load(path string) (*snapshot, error) {
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
	snap := &snapshot{users: make(map[string]entry, len(parsed.Users)), modTime: st.ModTime(), size: st.Size()}
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
	for _, name := range names {
		snap.kinds = append(snap.kinds, snap.users[name].hash)
	}
	return snap, nil
}

// parse decodes and validates a users file.
func parse(raw []byte) (usersFile, error) {
	var uf usersFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&uf); err != nil && !(errors.Is(err, io.EOF) && len(bytes.TrimSpace(raw)) == 0) {
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

// Len is the number of users loaded.
func (d *Directory) Len() int { return len(d.current.Load().users) }

// Authenticate checks a username and password. It returns the user (which
// may be disabled: the caller decides what to say) and whether the password
// matched. An unknown user costs the same as a known one: the password is
// checked against a dummy hash with the same parameters, so response time
// does not reveal which usernames exist.
//
// Checks wait in line for a hashing slot (see SetCPUShare); after
// DefaultHashWait in line, or when ctx ends, the error is ErrBusy or ctx's.
func (d *Directory) Authenticate(ctx context.Context, name, password string) (verifiers.User, bool, error) {
	snap := d.current.Load()
	e, known := snap.users[NormalizeName(name)]
	hash := e.hash
	if !known {
		hash = d.dummy(snap, name)
	}
	var ok bool
	if err := d.hashing.run(ctx, func() { ok = Verify(hash, password) }); err != nil {
		return verifiers.User{}, false, err
	}
	if !known {
		return verifiers.User{}, false, nil
	}
	return e.user, ok, nil
}

// SetCPUShare sets the fraction of the machine's time (0 < share ≤ 1)
// password hashing may take while sign-ins queue up; 1 removes the ceiling
// and keeps only the bound on concurrent hashes. Call it before serving.
func (d *Directory) SetCPUShare(share float64) {
	d.hashing.share = share
}

// CPUShare is the hashing ceiling SetCPUShare set (DefaultCPUShare unless
// changed).
func (d *Directory) CPUShare() float64 { return d.hashing.share }

// SetHashWait sets how long a sign-in waits in line for a hashing slot
// before Authenticate gives up with ErrBusy (DefaultHashWait unless set).
// Call it before serving.
func (d *Directory) SetHashWait(wait time.Duration) { d.hashing.wait = wait }

func (d *Directory) dummy(snap *snapshot, name string) string {
	model := ""
	if len(snap.kinds) > 0 {
		// The same name always maps to the same kind (within this
		// process), in the proportions of the file.
		model = snap.kinds[maphash.String(d.seed, name)%uint64(len(snap.kinds))]
	}
	kind := hashKind(model)
	if h, ok := d.dummies.Load(kind); ok {
		return h.(string)
	}
	h, err := HashLike(model, dummyPassword)
	if model == "" || err != nil {
		h, err = Hash(dummyPassword)
	}
	if err != nil {
		panic("password: cannot hash the dummy password: " + err.Error()) // crypto/rand failure
	}
	actual, _ := d.dummies.LoadOrStore(kind, h)
	return actual.(string)
}

// Reload re-reads the users file if its size or modification time changed.
// On error the previous users stay in force.
func (d *Directory) Reload() (bool, error) {
	st, err := os.Stat(d.path)
	if err != nil {
		return false, fmt.Errorf("users file: %w", err)
	}
	cur := d.current.Load()
	if st.ModTime().Equal(cur.modTime) && st.Size() == cur.size {
		return false, nil
	}
	snap, err := load(d.path)
	if err != nil {
		return false, err
	}
	d.current.Store(snap)
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
type NewUser struct {
	Name        string
	DisplayName string
	Email       string
	Groups      []string
	Hash        string
}

// AddUser adds a user to the users file at path, creating the file if it
// does not exist. The file is replaced atomically: readers see the old or
// the new file, never half of one.
func AddUser(path string, u NewUser) error {
	if NormalizeName(u.Name) != u.Name {
		return fmt.Errorf("invalid username %q: use lower case letters, digits and . _ @ - (at most 64)", u.Name)
	}
	var uf usersFile
	mode := os.FileMode(0o600)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if uf, err = parse(raw); err != nil {
			return fmt.Errorf("users file %s: %w (not changed)", path, err)
		}
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return fmt.Errorf("reading users file: %w", err)
	}
	if uf.Users == nil {
		uf.Users = map[string]fileUser{}
	}
	if _, exists := uf.Users[u.Name]; exists {
		return fmt.Errorf("user %q already exists in %s", u.Name, path)
	}
	groups := append([]string(nil), u.Groups...)
	sort.Strings(groups)
	uf.Users[u.Name] = fileUser{DisplayName: u.DisplayName, Email: u.Email, Groups: groups, Password: u.Hash}
	if _, err := parse(mustMarshal(uf)); err != nil {
		return err
	}
	return writeAtomic(path, mustMarshal(uf), mode)
}

func mustMarshal(uf usersFile) []byte {
	out, err := yaml.Marshal(uf)
	if err != nil {
		panic("password: marshalling users file: " + err.Error()) // plain structs always marshal
	}
	return out
}

// writeAtomic writes data to a temporary file in the same directory, syncs
// it, and renames it over path.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing users file: %w", err)
	}
	return nil
}
