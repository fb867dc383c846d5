package verifiers

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestOverlay(t *testing.T) {
	o := Overlay{
		fstest.MapFS{"a.html": {Data: []byte("first a")}, "b.html": {Data: []byte("b")}},
		fstest.MapFS{"a.html": {Data: []byte("second a")}, "c.html": {Data: []byte("c")}},
	}
	if b, err := fs.ReadFile(o, "a.html"); err != nil || string(b) != "first a" {
		t.Errorf("a.html: %q %v", b, err)
	}
	if b, err := fs.ReadFile(o, "c.html"); err != nil || string(b) != "c" {
		t.Errorf("c.html: %q %v", b, err)
	}
	if _, err := fs.ReadFile(o, "d.html"); err == nil {
		t.Error("d.html opened")
	}
	names, err := fs.Glob(o, "*.html")
	if err != nil || len(names) != 3 || names[0] != "a.html" || names[2] != "c.html" {
		t.Errorf("glob: %v %v", names, err)
	}
}
