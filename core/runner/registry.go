// Package runner runs a Lathe experiment: it loads and checks the file
// (core/experiment), asks the plugin host for schemas and capabilities,
// creates the run directory (core/rundir), starts plugin instances and runs
// the stages and evals in dependency order through implementations
// registered per stage kind, recording each finished stage so that a run
// can be resumed. It does not implement any stage itself: synthesize, sft,
// grpo and eval register themselves with RegisterStage.
package runner

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Outputs are what a stage leaves for the stages after it, by name:
// "checkpoint" -> a directory, "data" -> a file. Paths should lie inside
// the stage's directory (StageEnv.Dir).
type Outputs map[string]string

// StageFunc runs one stage. It returns the stage's outputs, or an error
// that stops the run (the stages before it stay recorded).
type StageFunc func(ctx context.Context, env *StageEnv) (Outputs, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]StageFunc{}
)

// RegisterStage makes fn the implementation of a stage kind ("synthesize",
// "sft", "grpo" or "eval"). It panics if the kind already has one, since
// two packages claiming one kind is a build mistake.
func RegisterStage(kind string, fn StageFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("runner: stage kind registered twice: " + kind)
	}
	registry[kind] = fn
}

// lookupStage returns the implementation of kind.
func lookupStage(kind string) (StageFunc, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	fn, ok := registry[kind]
	if !ok {
		return nil, fmt.Errorf("runner: stage kind %q is not implemented yet", kind)
	}
	return fn, nil
}

// RegisteredStages lists the stage kinds with an implementation, sorted.
func RegisteredStages() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
