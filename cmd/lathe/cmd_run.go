package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/stages"
)

func init() {
	register(command{
		name:    "run",
		summary: "run an experiment file and print its result tables",
		run:     runRun,
	})
}

const runUsage = `Usage:
  lathe run FILE [-var NAME=VALUE]... [--out DIR] [--format F]
  lathe run [FILE] --resume RUN_DIR
  lathe run FILE --nats URL | --local

Checks FILE as lathe validate does, creates the run directory
runs/<experiment>/<UTC time>/ (or --out DIR), runs the stages and evals in
dependency order and ends with the result tables, also when a stage failed
(for what finished). Ctrl-C stops the current stage and keeps the run
directory; --resume continues it, skipping finished stages (without FILE,
the run's own experiment.hcl and -var options are used).

With a cluster block in FILE, or --nats URL, eval episodes and GRPO
rollouts are played by ` + "`lathe worker`" + ` processes that take them from the NATS
JetStream server, in shards of shard_tasks tasks with seeds of their own;
training stays here. --local plays the same shards here, with the same
results.

Flags:
`

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lathe run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, runUsage)
		fs.PrintDefaults()
	}
	var vars varsFlag
	fs.Var(&vars, "var", "set variable `NAME=VALUE` (repeatable)")
	out := fs.String("out", "", "write the run to `DIR` (must not exist or be empty) instead of runs/<experiment>/<time>")
	resume := fs.String("resume", "", "continue the run in `RUN_DIR`")
	root := fs.String("runs", "runs", "`DIR` under which run directories are made")
	format := fs.String("format", "table", "result table format: "+strings.Join(results.Formats, ", "))
	nats := fs.String("nats", "", "play eval episodes and GRPO rollouts on the workers of the NATS server at `URL` (lathe worker)")
	local := fs.Bool("local", false, "play the cluster block's work items here, with the results the workers would give")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errSilent
	}
	if !slices.Contains(results.Formats, *format) {
		return fmt.Errorf("--format must be one of %s, not %q", strings.Join(results.Formats, ", "), *format)
	}
	if *out != "" && *resume != "" {
		return errors.New("use --out or --resume, not both")
	}
	if *nats != "" && *local {
		return errors.New("use --nats or --local, not both")
	}
	opts := runner.Options{
		Kinds:     stages.Kinds(),
		Overrides: vars,
		NewHost:   newHost,
		Root:      *root,
		Out:       *out,
		Resume:    *resume,
		Stderr:    stderr,
		NATS:      *nats,
		Local:     *local,
	}
	switch {
	case len(pos) == 1:
		src, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		opts.Filename, opts.Source = pos[0], src
	case len(pos) == 0 && *resume != "":
	default:
		fs.Usage()
		return errors.New("need one experiment FILE (or --resume RUN_DIR)")
	}
	rep, err := runner.Run(ctx, opts)
	var de *runner.DiagnosticsError
	if errors.As(err, &de) {
		printDiagnostics(stderr, de)
		return errSilent
	}
	if rep != nil && rep.Results != nil {
		if len(rep.Results.Rows) > 0 || len(rep.Results.Budgets) > 0 {
			fmt.Fprintln(stdout)
			rep.Results.Run = rep.Dir
			if werr := results.Write(stdout, *format, []*results.Results{rep.Results}); werr != nil {
				err = errors.Join(err, werr)
			}
		} else {
			fmt.Fprintln(stderr, "no results yet (no eval finished)")
		}
	}
	if err != nil {
		if rep != nil {
			fmt.Fprintf(stderr, "run stopped; its directory is kept: continue with\n  lathe run --resume %s\n", rep.Dir)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	if rep != nil {
		fmt.Fprintf(stderr, "run directory: %s\n", rep.Dir)
	}
	return nil
}
