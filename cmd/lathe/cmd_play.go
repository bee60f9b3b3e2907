package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/plugins/coedit"
	"github.com/lathe-ml/lathe/plugins/rewrite"
	"github.com/lathe-ml/lathe/sdk"
)

func init() {
	register(command{
		name:    "play",
		summary: "repair a program yourself with a tool's commands, as the model does",
		run:     runPlay,
	})
}

const playUsage = `play [flags] (--task ID [--dataset SRC] | --program FILE --tests FILE)

Shows the tool's prompt and the program's state (numbered lines, ***, test
feedback), then reads actions and prints the state after each, exactly as the
model sees them. With --tool coedit an action is one DSL command line; with
--tool rewrite it is the whole program followed by a line EXIT.

In a terminal the input is a line editor (arrows, history); type help for the
commands, show to print the state again, quit or Ctrl-D to stop. Otherwise
each input line is read as typed, so a session can be scripted:

  printf 'REPL 3 >>>    return res\nEXIT\n' | lathe play --program p.py --tests t.py

A task whose program is its correct reference (MBPP, builtin) is broken
first, by the tool's own corruption engine with --seed.`

// playFlags are the options of one play session.
type playFlags struct {
	tool, task, dataset, program, tests, reference, text string
	seed                                                 int64
	maxTurns, workers                                    int
	timeout                                              float64
	showTests, noFeedback                                bool
}

func runPlay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f playFlags
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: lathe %s\n\nFlags:\n", playUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.tool, "tool", coedit.Name, "the tool: coedit (one edit command per turn) or rewrite (the whole program at once)")
	fs.StringVar(&f.task, "task", "", "task id in --dataset")
	fs.StringVar(&f.dataset, "dataset", "builtin:basic", "task source for --task (builtin:NAME, mbpp:PATH, humaneval:PATH, quixbugs:DIR, jsonl:PATH)")
	fs.StringVar(&f.program, "program", "", "Python file to repair (with --tests)")
	fs.StringVar(&f.tests, "tests", "", "Python file of assert lines (with --program)")
	fs.StringVar(&f.reference, "reference", "", "optional correct program for --program: test values are compared with it")
	fs.StringVar(&f.text, "text", "", "optional task description for --program")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the corruption that breaks a task given only as correct code")
	fs.IntVar(&f.maxTurns, "max-turns", 10, "actions before the episode ends")
	fs.IntVar(&f.workers, "workers", 1, "sandbox workers")
	fs.Float64Var(&f.timeout, "timeout", 5, "seconds one test run may take")
	fs.BoolVar(&f.showTests, "show-tests", false, "show the tests in the prompt")
	fs.BoolVar(&f.noFeedback, "no-feedback", false, "show only how many tests pass, not the first failure")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errSilent
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see lathe play --help)", fs.Arg(0))
	}
	if _, err := newPlayTool(f.tool, nil); err != nil {
		return err
	}
	task, err := f.loadTask(ctx)
	if err != nil {
		return err
	}
	pool, err := sandbox.NewPool(ctx, sandbox.Options{Workers: f.workers, Timeout: time.Duration(f.timeout * float64(time.Second))})
	if err != nil {
		return err
	}
	defer pool.Close()

	in := os.Stdin
	var lines playLineReader
	interactive := term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) && stdout == os.Stdout
	if interactive {
		old, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return fmt.Errorf("terminal: %w", err)
		}
		defer term.Restore(int(in.Fd()), old)
		t := term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{in, stdout}, episode.ActionPrompt)
		if w, h, err := term.GetSize(int(in.Fd())); err == nil {
			t.SetSize(w, h)
		}
		lines, stdout = &playTerminal{t}, t
	} else {
		// A read from a pipe does not see Ctrl-C; closing stdin ends it.
		stop := context.AfterFunc(ctx, func() { in.Close() })
		defer stop()
		lines = &playScript{r: bufio.NewReader(in)}
	}
	return play(ctx, f, task, pool, lines, stdout)
}

// loadTask reads --program/--tests or finds --task in --dataset.
func (f playFlags) loadTask(ctx context.Context) (sdk.Task, error) {
	switch {
	case f.program != "" || f.tests != "":
		if f.program == "" || f.tests == "" || f.task != "" {
			return sdk.Task{}, errors.New("give --program and --tests together, or --task alone")
		}
		read := func(name string) (string, error) {
			if name == "" {
				return "", nil
			}
			b, err := os.ReadFile(name)
			if err != nil {
				return "", fmt.Errorf("read %w", err)
			}
			return string(b), nil
		}
		prog, err := read(f.program)
		if err != nil {
			return sdk.Task{}, err
		}
		tests, err := read(f.tests)
		if err != nil {
			return sdk.Task{}, err
		}
		ref, err := read(f.reference)
		if err != nil {
			return sdk.Task{}, err
		}
		return sdk.Task{ID: filepath.Base(f.program), Text: f.text, Program: prog, Tests: tests, Reference: ref}, nil
	case f.task != "":
		all, err := tasks.Load(ctx, f.dataset, tasks.Options{Split: tasks.SplitAll, Warn: func(error) {}})
		if err != nil {
			return sdk.Task{}, err
		}
		for _, t := range all {
			if t.ID == f.task {
				return t, nil
			}
		}
		return sdk.Task{}, fmt.Errorf("no task %q in %s (%d tasks)", f.task, f.dataset, len(all))
	}
	return sdk.Task{}, errors.New("give --task ID or --program FILE --tests FILE (see lathe play --help)")
}

// newPlayTool returns the named tool running its checks on r.
func newPlayTool(name string, r sandbox.Runner) (*coedit.Tool, error) {
	switch name {
	case coedit.Name:
		return coedit.NewWithRunner(r), nil
	case rewrite.Name:
		return rewrite.NewWithRunner(r), nil
	}
	return nil, fmt.Errorf("unknown tool %q (want %s or %s)", name, coedit.Name, rewrite.Name)
}

// playLineReader reads one input line, without its newline, showing prompt
// where the input is a terminal.
type playLineReader interface {
	ReadLine(prompt string) (string, error)
	// Interactive is true for a person at a terminal: help, show and quit
	// are then commands of play, and typed lines are not echoed again.
	Interactive() bool
}

type playScript struct{ r *bufio.Reader }

func (s *playScript) ReadLine(string) (string, error) {
	line, err := s.r.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), err
}

func (s *playScript) Interactive() bool { return false }

type playTerminal struct{ t *term.Terminal }

func (l *playTerminal) ReadLine(prompt string) (string, error) {
	l.t.SetPrompt(prompt)
	return l.t.ReadLine()
}

func (l *playTerminal) Interactive() bool { return true }

// errPlayQuit ends a session at the user's request.
var errPlayQuit = errors.New("quit")

// playContinuation asks for the next line of a multi-line action.
const playContinuation = "> "

// play runs one episode of the named tool on task, reading actions from
// lines and writing the transcript to out: the prompt, the first state,
// then each action after "$ " and the state it led to, the same text the
// model sees (core/episode's layout).
func play(ctx context.Context, f playFlags, task sdk.Task, r sandbox.Runner, lines playLineReader, out io.Writer) error {
	tool, err := newPlayTool(f.tool, r)
	if err != nil {
		return err
	}
	defer tool.Shutdown()
	cfg, err := sdk.ConfigFrom(map[string]any{
		"max_turns": f.maxTurns, "timeout_s": f.timeout, "workers": max(f.workers, 1),
		"show_feedback": !f.noFeedback, "show_tests": f.showTests,
	})
	if err != nil {
		return err
	}
	if err := tool.Configure(ctx, cfg); err != nil {
		return err
	}
	if task.Reference != "" && task.Program == task.Reference {
		broken, _, err := tasks.RepairTasks(ctx, []sdk.Task{task}, f.seed, tool, 1, func(error) {})
		if err != nil {
			return err
		}
		if len(broken) == 0 {
			return fmt.Errorf("task %s: no corruption of its program fails its tests; nothing to repair", task.ID)
		}
		task = broken[0]
	}
	reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		return err
	}
	defer tool.Close(ctx, reset.Session)
	fmt.Fprint(out, playNewline(reset.Prompt))
	state := reset.Observation
	fmt.Fprint(out, playNewline(state.Text))
	if lines.Interactive() {
		fmt.Fprintln(out, "(lathe play: type one action per turn; help, show, quit)")
	}
	turns := 0
	for !state.Done {
		action, err := playReadAction(lines, reset.Stop, out, reset.Prompt, state.Text)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d %s: %w", turns, playPlural(turns, "turn"), ctx.Err())
		}
		if errors.Is(err, io.EOF) || errors.Is(err, errPlayQuit) {
			fmt.Fprintf(out, "-- stopped after %d %s; the episode is not over --\n", turns, playPlural(turns, "turn"))
			return nil
		}
		if err != nil {
			return err
		}
		if !lines.Interactive() {
			fmt.Fprint(out, episode.ActionPrompt+action)
		}
		resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: action})
		if err != nil {
			return err
		}
		turns++
		state = resp.Observation
		fmt.Fprint(out, playNewline(state.Text))
	}
	fmt.Fprintln(out, playSummary(state.Info))
	return nil
}

// playReadAction reads lines until they form one action: until the text ends
// with one of the tool's stop strings (a newline for coedit, a line EXIT
// for rewrite). Blank lines before an action are skipped.
func playReadAction(lines playLineReader, stop []string, out io.Writer, prompt, state string) (string, error) {
	var b strings.Builder
	p := episode.ActionPrompt
	for {
		line, err := lines.ReadLine(p)
		if err != nil {
			if b.Len() > 0 && errors.Is(err, io.EOF) {
				return b.String(), nil // a cut-off action, as a model's at its token limit
			}
			return "", err
		}
		if b.Len() == 0 {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if lines.Interactive() {
				switch strings.TrimSpace(line) {
				case "help":
					fmt.Fprint(out, playHelp(prompt))
					continue
				case "show":
					fmt.Fprint(out, playNewline(state))
					continue
				case "quit", "exit":
					return "", errPlayQuit
				}
			}
		}
		b.WriteString(line)
		b.WriteByte('\n')
		// Trailing blanks are invisible to a person; ignore them when
		// looking for the stop string.
		text := b.String()
		trimmed := "\n" + text[:len(text)-len(line)-1] + strings.TrimRight(line, " \t") + "\n"
		for _, s := range stop {
			if s != "" && strings.HasSuffix(trimmed, s) {
				return text, nil
			}
		}
		p = playContinuation
	}
}

func playHelp(prompt string) string {
	return "The tool's instructions (what the model reads):\n" + playNewline(prompt) +
		"Commands of lathe play: help (this text), show (the state again), quit or Ctrl-D (stop).\n"
}

func playSummary(info sdk.StepInfo) string {
	how := "the turn limit"
	if info.Exited {
		how = "EXIT"
	}
	verdict := "not solved"
	if info.Solved {
		verdict = "solved"
	}
	return fmt.Sprintf("-- episode over after %d %s (%s): %s, %d of %d tests pass --",
		info.Turn, playPlural(info.Turn, "turn"), how, verdict, info.Passed, info.Total)
}

func playPlural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func playNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}
