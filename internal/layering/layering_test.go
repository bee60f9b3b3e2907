package layering

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/lathe-ml/lathe/"

// rank orders the layers: a package may import its own layer and those
// below it, never one above.
var rank = map[string]int{"sdk": 0, "core": 1, "plugins": 2, "cmd": 3, "internal": 3}

// layerOf returns the top-level folder of a path inside the module.
func layerOf(rel string) string {
	top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
	return top
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// TestImportsPointDown parses every non-test Go file of the module (test
// files are integration tests and may start real plugins from the core's
// side; testdata is not built) and fails on an import of a higher layer.
func TestImportsPointDown(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == "testdata" || name == "runs" || name == "bin" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		from := layerOf(rel)
		fromRank, known := rank[from]
		if !known {
			t.Errorf("%s: top-level folder %q has no layer; add it to rank", rel, from)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			inner, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			to := layerOf(inner)
			if rank[to] > fromRank || (to == "internal" && from != "internal") {
				t.Errorf("%s imports %s: %s may not import %s (layers: cmd -> plugins -> core -> sdk)",
					fset.Position(imp.Pos()), p, from, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("parsed only %d files under %s; the walk missed the module", files, root)
	}
}
