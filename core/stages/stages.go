// Package stages implements the built-in experiment stage kinds:
// synthesize (demonstrations replayed into training episodes), dagger
// (the expert's continuations of a policy's own episodes), pretrain
// (language modelling on a corpus), sft (supervised fine-tuning on
// demonstrations), grpo (multi-turn RL with verifiable rewards) and eval
// (pass@k, greedy pass@1 and turn-budget curves on held-out tasks). Each
// kind is one runner.Kind in its own file: its attribute struct (the
// schema of its blocks and the value its run function reads), the plugin
// capabilities it needs and its run function; Kinds lists them, and is
// what `lathe run` and `lathe validate` hand the runner.
package stages

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"

	// registers the "mined" task source (functions of a corpus, tests recorded)
	_ "github.com/lathe-ml/lathe/core/mine"
)

// Definitions lists the built-in stage kinds: adding a kind is writing its
// runner.Kind in a file of its own and naming it here. The kinds a stage
// reference is restricted to (sft's data: synthesize stages) must be
// listed too; diagnostics name the checkpoint kinds in this order.
func Definitions() []runner.Definer {
	return []runner.Definer{synthesizeKind, daggerKind, pretrainKind, sftKind, grpoKind, evalKind}
}

// Kinds returns the registry of the built-in stage kinds, which `lathe
// run` and `lathe validate` hand the runner.
func Kinds() *runner.Registry { return kinds() }

var kinds = sync.OnceValue(func() *runner.Registry { return runner.MustRegistry(Definitions()...) })

// trainsModel is what a training stage needs of its model.
func trainsModel(model experiment.Ref) []runner.Need {
	return []runner.Need{
		{Ref: model, Cap: pluginclient.CapModelWithTraining, Why: "trains it"},
		{Ref: model, Cap: pluginclient.CapModelWithCheckpoints, Why: "saves its checkpoints"},
	}
}

// Output names shared between stages.
const (
	outData       = "data"       // JSONL demonstrations (synthesize)
	outEpisodes   = "episodes"   // JSONL replayed episodes (synthesize)
	outCheckpoint = "checkpoint" // final checkpoint directory (sft, grpo)
)

// loadTasks reads the tasks of the dataset block ref names, restricted to
// split and to the first maxTasks (0: all).
func loadTasks(ctx context.Context, env *runner.StageEnv, ref experiment.Ref, split string, maxTasks int) ([]sdk.Task, error) {
	ds, err := env.Dataset(ref)
	if err != nil {
		return nil, err
	}
	ts, err := loadDataset(ctx, env, ds, split)
	if err != nil {
		return nil, err
	}
	if n := maxTasks; n > 0 && len(ts) > n {
		ts = ts[:n]
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%s: dataset %q has no tasks in split %q", env.Stage.ID(), ds.Label, split)
	}
	return ts, nil
}

// loadDataset reads the tasks of a dataset block in one split.
func loadDataset(ctx context.Context, env *runner.StageEnv, ds *experiment.Dataset, split string) ([]sdk.Task, error) {
	var a experiment.DatasetAttrs
	if err := ds.Attrs.Decode(&a); err != nil {
		return nil, fmt.Errorf("%s: dataset %q: %w", env.Stage.ID(), ds.Label, err)
	}
	opts := tasks.Options{
		Split:              split,
		Seed:               int64(a.Seed),
		MaxTasks:           a.MaxTasks,
		Strict:             a.Strict,
		TestFraction:       a.TestFraction,
		ValidationFraction: a.ValidationFraction,
		Warn:               func(err error) { env.Logger.Warn("dataset record skipped", "dataset", ds.Label, "error", err) },
	}
	ts, err := tasks.Load(ctx, a.Source, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: dataset %q: %w", env.Stage.ID(), ds.Label, err)
	}
	return ts, nil
}

// trainable returns the stage's instance of the model block ref names as
// a model that can train and checkpoint (or says clearly that the plugin
// cannot), with the block.
func trainable(ctx context.Context, env *runner.StageEnv, ref experiment.Ref) (train.Trainable, *experiment.PluginBlock, sdk.Config, error) {
	m, err := env.Model(ctx, ref)
	if err != nil {
		return nil, nil, sdk.Config{}, err
	}
	t, ok := m.(train.Trainable)
	if !ok {
		return nil, nil, sdk.Config{}, fmt.Errorf("%s: the model plugin cannot be trained", env.Stage.ID())
	}
	b, err := env.Block(ref)
	if err != nil {
		return nil, nil, sdk.Config{}, err
	}
	cfg, err := sdk.ConfigFrom(b.Config)
	if err != nil {
		return nil, nil, sdk.Config{}, err
	}
	return t, b, cfg, nil
}

// schedule is the part of a training stage's attributes that every
// training loop reads.
type schedule struct {
	steps, checkpointEvery int
	lr                     float64
}

// common fills the settings both training loops share.
func common(env *runner.StageEnv, s schedule, dir string, plugin string, cfg sdk.Config, bar *progress) train.Common {
	return train.Common{
		Stage:           env.Stage.Label,
		StageKind:       env.Stage.Kind,
		Steps:           s.steps,
		CheckpointEvery: s.checkpointEvery,
		Seed:            env.Seed,
		CheckpointDir:   dir,
		LearningRate:    s.lr,
		Metrics: func(step int, values map[string]float64) error {
			return env.Metrics.Log(env.Stage.Label, step, finite(values))
		},
		Progress:     bar.step,
		Plugin:       plugin,
		PluginConfig: cfg,
	}
}

// finite drops NaN and Inf values, which JSON cannot hold, and keeps the
// rest.
func finite(values map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(values))
	for k, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

// progress draws a bar with ETA when the run's output is a terminal, and
// otherwise prints a plain line every tenth of the way; either way it logs
// a line to run.log at most every 10 s, so long stages show life both
// interactively and in the log.
type progress struct {
	env      *runner.StageEnv
	bar      *progressbar.ProgressBar // nil when not on a terminal
	total    int
	start    time.Time
	lastLog  time.Time
	lastLine int // tenths printed so far, without a terminal
	describe func(values map[string]float64) string
}

func newProgress(env *runner.StageEnv, total int, what string, describe func(map[string]float64) string) *progress {
	p := &progress{env: env, total: total, describe: describe, start: time.Now()}
	if f, ok := env.Progress.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		w := env.Progress
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(fmt.Sprintf("%-12s %s", env.Stage.Label, what)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return p
}

func (p *progress) step(step, total int, values map[string]float64) {
	if p == nil {
		return
	}
	desc := ""
	if p.describe != nil && values != nil {
		desc = p.describe(values)
	}
	if p.bar != nil {
		if desc != "" {
			p.bar.Describe(fmt.Sprintf("%-12s %s", p.env.Stage.Label, desc))
		}
		_ = p.bar.Set(step)
	} else if tenth := step * 10 / max(total, 1); tenth > p.lastLine || step == total {
		p.lastLine = tenth
		elapsed := time.Since(p.start)
		eta := time.Duration(float64(elapsed) / float64(max(step, 1)) * float64(total-step))
		fmt.Fprintf(p.env.Progress, "%-12s %d/%d %s  elapsed %s  eta %s\n", p.env.Stage.Label, step, total, desc,
			elapsed.Round(time.Second), eta.Round(time.Second))
	}
	if time.Since(p.lastLog) > 10*time.Second || step == total {
		p.lastLog = time.Now()
		args := []any{"stage", p.env.Stage.Label, "step", step, "of", total}
		for _, k := range []string{"loss", "reward", "pass_rate"} {
			if v, ok := values[k]; ok {
				args = append(args, k, fmt.Sprintf("%.4f", v))
			}
		}
		p.env.Logger.Info("progress", args...)
	}
}
