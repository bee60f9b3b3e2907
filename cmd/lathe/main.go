// Command lathe runs Lathe experiments, serves the built-in plugins and
// prints result tables. Each subcommand lives in its own file and registers
// itself in init; this file only dispatches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one `lathe` subcommand. A command with sub-subcommands (such as
// `lathe data synth`) registers under its full name, "data synth".
type command struct {
	name    string
	summary string
	// run receives the arguments after the command name. It returns an
	// error to print; errSilent means the command already reported.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("lathe: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errSilent is returned by a command that has already printed its error
// (diagnostics, for example) and only needs a non-zero exit status.
var errSilent = fmt.Errorf("silent")

func main() {
	os.Exit(mainWithExit(os.Args[1:], os.Stdout, os.Stderr))
}

func mainWithExit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		fmt.Fprintf(stderr, "lathe: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, rest, stdout, stderr); err != nil {
		if err != errSilent {
			fmt.Fprintf(stderr, "lathe %s: %v\n", cmd.name, err)
		}
		return 1
	}
	return 0
}

// lookup finds the longest registered command name that prefixes args.
func lookup(args []string) (command, []string, bool) {
	for n := min(3, len(args)); n >= 1; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:], true
		}
	}
	return command{}, nil, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "lathe trains small language models to reason by driving a tool.")
	fmt.Fprintln(w, "\nUsage: lathe COMMAND [ARGS]   (lathe COMMAND --help for details)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, commands[n].summary)
	}
}

// newFlags returns a command's flag set: errors and usage go to stderr,
// usage is "Usage: lathe USAGE" followed by the flags.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: lathe %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; --help prints the usage and ends the command with
// success (help is true), a bad flag ends it with errSilent (the flag
// package already said why).
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, errSilent
	}
	return false, nil
}
