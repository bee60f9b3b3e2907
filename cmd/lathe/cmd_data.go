package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/rundir"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/stages"
	"github.com/lathe-ml/lathe/core/synth"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(command{name: "data synth", summary: "write synthetic repair demonstrations of a dataset as JSONL", run: runDataSynth})
	register(command{name: "data stats", summary: "summarise a dataset or a demonstrations file", run: runDataStats})
}

const dataSynthUsage = `data synth [flags] --out FILE.jsonl

Runs the synthesize stage an experiment with the same settings runs, by the
same stage code and with the same defaults (its split, per_task and
max_tasks; the tool's options): the tool breaks each task's correct program
with 1-5 corruptions, keeps the broken programs that fail their tests (run
in the sandbox) and writes its repair trace of each, and every trace is
replayed through the tool. The stage's demonstrations go to --out with their
checksum file (FILE.jsonl.sum, which lathe data stats and sft check), one
JSON object per line:
  {task_id, program, tests, setup?, reference?, actions, split?, corruptions}
The output is byte-identical for the same dataset, tool, tool options,
split and seed, and equal to the stage's demos.jsonl.

A dataset's test and validation tasks are held out for evaluation and never
become training demonstrations (the stage's leak rule): --split test and
--split validation are refused, and --split all leaves them out with a
warning, as does any training task that holds one of their programs.

The tool is a built-in name or the path of a tool plugin executable; the
runner starts either as a plugin process (so there is no --plugin switch)
and configures it from --tool-option NAME=VALUE as an experiment's tool
block (--workers and --timeout set its workers and timeout_s options). The
stage keeps 8 tasks in flight, so there is no --parallel: the tool's
workers option sizes its sandbox. The run
directory (run.log naming every task left out, metrics, the replayed
episodes.jsonl) is deleted unless --run-dir DIR keeps it.`

func runDataSynth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The flags' defaults are the synthesize kind's, as a stage block that
	// sets none of them has them.
	defVals, _ := stages.Kinds().Defaults("synthesize", nil, 1)
	var def stages.SynthesizeAttrs
	if err := defVals.Decode(&def); err != nil {
		return err
	}
	fs := newFlags("data synth", dataSynthUsage, stderr)
	source := fs.String("dataset", "builtin:basic", "task source: builtin:NAME, mbpp:PATH, humaneval:PATH, quixbugs:DIR or jsonl:PATH")
	toolName := fs.String("tool", "coedit", "tool plugin whose demonstrations to write: a built-in name (coedit, rewrite) or an executable path")
	opts := toolOptions{}
	fs.Var(opts, "tool-option", "`NAME=VALUE` option of the tool, as in an experiment's tool block (repeatable)")
	split := fs.String("split", def.Split, "split: train, prompt or all (all leaves the held-out test and validation tasks out)")
	perTask := fs.Int("per-task", def.PerTask, "demonstrations per task")
	seed := fs.Int64("seed", 1, "seed of the corruptions and of hash splits")
	out := fs.String("out", "", "output JSONL file (- for stdout)")
	maxTasks := fs.Int("max-tasks", def.MaxTasks, "use only the first N tasks of the split (0: all)")
	workers := fs.Int("workers", 0, "sandbox workers (Python processes): the tool's workers option (unset: the tool's default)")
	timeout := fs.Float64("timeout", 0, "seconds one test run may take: the tool's timeout_s option (unset: the tool's default)")
	strict := fs.Bool("strict", false, "stop at a malformed dataset record instead of skipping it with a warning")
	runDir := fs.String("run-dir", "", "keep the run directory (run.log, metrics, demos.jsonl, episodes.jsonl) in `DIR`")
	verbose := fs.Bool("v", false, "log plugin output")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see lathe data synth --help)", fs.Arg(0))
	}
	if *out == "" {
		return errors.New("--out is required (a file, or - for stdout)")
	}
	if *perTask < 1 {
		return fmt.Errorf("--per-task must be at least 1, got %d", *perTask)
	}
	switch *split {
	case tasks.SplitTrain, tasks.SplitPrompt, tasks.SplitAll:
	case tasks.SplitTest, tasks.SplitValidation:
		return fmt.Errorf("--split %s: a dataset's test and validation tasks are held out for evaluation and never become training demonstrations; use --split train, or --split all, which leaves them out", *split)
	default:
		return fmt.Errorf("--split: unknown split %q (want train, prompt or all)", *split)
	}
	// --workers and --timeout, when given, are the tool options they name.
	shorthands := map[string]struct {
		option string
		value  any
	}{"workers": {"workers", float64(*workers)}, "timeout": {"timeout_s", *timeout}}
	var conflict error
	fs.Visit(func(f *flag.Flag) {
		sh, ok := shorthands[f.Name]
		if !ok {
			return
		}
		if _, set := opts[sh.option]; set {
			conflict = fmt.Errorf("--%s and --tool-option %s set the same option; give one", f.Name, sh.option)
		}
		opts[sh.option] = sh.value
	})
	if conflict != nil {
		return conflict
	}
	vals, _ := stages.Kinds().Defaults("synthesize", experiment.Values{"split": *split, "per_task": *perTask,
		"max_tasks": *maxTasks, "seed": int(*seed)}, *seed)
	var a stages.SynthesizeAttrs
	if err := vals.Decode(&a); err != nil {
		return err
	}

	host := newStderrHost(stderr, *verbose)
	defer host.Close()
	toolCfg, err := toolConfig(ctx, host, *toolName, opts)
	if err != nil {
		return err
	}
	tool := &experiment.PluginBlock{Kind: sdk.KindTool, Label: "tool", Plugin: *toolName, Config: toolCfg}
	dataset, err := experiment.Encode(&experiment.DatasetAttrs{Source: *source, Seed: int(*seed), Strict: *strict})
	if err != nil {
		return err
	}
	a.Tool = experiment.Ref{Kind: string(sdk.KindTool), Label: tool.Label}
	a.Dataset = experiment.Ref{Kind: "dataset", Label: "tasks"}

	dir := *runDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lathe-synth-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "run")
	}
	const label = "synthesize"
	rep, err := runner.RunStage(ctx, runner.StageOptions{
		Kinds: stages.Kinds(), Kind: "synthesize", Label: label, Attrs: &a, Seed: *seed,
		Plugins:  []*experiment.PluginBlock{tool},
		Datasets: []*experiment.Dataset{{Label: "tasks", Attrs: dataset}},
		Host:     runner.PluginHost(host), Dir: dir, Stderr: stderr,
	})
	if rep != nil && *runDir == "" {
		// run.log goes with the temporary run directory: say what it warned of.
		printWarnings(stderr, filepath.Join(rep.Dir, rundir.LogFile))
	}
	if err != nil {
		return err
	}
	sr := rep.Stages[0]
	b, err := atomicfile.ReadChecked(sr.Outputs["data"], synth.FileFormat)
	if err != nil {
		return err
	}
	recs, err := synth.ReadJSONL(bytes.NewReader(b), sr.Outputs["data"])
	if err != nil {
		return err
	}
	if *out == "-" {
		if _, err := stdout.Write(b); err != nil {
			return err
		}
	} else if err := atomicfile.WriteCheckedBytes(*out, synth.FileFormat, b); err != nil {
		return err
	}
	// The stage's counts: the tasks left after the leak rule, and the
	// demonstrations whose replay repairs the program.
	taskCount, solved := 0, 0
	if ms, err := rundir.ReadMetrics(filepath.Join(rep.Dir, rundir.MetricsFile)); err == nil {
		for _, m := range ms {
			if n, ok := m["tasks"].(float64); ok && m["stage"] == label {
				taskCount = int(n)
				e, _ := m["episodes"].(float64)
				solved = int(e)
			}
		}
	}
	fmt.Fprintf(stderr, "%d demonstrations of %d %s tasks (%s, seed %d) in %.1fs; %d repair their program when replayed\n",
		len(recs), taskCount, a.Split, *toolName, a.Seed, sr.Wall.Seconds(), solved)
	per := map[string]int{}
	for _, r := range recs {
		per[r.TaskID]++
	}
	var short []string
	for id, n := range per {
		if n < a.PerTask {
			short = append(short, fmt.Sprintf("%s (%d)", id, n))
		}
	}
	sort.Strings(short)
	n := len(short)
	if none := taskCount - len(per); none > 0 {
		n += none
		short = append(short, fmt.Sprintf("%d with none", none))
	}
	if n > 0 {
		if len(short) > 8 {
			short = append(short[:8], fmt.Sprintf("and %d more", len(short)-8))
		}
		fmt.Fprintf(stderr, "%d tasks got fewer than %d demonstrations (a short program has few distinct failing corruptions; none may mean the reference fails its own tests, e.g. over the tool's timeout_s): %s\n",
			n, a.PerTask, strings.Join(short, ", "))
	}
	return nil
}

// printWarnings copies the warnings of a run's log to w as "warning:"
// lines, the first 8 of them.
func printWarnings(w io.Writer, logPath string) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return
	}
	var warns []string
	for _, line := range strings.Split(string(b), "\n") {
		if _, msg, ok := strings.Cut(line, " [WARN]  "); ok {
			if name, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(name, "lathe") {
				msg = rest // the logger's name: the stage is the only one
			}
			warns = append(warns, msg)
		}
	}
	for i, msg := range warns {
		if i == 8 {
			fmt.Fprintf(w, "warning: and %d more (--run-dir DIR keeps run.log)\n", len(warns)-8)
			break
		}
		fmt.Fprintln(w, "warning:", msg)
	}
}

const dataStatsUsage = `data stats [flags] (SOURCE | FILE.jsonl)

With a demonstrations file (from lathe data synth): tasks, demonstrations,
mean commands per trace, mean edit distance between broken and correct
program, mean corruptions, mean tokens, and the corruption operators used.
With a dataset source (builtin:basic, mbpp:PATH, ...): tasks per split, mean
program lines, mean tests and mean tokens.
Tokens are words and punctuation characters, not a model's tokens.`

func runDataStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data stats", dataStatsUsage, stderr)
	seed := fs.Int64("seed", 1, "seed of hash splits (dataset sources)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errSilent
	}
	arg := fs.Arg(0)
	kind, _, hasKind := strings.Cut(arg, ":")
	for _, k := range tasks.Kinds() {
		if hasKind && kind == k {
			return sourceStats(ctx, arg, *seed, stdout, stderr)
		}
	}
	recs, err := synth.ReadFile(arg)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (want a demonstrations file or a source %s:...)", err, strings.Join(tasks.Kinds(), ":, "))
	}
	if err != nil {
		return err
	}
	s := synth.Stats(recs)
	rows := [][]string{
		{"tasks", strconv.Itoa(s.Tasks)},
		{"demonstrations", strconv.Itoa(s.Demos)},
		{"mean commands per trace", fmt.Sprintf("%.2f", s.MeanCommands)},
		{"mean edit distance (chars)", fmt.Sprintf("%.1f", s.MeanEditDistance)},
		{"mean corruptions", fmt.Sprintf("%.2f", s.MeanCorruptions)},
		{"mean tokens (program + actions)", fmt.Sprintf("%.1f", s.MeanTokens)},
	}
	var splits []string
	for sp := range s.Splits {
		splits = append(splits, sp)
	}
	sort.Strings(splits)
	for _, sp := range splits {
		if sp == "" {
			sp = "(none)"
		}
		rows = append(rows, []string{"split " + sp, strconv.Itoa(s.Splits[strings.TrimPrefix(sp, "(none)")])})
	}
	total := 0
	for _, n := range s.Operators {
		total += n
	}
	for _, op := range s.OperatorNames() {
		rows = append(rows, []string{"operator " + op, fmt.Sprintf("%d (%.1f%%)", s.Operators[op], 100*float64(s.Operators[op])/float64(max(1, total)))})
	}
	return renderTable(stdout, []string{"statistic", "value"}, rows)
}

func sourceStats(ctx context.Context, src string, seed int64, stdout, stderr io.Writer) error {
	ts, err := tasks.Load(ctx, src, tasks.Options{Seed: seed, Warn: func(err error) { fmt.Fprintf(stderr, "warning: %v (skipped)\n", err) }})
	if err != nil {
		return err
	}
	type agg struct{ n, lines, tests, toks, repair int }
	by := map[string]*agg{}
	var order []string
	for _, t := range ts {
		for _, key := range []string{t.Split, "all"} {
			a := by[key]
			if a == nil {
				a = &agg{}
				by[key] = a
				order = append(order, key)
			}
			a.n++
			a.lines += strings.Count(strings.TrimRight(t.Program, "\n"), "\n") + 1
			a.tests += strings.Count("\n"+t.Tests, "\nassert")
			a.toks += synth.CountTokens(t.Program)
			if t.Program != t.Reference {
				a.repair++
			}
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i] != "all" && (order[j] == "all" || order[i] < order[j]) })
	var rows [][]string
	for _, k := range order {
		a := by[k]
		d := float64(a.n)
		rows = append(rows, []string{k, strconv.Itoa(a.n), strconv.Itoa(a.repair), fmt.Sprintf("%.1f", float64(a.lines)/d),
			fmt.Sprintf("%.1f", float64(a.tests)/d), fmt.Sprintf("%.1f", float64(a.toks)/d)})
	}
	return renderTable(stdout, []string{"split", "tasks", "broken programs", "mean lines", "mean asserts", "mean tokens"}, rows)
}

func renderTable(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAutoWrap(tw.WrapNone))
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("table: %w", err)
	}
	return nil
}
