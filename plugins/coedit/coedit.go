// Package coedit is the Chain-of-Edits tool (docs/design.md §4): the model
// repairs a Python program one DSL command per turn (ADDL, REPL, REPW, DELL,
// EXIT; see package dsl for the exact grammar) and after each command sees
// the numbered program, "***", and the result of the task's tests, run in
// the sandbox.
//
// One action is one command line: the tool's stop string is "\n", and of a
// completion only the text before the first newline is read. A malformed or
// out-of-range command changes nothing, uses up a turn, and its feedback
// says why (StepInfo.Valid false, ErrorClass from dsl: "parse",
// "unknown-command", "range", "noop"). A valid edit re-runs the tests; EXIT
// ends the episode (StepInfo.Exited); so does reaching max_turns
// (StepInfo.TurnLimit). Demonstrations reverse the corruption engine's
// edits into command traces ending with EXIT.
//
// Configuration (shared with the rewrite tool, so the two are swappable):
// max_turns (default 10), timeout_s (default 5), workers (default one per
// core), show_feedback (default true), show_tests (default false),
// show_instructions (default true).
package coedit

import (
	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"github.com/lathe-ml/lathe/plugins/internal/corrupt"
	"github.com/lathe-ml/lathe/plugins/internal/repairtool"
	"github.com/lathe-ml/lathe/sdk"
)

// Name is the plugin's name in experiment files.
const Name = "coedit"

// Tool is the coedit tool; it implements sdk.Tool, sdk.ToolWithBatch and
// sdk.ToolWithDemonstrate.
type Tool = repairtool.Tool

// New returns an unconfigured coedit tool that starts its own sandbox pool
// (sized by the workers and timeout_s options) on first use and stops it on
// Shutdown.
func New() *Tool {
	return repairtool.New(editor{}, repairtool.PoolFactory)
}

// NewWithRunner returns an unconfigured coedit tool whose checks run on r,
// which the tool never stops: for tests and for tools sharing one pool.
func NewWithRunner(r sandbox.Runner) *Tool {
	return repairtool.New(editor{}, repairtool.StaticRunner(r))
}

// Stop is the stop string of one action: a command is one line.
var Stop = []string{"\n"}

type editor struct{}

func (editor) Name() string { return Name }

func (editor) Description() string {
	return "Chain-of-Edits: repair a Python program with one line-editing command per turn, seeing the test results after each"
}

func (editor) Instructions() string {
	return dsl.Description + "\nWrite exactly one command, then a newline. When the tests pass, write EXIT."
}

func (editor) Stop() []string { return append([]string(nil), Stop...) }

func (editor) Edit(lines []string, action string) ([]string, bool, error) {
	c, err := dsl.ParseAction(action)
	if err != nil {
		return nil, false, err
	}
	next, err := dsl.Apply(lines, c)
	if err != nil {
		return nil, false, err
	}
	return next, c.Op == dsl.Exit, nil
}

func (editor) Style() corrupt.Style { return corrupt.Coedit }

func (editor) FinishDemo(d sdk.Demonstration) sdk.Demonstration { return d }
