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

// StageEnv is everything a stage implementation gets: its decoded
// attributes, the plugin instances its references name (by the attribute
// that names them: "tool", "model", "reward"), the outputs of the stages it
// references, its directory in the run, the metrics writer and logger.
type StageEnv struct {
	// Stage is the stage's block; Stage.Attrs has typed accessors, which the
	// shortcuts below (String, Int, ...) forward to.
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

// String returns a string attribute of the stage.
func (e *StageEnv) String(name string) string { return e.Stage.Attrs.String(name) }

// Int returns a whole-number attribute of the stage.
func (e *StageEnv) Int(name string) int { return e.Stage.Attrs.Int(name) }

// Float returns a number attribute of the stage.
func (e *StageEnv) Float(name string) float64 { return e.Stage.Attrs.Float(name) }

// Bool returns a bool attribute of the stage.
func (e *StageEnv) Bool(name string) bool { return e.Stage.Attrs.Bool(name) }

// Ints returns a list-of-whole-numbers attribute of the stage.
func (e *StageEnv) Ints(name string) []int { return e.Stage.Attrs.Ints(name) }

// Has reports whether an attribute is set (or has a default).
func (e *StageEnv) Has(name string) bool { return e.Stage.Attrs.Has(name) }

// block returns the plugin block that attribute attr refers to.
func (e *StageEnv) block(attr string, kind sdk.Kind) (*experiment.PluginBlock, error) {
	ref, ok := e.Stage.Attrs.Ref(attr)
	if !ok {
		return nil, fmt.Errorf("runner: %s has no %q reference", e.Stage.ID(), attr)
	}
	b := e.Experiment.Plugin(kind, ref.Label)
	if b == nil || ref.Kind != string(kind) {
		return nil, fmt.Errorf("runner: %s: %s is not a %s block", e.Stage.ID(), ref, kind)
	}
	return b, nil
}

// Block returns the tool, reward or model block that attribute attr names,
// with its plugin name and decoded Config.
func (e *StageEnv) Block(attr string) (*experiment.PluginBlock, error) {
	ref, ok := e.Stage.Attrs.Ref(attr)
	if !ok {
		return nil, fmt.Errorf("runner: %s has no %q reference", e.Stage.ID(), attr)
	}
	return e.block(attr, sdk.Kind(ref.Kind))
}

// Tool returns the tool instance named by attribute attr (usually "tool").
// Tool and reward instances are shared by all stages of the run.
func (e *StageEnv) Tool(ctx context.Context, attr string) (sdk.Tool, error) {
	b, err := e.block(attr, sdk.KindTool)
	if err != nil {
		return nil, err
	}
	inst, err := e.run.shared(ctx, b)
	if err != nil {
		return nil, err
	}
	return inst.Tool(), nil
}

// Reward returns the reward instance named by attribute attr.
func (e *StageEnv) Reward(ctx context.Context, attr string) (sdk.Reward, error) {
	b, err := e.block(attr, sdk.KindReward)
	if err != nil {
		return nil, err
	}
	inst, err := e.run.shared(ctx, b)
	if err != nil {
		return nil, err
	}
	return inst.Reward(), nil
}

// Model returns this stage's model instance for attribute attr (usually
// "model"), started and configured on first use and killed when the stage
// ends. Its value also implements sdk.ModelWithTraining and
// sdk.ModelWithCheckpoints when Capabilities lists them.
func (e *StageEnv) Model(ctx context.Context, attr string) (sdk.Model, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.primary == nil {
		inst, err := e.startModelLocked(ctx, attr)
		if err != nil {
			return nil, err
		}
		e.primary = inst
	}
	return e.primary.Model(), nil
}

// StartModel starts another instance of the model block that attr names,
// configured the same way: the frozen reference policy of GRPO, say. It is
// killed when the stage ends.
func (e *StageEnv) StartModel(ctx context.Context, attr string) (sdk.Model, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inst, err := e.startModelLocked(ctx, attr)
	if err != nil {
		return nil, err
	}
	return inst.Model(), nil
}

func (e *StageEnv) startModelLocked(ctx context.Context, attr string) (Instance, error) {
	b, err := e.block(attr, sdk.KindModel)
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

// Capabilities lists the optional interfaces of the plugin that attribute
// attr names (starting the shared instance of a tool or reward, or this
// stage's model instance).
func (e *StageEnv) Capabilities(ctx context.Context, attr string) ([]string, error) {
	b, err := e.Block(attr)
	if err != nil {
		return nil, err
	}
	if b.Kind == sdk.KindModel {
		if _, err := e.Model(ctx, attr); err != nil {
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

// Dataset returns the dataset block that attribute attr (usually
// "dataset") names.
func (e *StageEnv) Dataset(attr string) (*experiment.Dataset, error) {
	ref, ok := e.Stage.Attrs.Ref(attr)
	if !ok || ref.Kind != "dataset" {
		return nil, fmt.Errorf("runner: %s has no dataset reference %q", e.Stage.ID(), attr)
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

// Input returns the outputs of the stage that attribute attr (such as
// "data" or "init") references, and false when the attribute is unset.
func (e *StageEnv) Input(attr string) (StageOutput, bool, error) {
	ref, ok := e.Stage.Attrs.Ref(attr)
	if !ok {
		return StageOutput{}, false, nil
	}
	if ref.Kind == experiment.PathRef {
		return StageOutput{Label: ref.Label, Kind: experiment.PathRef}, true, nil
	}
	out, err := e.run.output(ref.Label)
	return out, true, err
}

// Inputs returns the outputs of the stages a list attribute (such as
// "checkpoints") references, in order.
func (e *StageEnv) Inputs(attr string) ([]StageOutput, error) {
	var out []StageOutput
	for _, ref := range e.Stage.Attrs.Refs(attr) {
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
