// Package builtinset holds the task sets written by the Lathe project itself
// and embedded in the binary, so that an experiment runs out of the box
// without downloading a benchmark (HCL: source = "builtin:NAME").
//
// A set is JSON Lines, one task per line:
//
//	{"task_id": "basic/001", "text": "...", "reference": "def f(...): ...", "tests": "assert f(...) == ...\n..."}
//
// task_id is stable across releases (tasks are only appended, never
// renumbered), text is a one-sentence description, reference is a correct
// stdlib-only solution and tests holds at least three plain assert lines whose
// expected values are JSON-representable literals.
//
// This package only stores and hands out the bytes; decoding into repair
// tasks, splitting and corrupting belong to the task loaders and the
// synthesizer.
package builtinset

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed data/*.jsonl
var data embed.FS

// ErrUnknownSet is wrapped by Open when no set has the requested name.
var ErrUnknownSet = errors.New("unknown built-in task set")

// Names lists the embedded task sets in lexical order (e.g. "basic").
func Names() []string {
	entries, err := fs.ReadDir(data, "data")
	if err != nil {
		// The directory is fixed at compile time by go:embed; failing to
		// read it means the binary itself is broken.
		panic(fmt.Sprintf("builtinset: embedded data unreadable: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".jsonl"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Open returns the JSONL bytes of the named set. The slice is a fresh copy,
// so callers may modify it.
func Open(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\.`) {
		return nil, fmt.Errorf("builtinset: %w %q (have: %s)", ErrUnknownSet, name, strings.Join(Names(), ", "))
	}
	b, err := data.ReadFile(path.Join("data", name+".jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("builtinset: %w %q (have: %s)", ErrUnknownSet, name, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("builtinset: read %q: %w", name, err)
	}
	return b, nil
}
