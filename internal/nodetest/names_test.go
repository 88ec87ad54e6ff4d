package nodetest_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runsANode are the imports that make a test file end-to-end: it starts
// a node in its process or as a process.
var runsANode = map[string]bool{
	"github.com/herald-push/herald/internal/nodetest":   true,
	"github.com/herald-push/herald/internal/heraldproc": true,
}

// TestFileNamesFollowTheRule holds every test file of the module to the
// naming rule in doc.go: support in harness_test.go (or
// harness_<what>_test.go), TestMain in main_test.go, a file that runs a
// node named <what>_e2e_test.go unless it is support or benchmarks.
func TestFileNamesFollowTheRule(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata" || n == "gen") {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		files++
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		support := name == "harness_test.go" || strings.HasPrefix(name, "harness_")
		bench := strings.HasSuffix(name, "bench_test.go")
		switch {
		case strings.HasPrefix(name, "e2e_") || name == "e2e_test.go":
			t.Errorf("%s: end-to-end tests are <what>_e2e_test.go", rel)
		case strings.Contains(name, "helper") || strings.Contains(name, "util"):
			t.Errorf("%s: test support is harness_test.go", rel)
		}
		hasMain := false
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "TestMain" {
				hasMain = true
			}
		}
		if hasMain != (name == "main_test.go") {
			t.Errorf("%s: TestMain, and only it, is in main_test.go", rel)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if runsANode[p] && !support && !bench && !strings.HasSuffix(name, "_e2e_test.go") {
				t.Errorf("%s imports %s: name it <what>_e2e_test.go", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("found %d test files under %s: the walk missed the module", files, root)
	}
}
