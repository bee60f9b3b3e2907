package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/term"

	"github.com/lathe-ml/lathe/plugins/coedit/coedittest"
	"github.com/lathe-ml/lathe/sdk"
)

// playTask's tests are substrings for coedittest's fake runner.
var playTask = sdk.Task{
	ID:      "add",
	Text:    "Return the sum of a and b.",
	Program: "def add(a, b):\n    retrun a - b\n",
	Tests:   "def add(a, b):\n    return a + b",
}

const coeditPrompt = `Repair the Python program below so that its tests pass.
Task: Return the sum of a and b.
Edit the program with one command per line; line numbers start at 1:
ADDL n >>>text        insert text as a new line before line n (n = last+1 appends)
REPL n >>>text        replace line n by text
REPW n >>>old >>>new  replace the first occurrence of old in line n by new
DELL n                delete line n
EXIT                  stop editing
Text after >>> is taken exactly as written, indentation included.
After each command you see the numbered program, then ***, then the test results.
Write exactly one command, then a newline. When the tests pass, write EXIT.
`

const rewritePrompt = `Repair the Python program below so that its tests pass.
Task: Return the sum of a and b.
The program is shown with line numbers (L n) for reference; do not write them.
Answer with the whole repaired program exactly as it should be saved, indentation included,
then a line containing only EXIT. You answer once; the tests then run on your program.
`

const brokenState = `L 1 def add(a, b):
L 2     retrun a - b
***
Test 2 failed: "return a + b" not found
AssertionError
`

func TestPlayScripted(t *testing.T) {
	tests := []struct {
		name  string
		flags playFlags
		input string
		want  string
	}{
		{
			name:  "coedit repair",
			flags: playFlags{tool: "coedit", maxTurns: 10},
			input: "REPL 7 >>>x\n\nREPW 2 >>>retrun >>>return\r\nREPW 2 >>>- >>>+\nEXIT\nDELL 1\n",
			want: coeditPrompt + brokenState +
				"$ REPL 7 >>>x\n" + "L 1 def add(a, b):\nL 2     retrun a - b\n***\nREPL 7: line 7 does not exist (program has 2 lines)\n" +
				"$ REPW 2 >>>retrun >>>return\n" + "L 1 def add(a, b):\nL 2     return a - b\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n" +
				"$ REPW 2 >>>- >>>+\n" + "L 1 def add(a, b):\nL 2     return a + b\n***\nAll 2 tests passed.\n" +
				"$ EXIT\n" + "L 1 def add(a, b):\nL 2     return a + b\n***\nAll 2 tests passed.\n" +
				"-- episode over after 4 turns (EXIT): solved, 2 of 2 tests pass --\n",
		},
		{
			name:  "coedit turn limit",
			flags: playFlags{tool: "coedit", maxTurns: 2},
			input: "DELL 2\nhelp\n",
			want: coeditPrompt + brokenState +
				"$ DELL 2\n" + "L 1 def add(a, b):\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n" +
				"$ help\n" + "L 1 def add(a, b):\n***\nunknown command \"help\" (commands: ADDL, REPL, REPW, DELL, EXIT)\n" +
				"-- episode over after 2 turns (the turn limit): not solved, 1 of 2 tests pass --\n",
		},
		{
			name:  "input ends early",
			flags: playFlags{tool: "coedit", maxTurns: 10},
			input: "DELL 2",
			want: coeditPrompt + brokenState +
				"$ DELL 2\n" + "L 1 def add(a, b):\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n" +
				"-- stopped after 1 turn; the episode is not over --\n",
		},
		{
			name:  "rewrite answer",
			flags: playFlags{tool: "rewrite", maxTurns: 10},
			input: "\ndef add(a, b):\n\n    return a + b\nEXIT  \nDELL 1\n",
			want: rewritePrompt + brokenState +
				"$ def add(a, b):\n\n    return a + b\nEXIT  \n" + "L 1 def add(a, b):\nL 2 \nL 3     return a + b\n***\nAll 2 tests passed.\n" +
				"-- episode over after 1 turn (EXIT): solved, 2 of 2 tests pass --\n",
		},
		{
			name:  "rewrite cut off",
			flags: playFlags{tool: "rewrite", maxTurns: 10},
			input: "def add(a, b):\n    return a + b\n",
			want: rewritePrompt + brokenState +
				"$ def add(a, b):\n    return a + b\n" + "L 1 def add(a, b):\nL 2     retrun a - b\n***\nthe answer has no line EXIT after the program; the program is unchanged\n" +
				"-- episode over after 1 turn (EXIT): not solved, 1 of 2 tests pass --\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.flags.timeout, tt.flags.workers = 5, 1
			var out bytes.Buffer
			in := &playScript{r: bufio.NewReader(strings.NewReader(tt.input))}
			if err := play(context.Background(), tt.flags, playTask, &coedittest.Runner{}, in, &out); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("transcript:\n%s\nwant:\n%s\n%s", got, tt.want, firstDiff(got, tt.want))
			}
		})
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return fmt.Sprintf("first difference at byte %d: got %q, want %q", i, a[i:min(len(a), i+40)], b[i:min(len(b), i+40)])
}

func TestPlayBreaksCorrectTask(t *testing.T) {
	// A task given only as correct code is corrupted first, deterministically.
	task := sdk.Task{
		ID:        "clamp",
		Reference: "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n",
		Tests:     "assert clamp(5, 0, 3) == 3\nassert clamp(-1, 0, 3) == 0",
	}
	task.Program = task.Reference
	run := func() string {
		var out bytes.Buffer
		in := &playScript{r: bufio.NewReader(strings.NewReader(""))}
		f := playFlags{tool: "coedit", maxTurns: 10, timeout: 5, workers: 1, seed: 4}
		if err := play(context.Background(), f, task, &coedittest.Runner{}, in, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	a, b := run(), run()
	if a != b {
		t.Fatalf("same seed, different programs:\n%s\n%s", a, b)
	}
	if strings.Contains(a, "All 2 tests passed.") || !strings.Contains(a, "Test 1 failed") {
		t.Fatalf("the program was not broken:\n%s", a)
	}
}

func TestPlayFlags(t *testing.T) {
	dir := t.TempDir()
	prog, tests := filepath.Join(dir, "p.py"), filepath.Join(dir, "t.py")
	os.WriteFile(prog, []byte("x = 1\n"), 0o644)
	os.WriteFile(tests, []byte("assert x == 1\n"), 0o644)
	cases := []struct {
		name string
		args []string
		err  string
	}{
		{"unknown tool", []string{"--tool", "vim", "--program", prog, "--tests", tests}, `unknown tool "vim" (want coedit or rewrite)`},
		{"program without tests", []string{"--program", prog}, "give --program and --tests together, or --task alone"},
		{"nothing", nil, "give --task ID or --program FILE --tests FILE (see lathe play --help)"},
		{"missing file", []string{"--program", filepath.Join(dir, "nope.py"), "--tests", tests}, "nope.py: no such file or directory"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
		{"unknown task", []string{"--task", "no/such/task"}, `no task "no/such/task" in builtin:basic`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runPlay(context.Background(), c.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("runPlay(%q) = %v, want %q", c.args, err, c.err)
			}
		})
	}
}

// pipeTerminal feeds keystrokes to a term.Terminal and collects what it
// draws, as a pty would.
type pipeTerminal struct {
	in io.Reader
	mu sync.Mutex
	bytes.Buffer
}

func (p *pipeTerminal) Read(b []byte) (int, error) { return p.in.Read(b) }
func (p *pipeTerminal) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Buffer.Write(b)
}

func TestPlayInteractive(t *testing.T) {
	rw := &pipeTerminal{in: strings.NewReader("help\rshow\r\rREPL 2 >>>    return a + b\rquit\r")}
	tt := term.NewTerminal(rw, "$ ")
	f := playFlags{tool: "coedit", maxTurns: 10, timeout: 5, workers: 1}
	if err := play(context.Background(), f, playTask, &coedittest.Runner{}, &playTerminal{tt}, tt); err != nil {
		t.Fatal(err)
	}
	// The terminal turns "\n" into "\r\n"; compare lines.
	got := strings.ReplaceAll(rw.String(), "\r\n", "\n")
	for _, want := range []string{
		"Commands of lathe play: help (this text), show (the state again), quit or Ctrl-D (stop).\n",
		"$ REPL 2 >>>    return a + b\nL 1 def add(a, b):\nL 2     return a + b\n***\nAll 2 tests passed.\n",
		"-- stopped after 1 turn; the episode is not over --\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, got)
		}
	}
	// "show" printed the state a second time, before any edit.
	if n := strings.Count(got, "L 2     retrun a - b\n"); n != 2 {
		t.Errorf("the first state appears %d times, want 2 (once more after show):\n%s", n, got)
	}
}

// TestPlayTmux drives `lathe play` in a real terminal: tmux runs the
// binary, the test types commands and reads the pane. It needs tmux,
// python3 and the go tool; it is skipped in -short mode.
func TestPlayTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the lathe binary and runs Python; skipped in -short mode")
	}
	for _, tool := range []string{"tmux", "python3", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "lathe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	prog, tests := filepath.Join(dir, "p.py"), filepath.Join(dir, "t.py")
	os.WriteFile(prog, []byte("def similar_elements(a, b):\n    res = tuple(set(a) | set(b))\n    retrun (res)\n"), 0o644)
	os.WriteFile(tests, []byte("assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == {4, 5}\n"+
		"assert set(similar_elements((1, 2, 3, 4), (5, 4, 3, 7))) == {3, 4}\n"), 0o644)

	sock := fmt.Sprintf("lathe-play-test-%d", os.Getpid())
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	script := fmt.Sprintf("%s play --program %s --tests %s; echo PLAY-STATUS=$?; sleep 60", bin, prog, tests)
	tmux("new-session", "-d", "-s", "play", "-x", "150", "-y", "60", script)
	t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })

	pane := func() string { return tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "play") }
	waitFor := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			p := pane()
			if strings.Contains(p, want) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("pane never showed %q:\n%s", want, p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	type key struct{ typed, want string }
	for _, k := range []key{
		{"", "NameError: name 'retrun' is not defined"},
		{"help", "Commands of lathe play"},
		{"REPW 3 >>>retrun >>>return", "L 3     return (res)"},
		{"REPW 2 >>>| >>>&", "All 2 tests passed."},
		{"EXIT", "PLAY-STATUS=0"},
	} {
		if k.typed != "" {
			tmux("send-keys", "-t", "play", "-l", k.typed)
			tmux("send-keys", "-t", "play", "Enter")
		}
		waitFor(k.want)
	}
	final := pane()
	for _, want := range []string{
		"$ REPW 3 >>>retrun >>>return",
		"L 2     res = tuple(set(a) & set(b))",
		"-- episode over after 3 turns (EXIT): solved, 2 of 2 tests pass --",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("final pane lacks %q:\n%s", want, final)
		}
	}
}
