package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/evaluate"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(command{
		name:    "eval",
		summary: "evaluate a checkpoint or a configured model on a task set outside an experiment",
		run:     runEval,
	})
}

const evalUsage = `eval (--checkpoint DIR | --model FILE.hcl | --model-plugin NAME) --tasks SRC [flags]

Evaluates a model with a tool on the tasks of SRC (builtin:NAME,
mbpp:PATH, humaneval:PATH, quixbugs:DIR, jsonl:PATH): n sampled episodes per
task for the unbiased pass@k, one greedy episode for greedy pass@1, mean
turns, tokens, wall time and success by turn budget. Tasks given only as
correct code are broken first by the tool's corruption engine with --seed,
as an experiment's eval block does.

The model is one of: the checkpoint in DIR (a step-N directory, a
checkpoints/ directory or a stage directory of a run), started as the
plugin that wrote it; the model block of FILE.hcl (a file of model blocks
or a whole experiment; --model-label picks one of several, -var sets its
variables), as an experiment's eval block without checkpoints evaluates
it; or the plugin NAME with --model-option NAME=VALUE options (a served
model: --model-plugin openai --model-option base_url=http://127.0.0.1:8000/v1
--model-option model=qwen2.5-coder).`

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", evalUsage, stderr)
	checkpoint := fs.String("checkpoint", "", "checkpoint directory")
	modelFile := fs.String("model", "", "HCL file with the model block to evaluate")
	modelLabel := fs.String("model-label", "", "which model block of --model FILE, when it holds several")
	var vars varsFlag
	fs.Var(&vars, "var", "set a variable `NAME=VALUE` of --model FILE (repeatable)")
	modelPlugin := fs.String("model-plugin", "", "model plugin to start and configure with --model-option (a built-in name or an executable path)")
	modelOpts := toolOptions{}
	fs.Var(modelOpts, "model-option", "`NAME=VALUE` option of --model-plugin, as in a model block (repeatable)")
	source := fs.String("tasks", "", "task source (required)")
	split := fs.String("split", "test", "split of the task source: train, validation, test or all")
	tool := fs.String("tool", "coedit", "tool plugin: a built-in name or an executable path")
	maxTasks := fs.Int("max-tasks", 0, "evaluate only the first N tasks (0: all)")
	samples := fs.Int("samples", 4, "sampled episodes per task (n)")
	kList := fs.String("k", "1,4", "comma-separated k of pass@k, each <= samples")
	temperature := fs.Float64("temperature", 0.8, "sampling temperature")
	maxTurns := fs.Int("max-turns", 0, "turn limit on top of the tool's own (0: the tool's)")
	maxTokens := fs.Int("max-tokens", 96, "tokens per action")
	history := fs.String("history", "full", "context history: full or last")
	seed := fs.Int64("seed", 1, "seed of sampling and of breaking correct programs")
	format := fs.String("format", "table", "output: table, markdown, csv or json")
	verbose := fs.Bool("v", false, "log plugin output")
	opts := toolOptions{}
	fs.Var(opts, "tool-option", "`NAME=VALUE` option of the tool, as in the experiment's tool block (repeatable)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	given := 0
	for _, s := range []string{*checkpoint, *modelFile, *modelPlugin} {
		if s != "" {
			given++
		}
	}
	if given != 1 || *source == "" {
		fs.Usage()
		return errors.New("--tasks and one of --checkpoint, --model and --model-plugin are required")
	}
	if len(modelOpts) > 0 && *modelPlugin == "" {
		return errors.New("--model-option needs --model-plugin")
	}
	var ks []int
	for _, s := range strings.Split(*kList, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 || k > *samples {
			return fmt.Errorf("--k: %q is not a whole number between 1 and --samples (%d)", s, *samples)
		}
		ks = append(ks, k)
	}
	h, err := episode.ParseHistory(*history)
	if err != nil {
		return err
	}
	ts, err := tasks.Load(ctx, *source, tasks.Options{Split: *split, Seed: *seed, MaxTasks: *maxTasks,
		Warn: func(err error) { fmt.Fprintln(stderr, "warning:", err) }})
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return fmt.Errorf("%s has no tasks in split %q", *source, *split)
	}

	host := newStderrHost(stderr, *verbose)
	defer host.Close()
	var model sdk.Model
	var cur train.Cursor
	what := *checkpoint
	switch {
	case *checkpoint != "":
		dir, _, err := train.ResolveCheckpoint(*checkpoint)
		if err != nil {
			return err
		}
		if model, cur, err = startCheckpointModel(ctx, host, dir); err != nil {
			return err
		}
		what = fmt.Sprintf("%s (stage %s, step %d)", dir, cur.Stage, cur.Step)
	case *modelFile != "":
		src, err := os.ReadFile(*modelFile)
		if err != nil {
			return err
		}
		block, file, diags := experiment.LoadModel(ctx, *modelFile, src, vars, *modelLabel, host)
		if diags.HasErrors() {
			printDiagnostics(stderr, &runner.DiagnosticsError{Diags: diags, Files: file.Files()})
			return errSilent
		}
		if model, err = startModel(ctx, host, block.Label, block.Plugin, block.Config); err != nil {
			return err
		}
		cur.Plugin = block.Label
		what = fmt.Sprintf("%s (plugin %s)", block.Ref(), block.Plugin)
	default:
		if model, err = startModelPlugin(ctx, host, *modelPlugin, modelOpts); err != nil {
			return err
		}
		cur.Plugin = *modelPlugin
		what = "plugin " + *modelPlugin
	}
	t, err := startToolPlugin(ctx, host, *tool, opts)
	if err != nil {
		return err
	}
	breaker, ok := t.(sdk.ToolWithDemonstrate)
	if !ok {
		return fmt.Errorf("tool %s cannot break correct programs into repair tasks", *tool)
	}
	ts, _, err = tasks.RepairTasks(ctx, ts, *seed, breaker, 0, func(err error) { fmt.Fprintln(stderr, "warning:", err) })
	if err != nil {
		return err
	}
	engine := &rollout.Engine{Tool: t, Model: model}
	fmt.Fprintf(stderr, "evaluating %s with %s on %d tasks x %d samples (+ greedy)\n",
		what, *tool, len(ts), *samples)
	res, err := evaluate.Run(ctx, engine, ts, evaluate.Options{Samples: *samples, Ks: ks, Temperature: *temperature,
		MaxTokens: *maxTokens, MaxTurns: *maxTurns, History: h, Seed: *seed, Greedy: true})
	if err != nil {
		return err
	}
	row := results.Row{Eval: "eval", Stage: cur.Stage, StageKind: cur.StageKind, Tool: *tool, Model: cur.Plugin, Tasks: res.Tasks,
		Samples: res.Samples, PassAt: res.PassAtK, MeanTurns: res.MeanTurns, Tokens: int64(res.Tokens), WallS: res.Wall.Seconds()}
	if res.GreedyPass1 >= 0 {
		g := res.GreedyPass1
		row.GreedyPass1 = &g
	}
	set := &results.Results{Experiment: "eval", Rows: []results.Row{row}, Run: what}
	for b := 1; b < len(res.TurnBudget); b++ {
		set.Budgets = append(set.Budgets, results.BudgetRow{Eval: "eval", Stage: cur.Stage, StageKind: cur.StageKind, Tool: *tool,
			MaxTurns: b, Tasks: res.Tasks, Success: res.TurnBudget[b]})
	}
	set.Notes = []string{fmt.Sprintf("tasks=%s split=%s samples=%d k=%v temperature=%g history=%s seed=%d",
		*source, *split, *samples, slices.Sorted(slices.Values(ks)), *temperature, h, *seed)}
	return results.Write(stdout, *format, []*results.Results{set})
}
