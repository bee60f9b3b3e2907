// Package scaffold writes the skeleton of a new Lathe plugin: a Go module
// with its own go.mod (pointing at a Lathe source tree), a main that is one
// serve call, a small working implementation of the kind, a test that
// serves it through sdk/sdktest, and a README saying how to use it from an
// experiment file. `lathe plugin new` is its command line.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/lathe-ml/lathe/sdk"
)

//go:embed templates
var templates embed.FS

// LatheModule is the module path of the Lathe source tree.
const LatheModule = "github.com/lathe-ml/lathe"

// Options says what to generate.
type Options struct {
	Name string   // plugin name: lower case letters, digits, '-' and '_'
	Kind sdk.Kind // tool, reward or model
	// Dir is the directory to create; it must not exist or be empty.
	Dir string
	// LatheSrc is the Lathe source tree the skeleton's go.mod replaces the
	// SDK module with; it is made absolute.
	LatheSrc string
	// Module is the skeleton's module path; default Name.
	Module string
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// kindInfo holds what differs per kind in the common templates.
type kindInfo struct {
	serveFunc, newExpr, hclExample string
}

var kinds = map[sdk.Kind]kindInfo{
	sdk.KindReward: {"Reward", "&reward{Scale: 1}", " scale = 0.5"},
	sdk.KindTool:   {"Tool", "newTool()", " ignore_case = true"},
	sdk.KindModel:  {"Model", `&model{Reply: "EXIT\n"}`, ` reply = "EXIT\n"`},
}

// Write generates the skeleton and returns the paths it wrote.
func Write(opts Options) ([]string, error) {
	if !validName.MatchString(opts.Name) {
		return nil, fmt.Errorf("scaffold: plugin name %q: use lower-case letters, digits, '-' and '_', starting with a letter", opts.Name)
	}
	k, ok := kinds[opts.Kind]
	if !ok {
		return nil, fmt.Errorf("scaffold: unknown plugin kind %q (want tool, reward or model)", opts.Kind)
	}
	if opts.Dir == "" {
		opts.Dir = opts.Name
	}
	if opts.Module == "" {
		opts.Module = opts.Name
	}
	if err := module.CheckImportPath(opts.Module); err != nil {
		return nil, fmt.Errorf("scaffold: module path %q: %w", opts.Module, err)
	}
	src, err := filepath.Abs(opts.LatheSrc)
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	requires, err := latheRequires(src)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(opts.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("scaffold: %s already exists and is not empty", opts.Dir)
	}
	data := map[string]any{
		"Name": opts.Name, "Kind": string(opts.Kind), "Module": opts.Module,
		"LatheSrc": src, "Dir": filepath.ToSlash(filepath.Clean(opts.Dir)),
		"ServeFunc": k.serveFunc, "New": k.newExpr, "HCLExample": k.hclExample,
		"Requires": requires,
	}

	var written []string
	// Templates use [[ ]] because Go composite literals are full of {{.
	emit := func(tmplPath, out string) error {
		b, err := templates.ReadFile(tmplPath)
		if err != nil {
			return fmt.Errorf("scaffold: %w", err)
		}
		t, err := template.New(tmplPath).Delims("[[", "]]").Option("missingkey=error").Parse(string(b))
		if err != nil {
			return fmt.Errorf("scaffold: %s: %w", tmplPath, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return fmt.Errorf("scaffold: %s: %w", tmplPath, err)
		}
		text := buf.Bytes()
		if strings.HasSuffix(out, ".go") {
			// A template that renders to invalid Go is a bug here, not in
			// the user's input: fail loudly rather than write it.
			if text, err = format.Source(text); err != nil {
				return fmt.Errorf("scaffold: %s renders invalid Go: %w", tmplPath, err)
			}
		}
		path := filepath.Join(opts.Dir, out)
		if err := os.WriteFile(path, text, 0o644); err != nil {
			return fmt.Errorf("scaffold: %w", err)
		}
		written = append(written, path)
		return nil
	}

	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	for _, f := range []string{"go.mod", "main.go", "README.md"} {
		if err := emit("templates/common/"+f+".tmpl", f); err != nil {
			return written, err
		}
	}
	kindDir := "templates/" + string(opts.Kind)
	entries, err := fs.ReadDir(templates, kindDir)
	if err != nil {
		return written, fmt.Errorf("scaffold: %w", err)
	}
	for _, e := range entries {
		if err := emit(kindDir+"/"+e.Name(), strings.TrimSuffix(e.Name(), ".tmpl")); err != nil {
			return written, err
		}
	}
	// The SDK's go.sum lists every module the skeleton can need, so a first
	// build needs no network when the module cache has them.
	if sum, err := os.ReadFile(filepath.Join(src, "go.sum")); err == nil {
		path := filepath.Join(opts.Dir, "go.sum")
		if err := os.WriteFile(path, sum, 0o644); err != nil {
			return written, fmt.Errorf("scaffold: %w", err)
		}
		written = append(written, path)
	}
	return written, nil
}

// latheRequires returns the require lines of the Lathe module's go.mod. The
// skeleton repeats them (as indirect) so that its module graph selects the
// same versions and builds offline with the go.sum copied beside it; `go
// mod tidy` in the plugin trims the list to what it really uses.
func latheRequires(dir string) (string, error) {
	if err := checkLatheSrc(dir); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "go.mod")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("scaffold: %w", err)
	}
	f, err := modfile.Parse(path, b, nil)
	if err != nil {
		return "", fmt.Errorf("scaffold: %w", err)
	}
	var out strings.Builder
	for _, r := range f.Require {
		fmt.Fprintf(&out, "\t%s %s // indirect\n", r.Mod.Path, r.Mod.Version)
	}
	return out.String(), nil
}

// checkLatheSrc verifies that dir holds the Lathe module.
func checkLatheSrc(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return fmt.Errorf("scaffold: lathe source tree %s: %w", dir, err)
	}
	if modfile.ModulePath(b) != LatheModule {
		return fmt.Errorf("scaffold: %s/go.mod is module %q, not %s", dir, modfile.ModulePath(b), LatheModule)
	}
	return nil
}

// ErrNoLatheSrc is returned by FindLatheSrc when no enclosing directory holds
// the Lathe module.
var ErrNoLatheSrc = errors.New("no enclosing directory holds the lathe module (pass --lathe-src)")

// FindLatheSrc walks up from start to the directory whose go.mod declares
// the Lathe module.
func FindLatheSrc(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", fmt.Errorf("scaffold: %w", err)
	}
	for {
		if checkLatheSrc(dir) == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("scaffold: from %s: %w", start, ErrNoLatheSrc)
		}
		dir = parent
	}
}
