package scaffold

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/lathe-ml/lathe/sdk"
)

func TestFindLatheSrc(t *testing.T) {
	root, err := FindLatheSrc("templates/reward") // from deep inside the tree
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "sdk", "plugin.go")); err != nil {
		t.Errorf("root %s has no sdk/plugin.go: %v", root, err)
	}
	if _, err := FindLatheSrc(t.TempDir()); err == nil || !strings.Contains(err.Error(), "--lathe-src") {
		t.Errorf("outside the tree: %v", err)
	}
}

func TestWrite(t *testing.T) {
	src, err := FindLatheSrc(".")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kind  sdk.Kind
		files []string
		serve string
	}{
		{sdk.KindReward, []string{"README.md", "go.mod", "go.sum", "main.go", "reward.go", "reward_test.go"}, "serve.Reward(&reward{Scale: 1})"},
		{sdk.KindTool, []string{"README.md", "go.mod", "go.sum", "main.go", "tool.go", "tool_test.go"}, "serve.Tool(newTool())"},
		{sdk.KindModel, []string{"README.md", "go.mod", "go.sum", "main.go", "model.go", "model_test.go"}, "serve.Model(&model{Reply: \"EXIT\\n\"})"},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "p")
			written, err := Write(Options{Name: "p-" + string(c.kind), Kind: c.kind, Dir: dir, LatheSrc: src})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, w := range written {
				names = append(names, filepath.Base(w))
			}
			sort.Strings(names)
			if !reflect.DeepEqual(names, c.files) {
				t.Errorf("files = %v, want %v", names, c.files)
			}
			main, _ := os.ReadFile(filepath.Join(dir, "main.go"))
			if !strings.Contains(string(main), "func main() { "+c.serve+" }") {
				t.Errorf("main.go:\n%s", main)
			}
			gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
			f, err := modfile.Parse("go.mod", gomod, nil)
			if err != nil {
				t.Fatalf("go.mod does not parse: %v\n%s", err, gomod)
			}
			if f.Module.Mod.Path != "p-"+string(c.kind) || len(f.Replace) != 1 || f.Replace[0].New.Path != src {
				t.Errorf("go.mod:\n%s", gomod)
			}
			for _, w := range written {
				b, _ := os.ReadFile(w)
				if strings.Contains(string(b), "[[") {
					t.Errorf("%s has an unexpanded template action", w)
				}
			}
			// A second Write into the same directory is refused.
			if _, err := Write(Options{Name: "p", Kind: c.kind, Dir: dir, LatheSrc: src}); err == nil ||
				!strings.Contains(err.Error(), "not empty") {
				t.Errorf("second write: %v", err)
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	src, err := FindLatheSrc(".")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"upper-case name", Options{Name: "Bad", Kind: sdk.KindTool}, `plugin name "Bad"`},
		{"name with a slash", Options{Name: "a/b", Kind: sdk.KindTool}, `plugin name "a/b"`},
		{"unknown kind", Options{Name: "x", Kind: "sampler"}, `unknown plugin kind "sampler"`},
		{"bad module path", Options{Name: "x", Kind: sdk.KindTool, Module: "a b"}, `module path "a b"`},
		{"not a lathe tree", Options{Name: "x", Kind: sdk.KindTool, LatheSrc: t.TempDir()}, "lathe source tree"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Dir = filepath.Join(t.TempDir(), "p")
			if c.opts.LatheSrc == "" {
				c.opts.LatheSrc = src
			}
			_, err := Write(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want %q", err, c.want)
			}
			if _, statErr := os.Stat(c.opts.Dir); statErr == nil {
				t.Errorf("%s was created despite the error", c.opts.Dir)
			}
		})
	}
}
