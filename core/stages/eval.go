package stages

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/evaluate"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// EvalAttrs are the attributes of an eval block.
type EvalAttrs struct {
	Model   experiment.Ref `attr:"model,required" ref:"model"`
	Tool    experiment.Ref `attr:"tool,required" ref:"tool"`
	Dataset experiment.Ref `attr:"dataset,required" ref:"dataset"`
	Split   string         `attr:"split" default:"test"`
	// Checkpoints: one result row each, a stage of this run or, quoted,
	// the path of another run's checkpoint (as init takes it); none
	// evaluates the model as configured.
	Checkpoints []experiment.Ref `attr:"checkpoints,path" ref:"stage" output:"checkpoint"`
	K           []int            `attr:"k" default:"1,4"`
	Samples     int              `attr:"samples" default:"max(k)"`
	Temperature float64          `attr:"temperature" default:"0.8"`
	MaxTurns    int              `attr:"max_turns"` // 0: the tool's own limit
	MaxTokens   int              `attr:"max_tokens" default:"96"`
	History     string           `attr:"history" enum:"full,last" default:"full"`
	// Overlap: the model writes one batch of actions while the tool checks
	// another; the episodes are the same either way.
	Overlap     bool  `attr:"overlap" default:"true"`
	TurnBudgets []int `attr:"turn_budgets"`
	MaxTasks    int   `attr:"max_tasks" default:"0"` // 0: all
	Seed        int   `attr:"seed" default:"experiment.seed"`
}

var evalKind = runner.Kind[EvalAttrs]{
	Name: "eval",
	Needs: func(a *EvalAttrs) []runner.Need {
		if len(a.Checkpoints) == 0 {
			return nil
		}
		return []runner.Need{{Ref: a.Model, Cap: pluginclient.CapModelWithCheckpoints, Why: "loads checkpoints into it"}}
	},
	Run: eval,
}

func eval(ctx context.Context, env *runner.StageEnv, a *EvalAttrs) (runner.Outputs, error) {
	h, err := episode.ParseHistory(a.History)
	if err != nil {
		return nil, err
	}
	ts, ops, err := repairTasks(ctx, env, a.Tool, a.Dataset, a.Split, a.MaxTasks)
	if err != nil {
		return nil, err
	}
	m, err := env.Model(ctx, a.Model)
	if err != nil {
		return nil, err
	}
	e, err := engine(ctx, env, a.Tool, experiment.Ref{}, m, a.Overlap)
	if err != nil {
		return nil, err
	}
	closeCluster, err := fanOut(ctx, env, e, m, a.Tool, a.Model, experiment.Ref{})
	if err != nil {
		return nil, err
	}
	defer closeCluster()
	toolBlock, err := env.Block(a.Tool)
	if err != nil {
		return nil, err
	}
	maxTurns := a.MaxTurns
	if v, ok := toolBlock.Config["max_turns"].(float64); ok && maxTurns <= 0 {
		maxTurns = int(v) // the tool's own limit
	}
	// The engine reports before each turn, so a pass starts at its turn 1
	// and turn t comes after t-1 turns of it.
	var passStart time.Time
	e.Progress = func(turn, live, total int) {
		if turn == 1 {
			passStart = time.Now()
		}
		el := time.Since(passStart)
		line := fmt.Sprintf("%-12s turn %d: %d of %d episodes still running  elapsed %s", env.Stage.Label, turn, live, total,
			el.Round(time.Second))
		if done := turn - 1; done > 0 && maxTurns >= turn {
			// At most the remaining turns at the pace so far (fewer
			// episodes are left each turn, so this is an upper bound).
			line += fmt.Sprintf("  eta <= %s", (el / time.Duration(done) * time.Duration(maxTurns-done)).Round(time.Second))
		}
		fmt.Fprintln(env.Progress, line)
	}
	modelBlock, err := env.Block(a.Model)
	if err != nil {
		return nil, err
	}
	checkpoints, err := env.Inputs(a.Checkpoints)
	if err != nil {
		return nil, err
	}
	for i, ck := range checkpoints {
		if ck.Kind == experiment.PathRef {
			if checkpoints[i], err = checkpointAt(ck.Label); err != nil {
				return nil, fmt.Errorf("%s: checkpoints: %w", env.Stage.ID(), err)
			}
		}
	}
	// No checkpoints: evaluate the model as configured (an inference-only
	// model, say).
	if len(checkpoints) == 0 {
		checkpoints = []runner.StageOutput{{}}
	}
	ks := a.K
	n := max(a.Samples, slices.Max(append([]int{1}, ks...)))
	opts := evaluate.Options{
		Samples:     n,
		Ks:          ks,
		Temperature: a.Temperature,
		MaxTokens:   a.MaxTokens,
		MaxTurns:    a.MaxTurns,
		History:     h,
		Seed:        env.Seed,
		Greedy:      true,
	}
	for _, o := range ops {
		opts.Labels = append(opts.Labels, evaluate.CorruptionLabels(o))
	}
	var rows []results.Row
	var budgets []results.BudgetRow
	for _, ck := range checkpoints {
		if dir := ck.Outputs[outCheckpoint]; dir != "" {
			lm, ok := m.(sdk.ModelWithCheckpoints)
			if !ok {
				return nil, fmt.Errorf("%s: the model plugin cannot load checkpoints", env.Stage.ID())
			}
			if err := lm.Load(ctx, dir); err != nil {
				return nil, fmt.Errorf("%s: load checkpoint of stage %q: %w", env.Stage.ID(), ck.Label, err)
			}
		}
		env.Logger.Info("evaluating", "eval", env.Stage.Label, "checkpoint", ck.Label, "tool", toolBlock.Plugin,
			"tasks", len(ts), "samples", n)
		fmt.Fprintf(env.Progress, "%-12s evaluating %s with %s on %d tasks x %d samples (+ greedy)\n",
			env.Stage.Label, labelOr(ck.Label, modelBlock.Label), toolBlock.Plugin, len(ts), n)
		res, err := evaluate.Run(ctx, e, ts, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: checkpoint %q: %w", env.Stage.ID(), ck.Label, err)
		}
		if res.Overflows > 0 {
			// An episode that outgrew the window ended without its action:
			// the numbers then measure the window, not the model.
			sampled := res.Tasks * res.Samples
			env.Logger.Warn("episodes outgrew the model's window", "eval", env.Stage.Label, "checkpoint", ck.Label,
				"overflows", res.Overflows, "episodes", sampled)
			fmt.Fprintf(env.Progress, "%-12s warning: %d of %d sampled episodes outgrew the model's window and ended early; raise the model's context or lower max_tokens (%d)\n",
				env.Stage.Label, res.Overflows, sampled, a.MaxTokens)
		}
		row := results.Row{
			Stage: ck.Label, StageKind: ck.Kind, Tool: toolBlock.Plugin, Model: modelBlock.Label,
			Tasks: res.Tasks, Samples: res.Samples, PassAt: res.PassAtK, MeanTurns: res.MeanTurns,
			Tokens: int64(res.Tokens), WallS: res.Wall.Seconds(), Breakdown: res.Groups,
		}
		if res.GreedyPass1 >= 0 {
			g := res.GreedyPass1
			row.GreedyPass1 = &g
		}
		rows = append(rows, row)
		if err := writeGreedyEpisodes(env, ck.Label, ts, ops, res.Greedy); err != nil {
			return nil, err
		}
		for _, b := range a.TurnBudgets {
			curve := res.TurnBudget
			budgets = append(budgets, results.BudgetRow{
				Stage: ck.Label, StageKind: ck.Kind, Tool: toolBlock.Plugin, MaxTurns: b,
				Tasks: res.Tasks, Success: curve[min(b, len(curve)-1)],
			})
		}
		values := map[string]float64{"tasks": float64(res.Tasks), "mean_turns": res.MeanTurns,
			"tokens": float64(res.Tokens), "wall_s": res.Wall.Seconds(), "overflows": float64(res.Overflows)}
		for k, p := range res.PassAtK {
			values[fmt.Sprintf("pass@%d", k)] = p
		}
		for k, v := range res.Phases.Seconds() {
			values[k] = v
		}
		if err := env.Metrics.Write(map[string]any{"eval": env.Stage.Label, "checkpoint": ck.Label,
			"tool": toolBlock.Plugin, "values": finite(values), "turn_budget": res.TurnBudget}); err != nil {
			return nil, err
		}
		// Stored after every checkpoint, so an interrupted eval keeps what
		// it finished.
		if err := env.SetResults(slices.Clone(rows), slices.Clone(budgets)); err != nil {
			return nil, err
		}
	}
	return runner.Outputs{}, nil
}

// checkpointAt is the checkpoint a path names (train.ResolveCheckpoint) as
// the output of the stage that wrote it, named as that stage was.
func checkpointAt(path string) (runner.StageOutput, error) {
	dir, cur, err := train.ResolveCheckpoint(path)
	if err != nil {
		return runner.StageOutput{}, err
	}
	label := cur.Stage
	if label == "" {
		label = filepath.Base(dir)
	}
	return runner.StageOutput{Label: label, Kind: cur.StageKind, Outputs: runner.Outputs{outCheckpoint: dir}}, nil
}

func labelOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// writeGreedyEpisodes keeps what the model wrote: the greedy episode of
// every task, in the synthesize stage's episodes format, as
// <stage dir>/<checkpoint>.episodes.jsonl (model.episodes.jsonl when the
// model is evaluated as configured).
func writeGreedyEpisodes(env *runner.StageEnv, checkpoint string, ts []sdk.Task, ops [][]string, greedy []*rollout.Trajectory) error {
	if len(greedy) == 0 {
		return nil
	}
	path := filepath.Join(env.Dir, labelOr(checkpoint, "model")+".episodes.jsonl")
	return atomicfile.WriteChecked(path, episode.FileFormat, func(w io.Writer) error {
		for i, tr := range greedy {
			e := tr.Episode()
			if i < len(ops) {
				e.Corruptions = ops[i]
			}
			if err := episode.Write(w, e); err != nil {
				return err
			}
		}
		return nil
	})
}
