package btcclient

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Re-entry (Stop, Close, Start or WaitConnected from inside a listener) is detected without
// reading goroutine ids out of runtime.Stack's text: no file of the package calls it.
func TestNoStackParsing(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "runtime" && sel.Sel.Name == "Stack" {
					t.Errorf("%s: runtime.Stack", fset.Position(sel.Pos()))
				}
			}
			return true
		})
	}
}
