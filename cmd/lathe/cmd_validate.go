package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/term"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/pluginhost"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/stages"
)

func init() {
	register(command{
		name:    "validate",
		summary: "check an experiment file, plugin options included, without running it",
		run:     runValidate,
	})
}

const validateUsage = `Usage: lathe validate FILE [-var NAME=VALUE]...

Parses FILE, substitutes variables, checks every reference between blocks,
starts each plugin to decode its block against the schema it reports and to
check it can do what the stages ask (a trained model must support training),
then prints "ok: N blocks, stage order: a -> b -> c" or the diagnostics
(exit status 1).

Flags:
`

// varsFlag collects repeated -var NAME=VALUE options.
type varsFlag []string

func (v *varsFlag) String() string { return strings.Join(*v, " ") }
func (v *varsFlag) Set(s string) error {
	*v = append(*v, s)
	return nil
}

// parseInterleaved parses flags that may come before or after positional
// arguments (lathe run FILE -var x=1), which package flag alone does not.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newHost returns a plugin host factory serving built-ins from this binary.
func newHost(logger hclog.Logger) runner.Host {
	return runner.PluginHost(pluginhost.New(pluginhost.Options{Logger: logger}))
}

// printDiagnostics writes diagnostics with source lines, wrapped to the
// terminal's width when stderr is one.
func printDiagnostics(w io.Writer, de *runner.DiagnosticsError) {
	width := uint(0)
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			width = uint(cols)
		}
	}
	_ = experiment.WriteDiagnostics(w, de.Files, de.Diags, width)
	n := len(de.Diags.Errs())
	fmt.Fprintf(w, "%d error%s\n", n, map[bool]string{true: "", false: "s"}[n == 1])
}

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lathe validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, validateUsage)
		fs.PrintDefaults()
	}
	var vars varsFlag
	fs.Var(&vars, "var", "set variable `NAME=VALUE` (repeatable)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errSilent
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("need exactly one experiment FILE")
	}
	src, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	host := newHost(hclog.NewNullLogger())
	defer host.Close()
	exp, file, diags := runner.Load(ctx, pos[0], src, vars, stages.Kinds(), host)
	if diags.HasErrors() {
		printDiagnostics(stderr, &runner.DiagnosticsError{Diags: diags, Files: file.Files()})
		return errSilent
	}
	blocks := 1 + len(exp.Variables) + len(exp.Datasets) + len(exp.Tools) + len(exp.Rewards) + len(exp.Models) + len(exp.Stages)
	fmt.Fprintf(stdout, "ok: %d blocks, stage order: %s\n", blocks, strings.Join(exp.Order(), " -> "))
	return nil
}
