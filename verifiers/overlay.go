package verifiers

import (
	"io/fs"
	"slices"
)

// Overlay is one file system made of several, for a method whose pages
// come partly from another package (calls set up a phone with the text
// method's page): a name opens in the first file system that has it, and
// a directory lists the entries of all.
type Overlay []fs.FS

// Open implements fs.FS.
func (o Overlay) Open(name string) (fs.File, error) {
	for _, f := range o {
		if file, err := f.Open(name); err == nil {
			return file, nil
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// ReadDir implements fs.ReadDirFS.
func (o Overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	found := false
	for _, f := range o {
		entries, err := fs.ReadDir(f, name)
		if err != nil {
			continue
		}
		found = true
		for _, e := range entries {
			if !slices.ContainsFunc(out, func(have fs.DirEntry) bool { return have.Name() == e.Name() }) {
				out = append(out, e)
			}
		}
	}
	if !found {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
	return out, nil
}

var _ fs.ReadDirFS = Overlay(nil)
