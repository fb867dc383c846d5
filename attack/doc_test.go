package attack

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityMDListsEveryAttack keeps SECURITY.md true: every test in
// this suite is listed there, and every test listed there exists.
func TestSecurityMDListsEveryAttack(t *testing.T) {
	doc, err := os.ReadFile("../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*_test.go")
	have := map[string]bool{}
	for _, f := range files {
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") && fn.Name.Name != "TestMain" {
				have[fn.Name.Name] = true
			}
		}
	}
	internal := map[string]bool{"TestSecurityMDListsEveryAttack": true, "TestKSTestCanTellApart": true}
	for name := range have {
		if !internal[name] && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("SECURITY.md does not list %s", name)
		}
	}
	for _, field := range strings.FieldsFunc(string(doc), func(r rune) bool { return r == '`' || r == '(' || r == ')' || r == ' ' || r == ',' }) {
		if strings.HasPrefix(field, "Test") && !have[field] && !internal[field] {
			t.Errorf("SECURITY.md lists %s, which is not in attack/", field)
		}
	}
}
