package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"golang.org/x/term"

	"github.com/lathe-ml/lathe/core/pluginhost"
	"github.com/lathe-ml/lathe/core/synth"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/plugins/builtin"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

func init() {
	register(command{name: "data synth", summary: "write synthetic repair demonstrations of a dataset as JSONL", run: runDataSynth})
	register(command{name: "data stats", summary: "summarise a dataset or a demonstrations file", run: runDataStats})
}

const dataSynthUsage = `data synth [flags] --out FILE.jsonl

Breaks each task's correct program with 1-5 corruptions, keeps the broken
programs that fail their tests (run in the sandbox), and writes the tool's
repair trace for each, one JSON object per line:
  {task_id, program, tests, setup?, reference?, actions, split?, corruptions}
The output is byte-identical for the same dataset, tool, split and seed.`

func runDataSynth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data synth", dataSynthUsage, stderr)
	dataset := fs.String("dataset", "builtin:basic", "task source: builtin:NAME, mbpp:PATH, humaneval:PATH, quixbugs:DIR or jsonl:PATH")
	toolName := fs.String("tool", "coedit", "tool whose demonstrations to write: coedit, rewrite, or the path of a tool plugin executable")
	asPlugin := fs.Bool("plugin", false, "run a built-in tool as a plugin process (as `lathe run` does) instead of in this process")
	split := fs.String("split", tasks.SplitTrain, "split: train, validation, test, prompt or all")
	perTask := fs.Int("per-task", 10, "demonstrations per task")
	seed := fs.Int64("seed", 1, "seed of the corruptions (and of hash splits)")
	out := fs.String("out", "", "output JSONL file (- for stdout)")
	maxTasks := fs.Int("max-tasks", 0, "use only the first N tasks of the split (0: all)")
	workers := fs.Int("workers", runtime.NumCPU(), "sandbox workers (Python processes)")
	parallel := fs.Int("parallel", 0, "tasks in flight at once (0: 2 per worker)")
	timeout := fs.Float64("timeout", 5, "seconds one test run may take")
	strict := fs.Bool("strict", false, "stop at a malformed dataset record instead of skipping it with a warning")
	verbose := fs.Bool("v", false, "show progress even when stderr is not a terminal")
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
	ts, err := tasks.Load(ctx, *dataset, tasks.Options{Split: *split, Seed: *seed, MaxTasks: *maxTasks, Strict: *strict,
		Warn: func(err error) { fmt.Fprintf(stderr, "warning: %v (skipped)\n", err) }})
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return fmt.Errorf("dataset %s has no tasks in split %q", *dataset, *split)
	}
	tool, stop, err := startTool(ctx, *toolName, *asPlugin, map[string]any{"workers": *workers, "timeout_s": *timeout})
	if err != nil {
		return err
	}
	defer stop()
	demo, ok := tool.(sdk.ToolWithDemonstrate)
	if !ok {
		return fmt.Errorf("tool %s does not write demonstrations", *toolName)
	}
	opts := synth.Options{PerTask: *perTask, Seed: *seed, Parallel: *parallel}
	if opts.Parallel <= 0 {
		opts.Parallel = 2 * max(1, *workers)
	}
	if *verbose || isTerminal(stderr) {
		opts.Progress = stderr
	}
	res, err := synth.Synthesize(ctx, demo, ts, opts)
	if err != nil {
		return err
	}
	if err := writeRecords(*out, stdout, res.Records); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d demonstrations of %d %s tasks (%s, seed %d) in %.1fs: %.1f demos/s\n",
		len(res.Records), len(ts), *split, *toolName, *seed, res.Elapsed.Seconds(), res.DemosPerSecond())
	if len(res.Short) > 0 {
		ids := make([]string, 0, len(res.Short))
		for id, n := range res.Short {
			ids = append(ids, fmt.Sprintf("%s (%d)", id, n))
		}
		sort.Strings(ids)
		if len(ids) > 8 {
			ids = append(ids[:8], fmt.Sprintf("and %d more", len(ids)-8))
		}
		fmt.Fprintf(stderr, "%d tasks got fewer than %d demonstrations (a short program has few distinct failing corruptions; 0 may mean the reference fails its own tests, e.g. over --timeout): %s\n",
			len(res.Short), *perTask, strings.Join(ids, ", "))
	}
	return nil
}

// startTool starts a tool and configures it: a built-in in this process,
// or, with asPlugin or when name is a path, as a plugin process through
// the plugin host. stop releases its sandbox or kills the process.
func startTool(ctx context.Context, name string, asPlugin bool, cfg map[string]any) (sdk.Tool, func(), error) {
	c, err := sdk.ConfigFrom(cfg)
	if err != nil {
		return nil, nil, err
	}
	if asPlugin || strings.ContainsRune(name, '/') || strings.ContainsRune(name, os.PathSeparator) {
		h := pluginhost.New(pluginhost.Options{})
		inst, err := h.Start(ctx, sdk.KindTool, "", name)
		if err != nil {
			return nil, nil, err
		}
		tool := inst.Tool()
		if !inst.Has(pluginclient.CapToolWithDemonstrate) {
			inst.Kill()
			return nil, nil, fmt.Errorf("tool plugin %s does not write demonstrations", name)
		}
		if err := tool.Configure(ctx, c); err != nil {
			inst.Kill()
			return nil, nil, err
		}
		return tool, inst.Kill, nil
	}
	e, ok := builtin.Lookup(name)
	if !ok || e.Kind != sdk.KindTool {
		var names []string
		for _, e := range builtin.All() {
			if e.Kind == sdk.KindTool {
				names = append(names, e.Name)
			}
		}
		return nil, nil, fmt.Errorf("unknown tool %q (built-in tools: %s)", name, strings.Join(names, ", "))
	}
	tool := e.NewTool()
	if err := tool.Configure(ctx, c); err != nil {
		return nil, nil, err
	}
	stop := func() {
		if s, ok := tool.(interface{ Shutdown() error }); ok {
			_ = s.Shutdown()
		}
	}
	return tool, stop, nil
}

// writeRecords writes to a temporary file renamed into place, so an
// interrupted run never leaves a truncated file under the final name, with
// a checksum file beside it that lathe data stats and SFT check.
func writeRecords(path string, stdout io.Writer, recs []synth.Record) error {
	if path == "-" {
		return synth.WriteJSONL(stdout, recs)
	}
	return synth.WriteFile(path, recs)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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
