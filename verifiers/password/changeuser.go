package password

import (
	"bytes"
	"fmt"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/stepgate/stepgate/directory"
)

// Change is what ChangeUser changes in one user's entry (Disabled sets or
// clears `disabled: true`); nil fields stay.
type Change = directory.Change

// ErrNoSuchUser is wrapped by ChangeUser for a name not in the file.
var ErrNoSuchUser = directory.ErrNoSuchUser

// ChangeUser changes one user's entry of the users file at path. Like
// AddUser it holds the users file's lock from reading the file to renaming
// the new one into place (so concurrent writers, in this process or
// another, lose none of each other's changes), edits only that entry's
// values in the YAML document (the other entries, their order and the
// comments stay), checks that the result parses to the same users with
// only that change, and replaces the file atomically. It reports whether
// the file changed (false when the entry already said so).
func ChangeUser(path, name string, c Change) (bool, error) {
	if c.Hash != nil {
		if err := CheckHash(*c.Hash); err != nil {
			return false, fmt.Errorf("new password hash: %w", err)
		}
	}
	unlock, err := lockUsersFile(path)
	if err != nil {
		return false, err
	}
	defer unlock()
	st, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("reading users file: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading users file: %w", err)
	}
	before, err := parse(raw)
	if err != nil {
		return false, fmt.Errorf("users file %s: %w (not changed)", path, err)
	}
	old, ok := before.Users[name]
	if !ok {
		return false, fmt.Errorf("%w %q in %s", ErrNoSuchUser, name, path)
	}
	want := old
	if c.Hash != nil {
		want.Password = *c.Hash
	}
	if c.Disabled != nil {
		want.Disabled = *c.Disabled
	}
	if reflect.DeepEqual(want, old) {
		return false, nil
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		return false, fmt.Errorf("users file %s: %w (not changed)", path, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return false, fmt.Errorf("users file %s: more than one YAML document (--- lines) (not changed)", path)
	}
	e := entryNode(&doc, name)
	if e == nil {
		return false, fmt.Errorf("users file %s: the entry of %s is not a plain mapping (not changed)", path, name)
	}
	if c.Hash != nil {
		setKey(e, "password", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: *c.Hash, Style: yaml.SingleQuotedStyle})
	}
	if c.Disabled != nil {
		if *c.Disabled {
			setKey(e, "disabled", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		} else {
			dropKey(e, "disabled")
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return false, fmt.Errorf("encoding users file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return false, fmt.Errorf("encoding users file: %w", err)
	}
	after, err := parse(buf.Bytes())
	if err != nil {
		return false, fmt.Errorf("users file %s: the changed file would not parse (not changed): %w", path, err)
	}
	expect := usersFile{Users: map[string]fileUser{}}
	for n, u := range before.Users {
		expect.Users[n] = u
	}
	expect.Users[name] = want
	if !reflect.DeepEqual(after, expect) {
		return false, fmt.Errorf("users file %s: changing %s would change more than that entry (not changed)", path, name)
	}
	if err := writeAtomic(path, buf.Bytes(), st.Mode().Perm()); err != nil {
		return false, err
	}
	return true, nil
}

// entryNode finds the mapping of users → name in a users file's YAML
// document.
func entryNode(doc *yaml.Node, name string) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	users := mappingValue(doc.Content[0], "users")
	if users == nil {
		return nil
	}
	e := mappingValue(users, name)
	if e == nil || e.Kind != yaml.MappingNode {
		return nil
	}
	return e
}

// setKey sets key's value in mapping m, adding the key at the end when it
// is not there.
func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.LineComment = m.Content[i+1].LineComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// dropKey removes key from mapping m.
func dropKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
