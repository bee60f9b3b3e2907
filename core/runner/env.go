package runner

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rundir"
	"github.com/lathe-ml/lathe/sdk"
)

// StageEnv is everything a stage implementation gets besides its typed
// attributes (Kind.Run's a): the plugin instances and the outputs of the
// stages its references name, its directory in the run, the metrics writer
// and logger.
type StageEnv struct {
	// Stage is the stage's block; its kind's Run gets Stage.Attrs decoded.
	Stage      *experiment.Stage
	Experiment *experiment.Experiment
	// Seed is the stage's seed attribute (the experiment's seed unless set).
	Seed int64
	// Dir is this stage's directory inside the run (stages/<label>), for its
	// checkpoints and data files.
	Dir     string
	RunDir  *rundir.Dir
	Metrics *rundir.Metrics
	Logger  hclog.Logger
	// Progress is where progress bars go (the terminal), never nil.
	Progress io.Writer
	// Resume is true when this stage started before in this run directory
	// and was interrupted: continue from the last checkpoint in Dir.
	Resume bool

	run *run

	mu      sync.Mutex
	primary Instance   // the instance Model returns
	models  []Instance // every model started for this stage, killed when it ends
}

// block returns the plugin block a reference names.
func (e *StageEnv) block(ref experiment.Ref, kind sdk.Kind) (*experiment.PluginBlock, error) {
	if ref.Kind == "" {
		return nil, fmt.Errorf("runner: %s: no %s reference", e.Stage.ID(), kind)
	}
	b := e.Experiment.Plugin(kind, ref.Label)
	if b == nil || ref.Kind != string(kind) {
		return nil, fmt.Errorf("runner: %s: %s is not a %s block", e.Stage.ID(), ref, kind)
	}
	return b, nil
}

// Block returns the tool, reward or model block a reference (one of the
// stage's attributes) names, with its plugin name and decoded Config.
func (e *StageEnv) Block(ref experiment.Ref) (*experiment.PluginBlock, error) {
	if ref.Kind == "" {
		return nil, fmt.Errorf("runner: %s: no plugin reference", e.Stage.ID())
	}
	return e.block(ref, sdk.Kind(ref.Kind))
}

// Tool returns the instance of the tool block ref names. Tool and reward
// instances are shared by all stages of the run.
func (e *StageEnv) Tool(ctx context.Context, ref experiment.Ref) (sdk.Tool, error) {
	b, err := e.block(ref, sdk.KindTool)
	if err != nil {
		return nil, err
	}
	inst, err := e.run.shared(ctx, b)
	if err != nil {
		return nil, err
	}
	return inst.Tool(), nil
}

// Reward returns the instance of the reward block ref names.
func (e *StageEnv) Reward(ctx context.Context, ref experiment.Ref) (sdk.Reward, error) {
	b, err := e.block(ref, sdk.KindReward)
	if err != nil {
		return nil, err
	}
	inst, err := e.run.shared(ctx, b)
	if err != nil {
		return nil, err
	}
	return inst.Reward(), nil
}

// Model returns this stage's instance of the model block ref names,
// started and configured on first use and killed when the stage ends. Its
// value also implements sdk.ModelWithTraining and sdk.ModelWithCheckpoints
// when Capabilities lists them.
func (e *StageEnv) Model(ctx context.Context, ref experiment.Ref) (sdk.Model, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.primary == nil {
		inst, err := e.startModelLocked(ctx, ref)
		if err != nil {
			return nil, err
		}
		e.primary = inst
	}
	return e.primary.Model(), nil
}

// StartModel starts another instance of the model block ref names,
// configured the same way: the frozen reference policy of GRPO, say. It is
// killed when the stage ends.
func (e *StageEnv) StartModel(ctx context.Context, ref experiment.Ref) (sdk.Model, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inst, err := e.startModelLocked(ctx, ref)
	if err != nil {
		return nil, err
	}
	return inst.Model(), nil
}

func (e *StageEnv) startModelLocked(ctx context.Context, ref experiment.Ref) (Instance, error) {
	b, err := e.block(ref, sdk.KindModel)
	if err != nil {
		return nil, err
	}
	inst, err := e.run.start(ctx, b)
	if err != nil {
		return nil, err
	}
	e.models = append(e.models, inst)
	return inst, nil
}

// Capabilities lists the optional interfaces of the plugin ref names
// (starting the shared instance of a tool or reward, or this stage's model
// instance).
func (e *StageEnv) Capabilities(ctx context.Context, ref experiment.Ref) ([]string, error) {
	b, err := e.Block(ref)
	if err != nil {
		return nil, err
	}
	if b.Kind == sdk.KindModel {
		if _, err := e.Model(ctx, ref); err != nil {
			return nil, err
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.primary.Capabilities(), nil
	}
	inst, err := e.run.shared(ctx, b)
	if err != nil {
		return nil, err
	}
	return inst.Capabilities(), nil
}

// Dataset returns the dataset block ref names.
func (e *StageEnv) Dataset(ref experiment.Ref) (*experiment.Dataset, error) {
	if ref.Kind != "dataset" {
		return nil, fmt.Errorf("runner: %s: no dataset reference", e.Stage.ID())
	}
	d := e.Experiment.Dataset(ref.Label)
	if d == nil {
		return nil, fmt.Errorf("runner: %s: no dataset %q", e.Stage.ID(), ref.Label)
	}
	return d, nil
}

// StageOutput is a finished stage's record as its users see it. For an
// attribute written as a path (experiment.PathRef), Kind is PathRef and
// Label the path, with no Outputs.
type StageOutput struct {
	Label string
	Kind  string
	// Outputs hold absolute paths: "checkpoint" -> dir, "data" -> file.
	Outputs Outputs
}

// Input returns the outputs of the stage ref (an attribute such as init)
// names, and false when the attribute is unset (ref is zero).
func (e *StageEnv) Input(ref experiment.Ref) (StageOutput, bool, error) {
	if ref.Kind == "" {
		return StageOutput{}, false, nil
	}
	if ref.Kind == experiment.PathRef {
		return StageOutput{Label: ref.Label, Kind: experiment.PathRef}, true, nil
	}
	out, err := e.run.output(ref.Label)
	return out, true, err
}

// Inputs returns the outputs of the stages a list attribute (such as
// checkpoints) references, in order; a path (experiment.PathRef) is
// returned as Input returns it.
func (e *StageEnv) Inputs(refs []experiment.Ref) ([]StageOutput, error) {
	var out []StageOutput
	for _, ref := range refs {
		if ref.Kind == experiment.PathRef {
			out = append(out, StageOutput{Label: ref.Label, Kind: experiment.PathRef})
			continue
		}
		o, err := e.run.output(ref.Label)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// SetResults stores this eval's result rows in results.json, replacing
// any it stored before. An eval may call it more than once (after each
// checkpoint, so that an interrupted eval still shows what it finished).
func (e *StageEnv) SetResults(rows []results.Row, budgets []results.BudgetRow) error {
	for i := range rows {
		rows[i].Eval = e.Stage.Label
	}
	for i := range budgets {
		budgets[i].Eval = e.Stage.Label
	}
	return e.run.setResults(e.Stage.Label, rows, budgets)
}

// close kills the stage's model instances.
func (e *StageEnv) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.models {
		m.Kill()
	}
	e.models, e.primary = nil, nil
}
