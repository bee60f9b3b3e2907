// Package builtin lists the plugins compiled into the lathe binary. The
// binary serves one of them when re-executed as `lathe plugin serve NAME`,
// the way Terraform serves its built-in providers.
package builtin

import (
	"sort"

	"github.com/lathe-ml/lathe/sdk"
)

// Entry is one built-in plugin. Exactly one of the constructors is set,
// matching Kind; each call returns a fresh, unconfigured instance.
type Entry struct {
	Name        string
	Kind        sdk.Kind
	Description string
	NewTool     func() sdk.Tool
	NewReward   func() sdk.Reward
	NewModel    func() sdk.Model
}

var entries = map[string]Entry{}

// register adds an entry; it is called from this package's per-plugin files
// (tests.go, coedit.go, ...) so that adding a plugin touches one new file.
func register(e Entry) {
	if _, dup := entries[e.Name]; dup {
		panic("builtin: plugin registered twice: " + e.Name)
	}
	entries[e.Name] = e
}

// Lookup returns the built-in plugin called name.
func Lookup(name string) (Entry, bool) {
	e, ok := entries[name]
	return e, ok
}

// All returns every built-in plugin, sorted by name.
func All() []Entry {
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
