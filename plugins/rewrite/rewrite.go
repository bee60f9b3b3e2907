// Package rewrite is the direct-answer baseline of the Chain-of-Edits paper:
// the model answers once with the whole repaired program and sees the same
// state as the coedit tool (numbered program, "***", test feedback). The
// episode ends after that one action (StepInfo.Exited), whatever max_turns
// says; the option is accepted so that an experiment can swap coedit for
// rewrite by changing only the plugin name.
//
// # How an answer ends
//
// An answer is the program, verbatim, followed by a line that is exactly
// EXIT (trailing spaces allowed), the same word that ends a coedit episode.
// The tool's stop string is "\nEXIT\n", which stays in the completion. Of a
// completion, everything before the first EXIT line is the program ("\r\n"
// read as "\n", trailing blank lines dropped); anything after it is
// ignored. A completion without an EXIT line (cut off by the token limit)
// is a malformed answer: the program stays as it was, the feedback says so,
// and StepInfo.Valid is false with ErrorClass "parse".
package rewrite

import (
	"strings"

	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"github.com/lathe-ml/lathe/plugins/internal/corrupt"
	"github.com/lathe-ml/lathe/plugins/internal/repairtool"
	"github.com/lathe-ml/lathe/sdk"
)

// Name is the plugin's name in experiment files.
const Name = "rewrite"

// Terminator is the line that ends an answer.
const Terminator = "EXIT"

// Stop is the stop string of one answer.
var Stop = []string{"\n" + Terminator + "\n"}

// Tool is the rewrite tool; it implements sdk.Tool, sdk.ToolWithBatch and
// sdk.ToolWithDemonstrate.
type Tool = repairtool.Tool

// New returns an unconfigured rewrite tool that starts its own sandbox pool
// (sized by the workers and timeout_s options) on first use and stops it on
// Shutdown.
func New() *Tool {
	return repairtool.New(editor{}, repairtool.PoolFactory)
}

// NewWithRunner returns an unconfigured rewrite tool whose checks run on r,
// which the tool never stops.
func NewWithRunner(r sandbox.Runner) *Tool {
	return repairtool.New(editor{}, repairtool.StaticRunner(r))
}

// ParseAnswer returns the program lines of a completion, as the package doc
// describes.
func ParseAnswer(completion string) ([]string, error) {
	lines := strings.Split(strings.ReplaceAll(completion, "\r\n", "\n"), "\n")
	for i, l := range lines {
		if strings.TrimRight(l, " \t\r") == Terminator {
			return dsl.SplitProgram(strings.Join(lines[:i], "\n")), nil
		}
	}
	return nil, &dsl.Error{Class: dsl.ClassParse,
		Msg: "the answer has no line " + Terminator + " after the program; the program is unchanged"}
}

// FormatAnswer is the completion that answers with program: the program,
// then the EXIT line. ParseAnswer(FormatAnswer(p)) == dsl.SplitProgram(p)
// for every program without a line that is exactly EXIT.
func FormatAnswer(program string) string {
	return dsl.JoinProgram(dsl.SplitProgram(program)) + Terminator + "\n"
}

type editor struct{}

func (editor) Name() string { return Name }

func (editor) Description() string {
	return "Direct answer: repair a Python program by writing the whole corrected program at once"
}

func (editor) Instructions() string {
	return "The program is shown with line numbers (L n) for reference; do not write them.\n" +
		"Answer with the whole repaired program exactly as it should be saved, indentation included,\n" +
		"then a line containing only EXIT. You answer once; the tests then run on your program."
}

func (editor) Stop() []string { return append([]string(nil), Stop...) }

func (editor) Edit(_ []string, action string) ([]string, bool, error) {
	lines, err := ParseAnswer(action)
	return lines, true, err
}

func (editor) Style() corrupt.Style { return corrupt.Rewrite }

// FinishDemo turns the engine's answer (the reference program) into the
// exact completion the tool reads, EXIT line included.
func (editor) FinishDemo(d sdk.Demonstration) sdk.Demonstration {
	for i, a := range d.Actions {
		if _, err := ParseAnswer(a); err != nil {
			d.Actions[i] = FormatAnswer(a)
		}
	}
	return d
}
