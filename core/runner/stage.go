package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/rundir"
	"github.com/lathe-ml/lathe/sdk"
)

// StageOptions describes one stage run outside an experiment file, such
// as `lathe eval` makes of its flags: the same kind, run by the same
// code with the same defaults as in an experiment.
type StageOptions struct {
	Kinds *Registry
	// Kind is a kind of Kinds; Label names the stage (its directory and,
	// for an eval, its result rows).
	Kind, Label string
	// Attrs points at the kind's attribute struct (stages.EvalAttrs), its
	// references naming Plugins and Datasets by label. Build it with
	// Kinds.Defaults so that what is left unset has the default an
	// experiment gives it.
	Attrs any
	// Seed is the run's seed, for the notes of the results.
	Seed int64
	// Plugins are the tool, reward and model blocks, each with its
	// decoded Config (experiment.PluginConfig fills the defaults).
	Plugins  []*experiment.PluginBlock
	Datasets []*experiment.Dataset
	// Host starts the plugins; RunStage does not close it.
	Host Host
	// Dir is the run directory to make (it must not exist or be empty).
	Dir string
	// Stderr receives progress lines; nil discards them.
	Stderr io.Writer
}

// RunStage runs one stage as Run runs each stage of an experiment: in a
// run directory of its own, with its plugins started and configured by
// the runner, its result rows in the Report's Results.
func RunStage(ctx context.Context, o StageOptions) (*Report, error) {
	if o.Host == nil {
		return nil, errors.New("runner: no plugin host")
	}
	if _, ok := o.Kinds.Schemas().Defaults(o.Kind, nil, 0); !ok {
		return nil, fmt.Errorf("runner: stage kind %q is not registered", o.Kind)
	}
	vals, err := experiment.Encode(o.Attrs)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	s := &experiment.Stage{Block: "stage", Label: o.Label, Kind: o.Kind, Attrs: vals}
	if o.Kind == "eval" {
		s.Block = "eval"
	}
	exp := &experiment.Experiment{Name: o.Label, Seed: o.Seed, Datasets: o.Datasets, Stages: []*experiment.Stage{s}, Planned: true}
	for _, p := range o.Plugins {
		switch p.Kind {
		case sdk.KindTool:
			exp.Tools = append(exp.Tools, p)
		case sdk.KindReward:
			exp.Rewards = append(exp.Rewards, p)
		case sdk.KindModel:
			exp.Models = append(exp.Models, p)
		}
	}
	stderr := o.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	dir, err := rundir.CreateAt(o.Dir, exp.Name, time.Now())
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	defer dir.Close()
	r := &run{kinds: o.Kinds, host: keepOpen{o.Host}, dir: dir, exp: exp, stderr: stderr, shareds: map[string]Instance{}}
	defer r.close()
	if err := r.loadResults(); err != nil {
		return nil, err
	}
	sr := r.runStage(ctx, s)
	return &Report{Dir: dir.Path, Experiment: exp, Results: r.res, Stages: []StageReport{sr}}, sr.Err
}

// keepOpen is a Host whose Close leaves the host open for its owner.
type keepOpen struct{ Host }

func (keepOpen) Close() {}
