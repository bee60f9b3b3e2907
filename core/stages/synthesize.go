package stages

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/synth"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// SynthesizeAttrs are the attributes of a synthesize stage.
type SynthesizeAttrs struct {
	Tool     experiment.Ref `attr:"tool,required" ref:"tool"`
	Dataset  experiment.Ref `attr:"dataset,required" ref:"dataset"`
	Split    string         `attr:"split" default:"train"`
	PerTask  int            `attr:"per_task" default:"10"`
	Seed     int            `attr:"seed" default:"experiment.seed"`
	MaxTasks int            `attr:"max_tasks" default:"0"` // 0: all
}

var synthesizeKind = runner.Kind[SynthesizeAttrs]{
	Name: "synthesize",
	Needs: func(a *SynthesizeAttrs) []runner.Need {
		return []runner.Need{{Ref: a.Tool, Cap: pluginclient.CapToolWithDemonstrate, Why: "writes demonstrations with it"}}
	},
	Run: synthesize,
}

// synthesize asks the tool for demonstrations of every task of the split,
// replays each through the tool, and writes the demonstrations (data, the
// format of `lathe data synth`) and the replayed episodes (episodes). Only
// traces that end with the tests passing become training episodes; the
// others (a trace longer than the tool's turn limit, say) are counted and
// logged.
func synthesize(ctx context.Context, env *runner.StageEnv, a *SynthesizeAttrs) (runner.Outputs, error) {
	ts, err := trainingTasks(ctx, env, a.Dataset, a.Split, a.MaxTasks)
	if err != nil {
		return nil, err
	}
	tool, demonstrator, err := demonstratingTool(ctx, env, a.Tool)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Progress, "%-12s %d tasks x %d demonstrations\n", env.Stage.Label, len(ts), a.PerTask)
	// Demonstrations run the tests at every command they write, so this
	// phase takes a while on a large set: say how far it is.
	gen := newProgress(env, len(ts), "demonstrate", func(v map[string]float64) string {
		return fmt.Sprintf("demonstrate (%.0f demos)", v["demos"])
	})
	res, err := synth.Synthesize(ctx, demonstrator, ts, synth.Options{PerTask: a.PerTask, Seed: env.Seed, Parallel: 8,
		Done: func(tasks, demos int) { gen.step(tasks, len(ts), map[string]float64{"demos": float64(demos)}) }})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env.Stage.ID(), err)
	}
	dataPath := filepath.Join(env.Dir, "demos.jsonl")
	if err := synth.WriteFile(dataPath, res.Records); err != nil {
		return nil, err
	}

	epsPath := filepath.Join(env.Dir, "episodes.jsonl")
	kept, unsolved, err := replayToFile(ctx, env, tool, res.Records, epsPath)
	if err != nil {
		return nil, err
	}
	env.Logger.Info("synthesized", "stage", env.Stage.Label, "tasks", len(ts), "demonstrations", len(res.Records),
		"episodes", kept, "unsolved", unsolved, "short_tasks", len(res.Short), "demos_per_s", res.DemosPerSecond())
	if err := env.Metrics.Log(env.Stage.Label, 0, map[string]float64{"tasks": float64(len(ts)),
		"demonstrations": float64(len(res.Records)), "episodes": float64(kept), "unsolved": float64(unsolved),
		"demos_per_s": res.DemosPerSecond()}); err != nil {
		return nil, err
	}
	if kept == 0 {
		return nil, fmt.Errorf("%s: no demonstration repaired its program", env.Stage.ID())
	}
	return runner.Outputs{outData: dataPath, outEpisodes: epsPath}, nil
}

// replayToFile replays every record through the tool, many at once (each
// step is a sandbox check, and the pool is only busy if several sessions
// are in flight), and writes the episodes that end solved to path; the
// others are counted and logged, not trained on.
func replayToFile(ctx context.Context, env *runner.StageEnv, tool sdk.Tool, recs []synth.Record, path string) (kept, unsolved int, err error) {
	eps := make([]synth.Replayed, len(recs))
	errs := make([]error, len(recs))
	bar := newProgress(env, len(recs), "replay", nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	done := 0
	for i, r := range recs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, r synth.Record) {
			defer wg.Done()
			defer func() { <-sem }()
			eps[i], errs[i] = synth.Replay(ctx, tool, r.Task(), r.Demonstration())
			mu.Lock()
			done++
			bar.step(done, len(recs), nil)
			mu.Unlock()
		}(i, r)
	}
	wg.Wait()
	err = atomicfile.WriteChecked(path, episode.FileFormat, func(w io.Writer) error {
		for i, e := range eps {
			if errs[i] != nil {
				return fmt.Errorf("%s: %w", env.Stage.ID(), errs[i])
			}
			if !e.Solved || e.Played <= recs[i].Learn {
				// Unsolved, or over before the first action to learn (a
				// policy's prefix that already ended the episode).
				unsolved++
				env.Logger.Warn("demonstration does not repair its program; left out of training",
					"task", e.TaskID, "actions", len(recs[i].Actions), "played", e.Played)
				continue
			}
			kept++
			ep := e.Episode
			ep.Split, ep.Corruptions, ep.Learn = recs[i].Split, recs[i].Corruptions, recs[i].Learn
			if err := episode.Write(w, ep); err != nil {
				return err
			}
		}
		return nil
	})
	return kept, unsolved, err
}

// trainingTasks loads the tasks a stage trains on, without those of a
// test or validation split (held out for evaluation, even when split is
// "all") and those that hold a program the experiment evaluates on, each
// left out with a warning.
func trainingTasks(ctx context.Context, env *runner.StageEnv, dataset experiment.Ref, split string, maxTasks int) ([]sdk.Task, error) {
	ts, err := loadTasks(ctx, env, dataset, split, maxTasks)
	if err != nil {
		return nil, err
	}
	kept := make([]sdk.Task, 0, len(ts))
	for _, t := range ts {
		if t.Split == tasks.SplitTest || t.Split == tasks.SplitValidation {
			env.Logger.Warn("training task left out: it is held out for evaluation", "stage", env.Stage.Label, "task", t.ID, "split", t.Split)
			continue
		}
		kept = append(kept, t)
	}
	heldOutTasks := len(ts) - len(kept)
	programs, heldOut, err := evalPrograms(ctx, env)
	if err != nil {
		return nil, err
	}
	ts, leaks := withoutLeaks(kept, programs, heldOut)
	for _, l := range leaks {
		env.Logger.Warn("training task left out: it holds a program this experiment evaluates on", "stage", env.Stage.Label, "leak", l.String())
	}
	if heldOutTasks > 0 {
		fmt.Fprintf(env.Progress, "%-12s %d training tasks left out: they are in a test or validation split, held out for evaluation (see run.log)\n", env.Stage.Label, heldOutTasks)
	}
	if len(leaks) > 0 {
		fmt.Fprintf(env.Progress, "%-12s %d training tasks left out: they hold programs this experiment evaluates on (see run.log)\n", env.Stage.Label, len(leaks))
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%s: every task of split %q is held out for evaluation (a test or validation task) or holds a program this experiment evaluates on", env.Stage.ID(), split)
	}
	return ts, nil
}

// demonstratingTool is the tool block ref names and its expert.
func demonstratingTool(ctx context.Context, env *runner.StageEnv, ref experiment.Ref) (sdk.Tool, sdk.ToolWithDemonstrate, error) {
	tool, err := env.Tool(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	d, ok := tool.(sdk.ToolWithDemonstrate)
	if !ok {
		return nil, nil, fmt.Errorf("%s: the tool does not write demonstrations", env.Stage.ID())
	}
	return tool, d, nil
}
