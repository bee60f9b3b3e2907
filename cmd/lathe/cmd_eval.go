package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/stages"
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
as an experiment's eval block does: the eval runs as an eval block of
an experiment with the same settings would, by the same stage code and
with the same defaults (samples defaults to the largest k), in a run
directory of its own that --out DIR keeps (results, metrics and every
task's greedy episode) and that is deleted otherwise.

The model is one of: the checkpoint in DIR (a step-N directory, a
checkpoints/ directory or a stage directory of a run), started as the
plugin that wrote it; the model block of FILE.hcl (a file of model blocks
or a whole experiment; --model-label picks one of several, -var sets its
variables), as an experiment's eval block without checkpoints evaluates
it; or the plugin NAME with --model-option NAME=VALUE options (a served
model: --model-plugin openai --model-option base_url=http://127.0.0.1:8000/v1
--model-option model=qwen2.5-coder).`

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The flags' defaults are the eval kind's, as an experiment's eval
	// block has them; the stage runs as in an experiment (stages.EvalAttrs).
	defVals, _ := stages.Kinds().Defaults("eval", nil, 1)
	var def stages.EvalAttrs
	if err := defVals.Decode(&def); err != nil {
		return err
	}
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
	split := fs.String("split", def.Split, "split of the task source: train, validation, test or all")
	tool := fs.String("tool", "coedit", "tool plugin: a built-in name or an executable path")
	maxTasks := fs.Int("max-tasks", def.MaxTasks, "evaluate only the first N tasks (0: all)")
	samples := fs.Int("samples", def.Samples, "sampled episodes per task (n; unset: the largest k)")
	kList := fs.String("k", joinInts(def.K), "comma-separated k of pass@k, each <= samples")
	temperature := fs.Float64("temperature", def.Temperature, "sampling temperature")
	maxTurns := fs.Int("max-turns", def.MaxTurns, "turn limit on top of the tool's own (0: the tool's)")
	maxTokens := fs.Int("max-tokens", def.MaxTokens, "tokens per action")
	history := fs.String("history", def.History, "context history: full or last")
	seed := fs.Int64("seed", 1, "seed of sampling and of breaking correct programs")
	format := fs.String("format", "table", "output: table, markdown, csv or json")
	out := fs.String("out", "", "keep the run directory (results, metrics, every task's greedy episode) in `DIR`")
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
	samplesSet := false
	fs.Visit(func(f *flag.Flag) { samplesSet = samplesSet || f.Name == "samples" })
	var ks []int
	for _, s := range strings.Split(*kList, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 || (samplesSet && k > *samples) {
			if !samplesSet {
				return fmt.Errorf("--k: %q is not a whole number >= 1", s)
			}
			return fmt.Errorf("--k: %q is not a whole number between 1 and --samples (%d)", s, *samples)
		}
		ks = append(ks, k)
	}
	if _, err := episode.ParseHistory(*history); err != nil {
		return err
	}
	set := experiment.Values{"split": *split, "max_tasks": *maxTasks, "k": ks, "temperature": *temperature,
		"max_turns": *maxTurns, "max_tokens": *maxTokens, "history": *history, "seed": int(*seed)}
	if samplesSet {
		set["samples"] = *samples
	}
	vals, _ := stages.Kinds().Defaults("eval", set, *seed)
	var a stages.EvalAttrs
	if err := vals.Decode(&a); err != nil {
		return err
	}

	host := newStderrHost(stderr, *verbose)
	defer host.Close()
	var model *experiment.PluginBlock
	what := *checkpoint
	switch {
	case *checkpoint != "":
		dir, cur, err := train.ResolveCheckpoint(*checkpoint)
		if err != nil {
			return err
		}
		if cur.Plugin == "" {
			return fmt.Errorf("checkpoint %s does not say which model plugin wrote it", dir)
		}
		cfg := map[string]any{}
		if len(cur.Config) > 0 {
			if err := json.Unmarshal(cur.Config, &cfg); err != nil {
				return fmt.Errorf("checkpoint %s: the model's configuration: %w", dir, err)
			}
		}
		// Started as the plugin that wrote it, configured as it was; the
		// eval loads the checkpoint into it.
		model = &experiment.PluginBlock{Kind: sdk.KindModel, Label: cur.Plugin, Plugin: cur.Plugin, Config: cfg}
		a.Checkpoints = []experiment.Ref{{Kind: experiment.PathRef, Label: dir}}
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
		model = block
		what = fmt.Sprintf("%s (plugin %s)", block.Ref(), block.Plugin)
	default:
		cfg, err := modelPluginConfig(ctx, host, *modelPlugin, modelOpts)
		if err != nil {
			return err
		}
		model = &experiment.PluginBlock{Kind: sdk.KindModel, Label: *modelPlugin, Plugin: *modelPlugin, Config: cfg}
		what = "plugin " + *modelPlugin
	}
	toolCfg, err := toolConfig(ctx, host, *tool, opts)
	if err != nil {
		return err
	}
	toolBlock := &experiment.PluginBlock{Kind: sdk.KindTool, Label: "tool", Plugin: *tool, Config: toolCfg}
	dataset, err := experiment.Encode(&experiment.DatasetAttrs{Source: *source, Seed: int(*seed)})
	if err != nil {
		return err
	}
	a.Model = experiment.Ref{Kind: string(sdk.KindModel), Label: model.Label}
	a.Tool = experiment.Ref{Kind: string(sdk.KindTool), Label: toolBlock.Label}
	a.Dataset = experiment.Ref{Kind: "dataset", Label: "tasks"}
	// Success after 1, 2, ... turns, up to the turn limit.
	limit := a.MaxTurns
	if v, ok := toolCfg["max_turns"].(float64); ok && limit <= 0 {
		limit = int(v)
	}
	for b := 1; b <= limit; b++ {
		a.TurnBudgets = append(a.TurnBudgets, b)
	}

	runDir := *out
	if runDir == "" {
		tmp, err := os.MkdirTemp("", "lathe-eval-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		runDir = filepath.Join(tmp, "run")
	}
	fmt.Fprintf(stderr, "evaluating %s with %s\n", what, *tool)
	rep, err := runner.RunStage(ctx, runner.StageOptions{
		Kinds: stages.Kinds(), Kind: "eval", Label: "eval", Attrs: &a, Seed: *seed,
		Plugins:  []*experiment.PluginBlock{toolBlock, model},
		Datasets: []*experiment.Dataset{{Label: "tasks", Attrs: dataset}},
		Host:     runner.PluginHost(host), Dir: runDir, Stderr: stderr,
	})
	if err != nil {
		return err
	}
	res := &results.Results{Experiment: "eval", Rows: rep.Results.Rows, Budgets: rep.Results.Budgets, Run: what}
	res.Notes = []string{fmt.Sprintf("tasks=%s split=%s samples=%d k=%v temperature=%g history=%s seed=%d",
		*source, a.Split, a.Samples, slices.Sorted(slices.Values(a.K)), a.Temperature, a.History, a.Seed)}
	if *out != "" {
		res.Notes = append(res.Notes, "run directory: "+rep.Dir)
	}
	return results.Write(stdout, *format, []*results.Results{res})
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
