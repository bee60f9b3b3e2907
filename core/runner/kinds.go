// Package runner runs a Lathe experiment: it loads and checks the file
// (core/experiment) against the stage kinds of a Registry, asks the plugin
// host for schemas and capabilities, creates the run directory
// (core/rundir), starts plugin instances and runs the stages and evals in
// dependency order, recording each finished stage so that a run can be
// resumed. It implements no stage kind itself: a Kind describes one
// (core/stages holds the built-in ones) and a Registry is the set a run
// may use.
package runner

import (
	"context"
	"fmt"

	"github.com/lathe-ml/lathe/core/experiment"
)

// Outputs are what a stage leaves for the stages after it, by name:
// "checkpoint" -> a directory, "data" -> a file. Paths should lie inside
// the stage's directory (StageEnv.Dir).
type Outputs map[string]string

// Kind is the one definition of a stage kind: its name, its attribute
// struct A (tagged as experiment.StageKind describes: the schema of its
// blocks, and the value Run receives, defaults filled in), the plugin
// capabilities it needs, and what it does. Adding a kind is writing one
// Kind and listing it in a Registry.
type Kind[A any] struct {
	Name string
	// Checkpoint: the stage leaves a model checkpoint (Outputs
	// "checkpoint"), which init and an eval's checkpoints may name.
	Checkpoint bool
	// Needs lists the optional interfaces the stage needs of the plugins
	// its references name; Load checks them, so a plugin that lacks one is
	// a diagnostic of `lathe validate` at the reference. Nil: none.
	Needs func(a *A) []Need
	// Run runs one stage of the kind. It returns the stage's outputs, or
	// an error that stops the run (the stages before it stay recorded).
	// Nil: the kind is known to experiment files but not implemented.
	Run func(ctx context.Context, env *StageEnv, a *A) (Outputs, error)
}

// Need is an optional interface (a pluginclient.Cap* name) that a stage
// needs of the plugin block Ref names, and what the stage does with it
// ("trains it"), for the diagnostic.
type Need struct {
	Ref experiment.Ref
	Cap string
	Why string
}

// Definer is a Kind of any attribute type, as a Registry takes it.
type Definer interface {
	define() (kind, error)
}

// kind is a Kind with its attribute type erased.
type kind struct {
	schema experiment.StageKind
	needs  func(experiment.Values) ([]Need, error)
	run    func(context.Context, *StageEnv) (Outputs, error) // nil: not implemented
}

func (k Kind[A]) define() (kind, error) {
	if k.Name == "" {
		return kind{}, fmt.Errorf("runner: a stage kind without a name")
	}
	d := kind{schema: experiment.StageKind{Name: k.Name, Checkpoint: k.Checkpoint, Attrs: new(A)}}
	decode := func(v experiment.Values) (*A, error) {
		a := new(A)
		if err := v.Decode(a); err != nil {
			return nil, fmt.Errorf("runner: stage kind %q: %w", k.Name, err)
		}
		return a, nil
	}
	d.needs = func(v experiment.Values) ([]Need, error) {
		if k.Needs == nil {
			return nil, nil
		}
		a, err := decode(v)
		if err != nil {
			return nil, err
		}
		return k.Needs(a), nil
	}
	if k.Run != nil {
		d.run = func(ctx context.Context, env *StageEnv) (Outputs, error) {
			a, err := decode(env.Stage.Attrs)
			if err != nil {
				return nil, err
			}
			return k.Run(ctx, env, a)
		}
	}
	return d, nil
}

// Registry is the set of stage kinds an experiment may name, each defined
// once. Load and Run take one; core/stages.Kinds is the built-in set.
type Registry struct {
	kinds  map[string]kind
	order  []string
	schema *experiment.Kinds
}

// NewRegistry checks every kind (its attribute tags among them) and
// returns the set.
func NewRegistry(kinds ...Definer) (*Registry, error) {
	r := &Registry{kinds: map[string]kind{}}
	var schemas []experiment.StageKind
	for _, def := range kinds {
		k, err := def.define()
		if err != nil {
			return nil, err
		}
		if _, dup := r.kinds[k.schema.Name]; dup {
			return nil, fmt.Errorf("runner: stage kind %q registered twice", k.schema.Name)
		}
		r.kinds[k.schema.Name] = k
		r.order = append(r.order, k.schema.Name)
		schemas = append(schemas, k.schema)
	}
	s, err := experiment.NewKinds(schemas...)
	if err != nil {
		return nil, err
	}
	r.schema = s
	return r, nil
}

// MustRegistry is NewRegistry for a set fixed in the program, which
// panics on a mistake in it.
func MustRegistry(kinds ...Definer) *Registry {
	r, err := NewRegistry(kinds...)
	if err != nil {
		panic(err)
	}
	return r
}

// Schemas returns the kinds' schemas, for experiment.Load and Resolve.
func (r *Registry) Schemas() *experiment.Kinds {
	if r == nil {
		return nil
	}
	return r.schema
}

// Names lists the kinds in the order they were registered.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.order...)
}

// Defaults returns set with kind's defaults filled in, seed standing for
// the experiment's (see experiment.Kinds.Defaults).
func (r *Registry) Defaults(kind string, set experiment.Values, seed int64) (experiment.Values, bool) {
	return r.Schemas().Defaults(kind, set, seed)
}

// needs returns what a stage asks of its plugins.
func (r *Registry) needs(s *experiment.Stage) ([]Need, error) {
	if r == nil {
		return nil, nil
	}
	k, ok := r.kinds[s.Kind]
	if !ok {
		return nil, nil
	}
	return k.needs(s.Attrs)
}

// lookup returns the implementation of a stage's kind.
func (r *Registry) lookup(name string) (func(context.Context, *StageEnv) (Outputs, error), error) {
	var k kind
	ok := false
	if r != nil {
		k, ok = r.kinds[name]
	}
	if !ok || k.run == nil {
		return nil, fmt.Errorf("runner: stage kind %q is not implemented yet", name)
	}
	return k.run, nil
}
