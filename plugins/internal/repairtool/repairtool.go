// Package repairtool is the machinery the two program-repair tools, coedit
// (Chain-of-Edits) and rewrite (direct answer), have in common: their shared
// configuration schema, the sandbox that runs the tests, the table of live
// sessions, turn counting and the rendering of a state. What differs between
// the tools (what an action is, the prompt, how a completion ends) is an
// [Editor]; each tool package is an Editor plus its documentation.
//
// Both tools accept the same attributes, so swapping one for the other in an
// experiment file is the only change needed to compare them.
package repairtool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"github.com/lathe-ml/lathe/plugins/internal/corrupt"
	"github.com/lathe-ml/lathe/sdk"
)

// Editor is what makes a repair tool: how one action changes the program.
type Editor interface {
	// Name is the plugin name, used as the error prefix and in session ids.
	Name() string
	// Description is the schema's description of the tool.
	Description() string
	// Instructions explains the action language to the model; the task's
	// text (and tests, when shown) are added around it.
	Instructions() string
	// Stop lists the strings that end one action in the model's output.
	Stop() []string
	// Edit applies one action to the program. On a malformed action it
	// returns a *dsl.Error and the program is left as it was. exit reports
	// that the episode ends with this action.
	Edit(lines []string, action string) (next []string, exit bool, err error)
	// Style selects the demonstrations' action form; FinishDemo may then
	// rewrite each demonstration into the exact action text the tool takes.
	Style() corrupt.Style
	FinishDemo(d sdk.Demonstration) sdk.Demonstration
}

// Options is the configuration block both tools accept.
type Options struct {
	MaxTurns     int     `json:"max_turns"`
	TimeoutS     float64 `json:"timeout_s"`
	Workers      int     `json:"workers"`
	ShowFeedback bool    `json:"show_feedback"`
	ShowTests    bool    `json:"show_tests"`
	// ShowInstructions includes the DSL's instructions in the prompt.
	ShowInstructions bool `json:"show_instructions"`
	// DemoOrder is how demonstrations order their commands: "feedback"
	// (corrupt.FollowFeedback) or "reverse" (corrupt.ReverseCorruptions).
	DemoOrder string `json:"demo_order"`
	// Rename is the fraction of demonstrations made from the reference
	// with its local names renamed (corrupt.Rename).
	Rename float64 `json:"rename"`
	// Operators restricts the corruption operators that break programs,
	// for demonstrations and for benchmark tasks alike (empty: all).
	Operators []string `json:"operators"`
	// MaxCorruptions is the most corruptions of one program (1..5).
	MaxCorruptions int `json:"max_corruptions"`
	// KeepFeedback shows, under a malformed command's error, the test
	// feedback of the program it left unchanged.
	KeepFeedback bool `json:"keep_feedback"`
	// Recovery is the share of Chain-of-Edits demonstrations that come
	// with a second copy starting with their first REPW aimed at a line
	// that lacks its word: the tool's error (which names the right line)
	// is then part of the copy, and the misplaced command is read, not
	// learned (misplace).
	Recovery float64 `json:"recovery"`
}

// DefaultMaxTurns is the paper's turn budget.
const DefaultMaxTurns = 10

// DefaultTimeoutS is the wall-clock limit of one check.
const DefaultTimeoutS = 5.0

func defaults() Options {
	return Options{MaxTurns: DefaultMaxTurns, TimeoutS: DefaultTimeoutS, ShowFeedback: true, ShowInstructions: true,
		DemoOrder: "feedback", MaxCorruptions: corrupt.MaxCorruptions}
}

// Attributes is the configuration schema both tools report.
func Attributes() []sdk.Attribute {
	d := defaults()
	return []sdk.Attribute{
		{Name: "max_turns", Type: "number", Default: float64(d.MaxTurns),
			Description: "actions per episode before it ends (the rewrite tool always stops after its one answer)"},
		{Name: "timeout_s", Type: "number", Default: d.TimeoutS,
			Description: "wall-clock seconds one test run may take (a task's own timeout_s wins)"},
		{Name: "workers", Type: "number", Default: float64(0),
			Description: "Python checks run in parallel; 0 means one per CPU core"},
		{Name: "show_feedback", Type: "bool", Default: d.ShowFeedback,
			Description: "show the first failing test and its error after ***; false shows only how many tests passed"},
		{Name: "show_tests", Type: "bool", Default: false,
			Description: "include the task's test source in the prompt"},
		{Name: "show_instructions", Type: "bool", Default: d.ShowInstructions,
			Description: "include the action language's instructions in the prompt; a model trained from scratch learns the format from demonstrations, and false saves it ~200 tokens of every context"},
		{Name: "demo_order", Type: "string", Default: d.DemoOrder,
			Description: `how synthetic demonstrations order their commands: "feedback" fixes, at every turn, the difference nearest the line the test feedback points at (a policy of what the model sees); "reverse" undoes the corruptions in the reverse order of their making`},
		{Name: "rename", Type: "number", Default: d.Rename,
			Description: "fraction of synthetic demonstrations whose reference first has the names it binds (parameters, locals, loop variables) renamed consistently, so that a model learns to read names from the context rather than recall them per program; 0 to 1"},
		{Name: "operators", Type: "list(string)", Default: []any{},
			Description: "corruption operators that break programs, for demonstrations and for tasks given only a correct reference (empty: all of " + strings.Join(corrupt.Operators(), ", ") + "); a curriculum or a per-bug diagnostic names a few"},
		{Name: "max_corruptions", Type: "number", Default: float64(d.MaxCorruptions),
			Description: "most corruptions of one program, each drawing its count uniformly from 1 to this; 1 to 5"},
		{Name: "recovery", Type: "number", Default: d.Recovery,
			Description: "share of synthetic demonstrations, 0 to 1, that come with a copy beginning with their first REPW on a line without its word, so the model is shown the tool's error (which names the line that has it) and the repair after it; the misplaced command is never a training target"},
		{Name: "keep_feedback", Type: "bool", Default: d.KeepFeedback,
			Description: "after a malformed or out-of-range command, show the unchanged program's test feedback under the command's error (with history = \"last\" the model otherwise no longer sees what the tests said)"},
	}
}

// RunnerFactory starts the sandbox a configured tool runs its checks in.
// The returned stop function releases it.
type RunnerFactory func(ctx context.Context, o Options) (sandbox.Runner, func() error, error)

// StaticRunner returns a factory that always hands out r and never stops
// it: for tests, and for several tools sharing one pool.
func StaticRunner(r sandbox.Runner) RunnerFactory {
	return func(context.Context, Options) (sandbox.Runner, func() error, error) {
		if r == nil {
			return nil, nil, errors.New("nil sandbox runner")
		}
		return r, func() error { return nil }, nil
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Tool implements sdk.Tool, sdk.ToolWithBatch, sdk.ToolWithDemonstrate
// and sdk.ConfigValidator for an Editor. It is safe for concurrent use.
type Tool struct {
	ed        Editor
	newRunner RunnerFactory

	mu       sync.Mutex
	opts     Options
	sessions map[string]*session
	next     uint64

	runnerMu   sync.Mutex
	runner     sandbox.Runner
	stopRunner func() error
}

type session struct {
	mu    sync.Mutex
	task  sdk.Task
	lines []string
	// checked holds the latest check's results (Passed, Total, Solved,
	// ErrorClass) and feedback its text, shown again after EXIT.
	checked  sdk.StepInfo
	feedback string
	turn     int
	done     bool
}

// New returns an unconfigured tool; checks run on the runner that
// newRunner starts on first use (PoolFactory for the real sandbox).
func New(ed Editor, newRunner RunnerFactory) *Tool {
	return &Tool{ed: ed, newRunner: newRunner, opts: defaults(), sessions: map[string]*session{}}
}

func (t *Tool) errorf(format string, args ...any) error {
	return fmt.Errorf(t.ed.Name()+": "+format, args...)
}

// Schema implements sdk.Plugin.
func (t *Tool) Schema(context.Context) (sdk.Schema, error) {
	return sdk.Schema{Description: t.ed.Description(), Attributes: Attributes()}, nil
}

// Configure implements sdk.Plugin. Omitted attributes keep their defaults.
func (t *Tool) Configure(_ context.Context, cfg sdk.Config) error {
	o, errs, err := decodeOptions(cfg)
	if err != nil {
		return t.errorf("configure: %w", err)
	}
	if len(errs) > 0 {
		return t.errorf("configure: %w", errs)
	}
	if o.Workers == 0 {
		o.Workers = runtime.NumCPU()
	}
	t.mu.Lock()
	t.opts = o
	t.mu.Unlock()
	return nil
}

// ValidateConfig implements sdk.ConfigValidator with Configure's checks.
func (t *Tool) ValidateConfig(_ context.Context, cfg sdk.Config) ([]sdk.ConfigError, error) {
	_, errs, err := decodeOptions(cfg)
	if err != nil {
		return nil, t.errorf("validate: %w", err)
	}
	return errs, nil
}

// decodeOptions decodes cfg over the defaults and checks every value.
func decodeOptions(cfg sdk.Config) (Options, sdk.ConfigErrors, error) {
	o := defaults()
	if err := cfg.Decode(&o); err != nil {
		return o, nil, err
	}
	var errs sdk.ConfigErrors
	bad := errs.Addf
	if o.MaxTurns < 1 {
		bad("max_turns", "must be at least 1, got %d", o.MaxTurns)
	}
	if o.TimeoutS <= 0 {
		bad("timeout_s", "must be positive, got %g", o.TimeoutS)
	}
	if o.Workers < 0 {
		bad("workers", "must be 0 (one per core) or more, got %d", o.Workers)
	}
	if o.Rename < 0 || o.Rename > 1 {
		bad("rename", "must be between 0 and 1, got %g", o.Rename)
	}
	if o.Recovery < 0 || o.Recovery > 1 {
		bad("recovery", "must be between 0 and 1, got %g", o.Recovery)
	}
	if o.MaxCorruptions < 1 || o.MaxCorruptions > corrupt.MaxCorruptions {
		bad("max_corruptions", "must be between 1 and %d, got %d", corrupt.MaxCorruptions, o.MaxCorruptions)
	}
	if err := corrupt.CheckOperators(o.Operators); err != nil {
		bad("operators", "names an %v", err)
	}
	if _, err := corrupt.ParseOrder(o.DemoOrder); err != nil {
		bad("demo_order", `must be "feedback" or "reverse", got %q`, o.DemoOrder)
	}
	return o, errs, nil
}

// Options returns the configuration in force, defaults resolved.
func (t *Tool) Options() Options {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.opts
	if o.Workers == 0 {
		o.Workers = runtime.NumCPU()
	}
	return o
}

// Runner starts the sandbox on first use and returns it.
func (t *Tool) Runner(ctx context.Context) (sandbox.Runner, error) {
	r, err := t.startRunner(ctx)
	if err != nil {
		return nil, t.errorf("%w", err)
	}
	return r, nil
}

// startRunner is Runner without the tool's name in its errors, for callers
// that add it themselves.
func (t *Tool) startRunner(ctx context.Context) (sandbox.Runner, error) {
	t.runnerMu.Lock()
	defer t.runnerMu.Unlock()
	if t.runner != nil {
		return t.runner, nil
	}
	if t.newRunner == nil {
		return nil, errors.New("no sandbox runner configured")
	}
	r, stop, err := t.newRunner(ctx, t.Options())
	if err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	t.runner, t.stopRunner = r, stop
	return r, nil
}

// Shutdown forgets every session and stops the sandbox the tool started.
func (t *Tool) Shutdown() error {
	t.mu.Lock()
	t.sessions = map[string]*session{}
	t.mu.Unlock()
	t.runnerMu.Lock()
	defer t.runnerMu.Unlock()
	if t.stopRunner == nil {
		return nil
	}
	err := t.stopRunner()
	t.runner, t.stopRunner = nil, nil
	if err != nil {
		return t.errorf("stop sandbox: %w", err)
	}
	return nil
}

// Prompt is the instruction shown before the first state.
func (t *Tool) Prompt(task sdk.Task) string {
	var b strings.Builder
	b.WriteString("Repair the Python program below so that its tests pass.\n")
	if s := strings.TrimSpace(task.Text); s != "" {
		b.WriteString("Task: ")
		b.WriteString(s)
		b.WriteByte('\n')
	}
	if t.Options().ShowTests {
		if s := strings.TrimSpace(task.Tests); s != "" {
			b.WriteString("Tests:\n")
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	if t.Options().ShowInstructions {
		b.WriteString(t.ed.Instructions())
	}
	if !strings.HasSuffix(b.String(), "\n") {
		b.WriteByte('\n')
	}
	return b.String()
}

// Reset implements sdk.Tool: the task's program is checked once and shown.
func (t *Tool) Reset(ctx context.Context, req sdk.ResetRequest) (sdk.ResetResponse, error) {
	s := &session{task: req.Task, lines: dsl.SplitProgram(req.Task.Program)}
	info, feedback, err := t.check(ctx, s.task, s.lines)
	if err != nil {
		return sdk.ResetResponse{}, t.errorf("reset %s: %w", req.Task.ID, err)
	}
	info.Valid = true
	s.checked, s.feedback = info, feedback

	t.mu.Lock()
	t.next++
	id := t.ed.Name() + "-" + strconv.FormatUint(t.next, 10)
	t.sessions[id] = s
	t.mu.Unlock()

	return sdk.ResetResponse{
		Session:     id,
		Prompt:      t.Prompt(req.Task),
		Observation: sdk.Observation{Text: renderState(s.lines, feedback), Info: info},
		Stop:        t.ed.Stop(),
	}, nil
}

// Step implements sdk.Tool.
func (t *Tool) Step(ctx context.Context, req sdk.StepRequest) (sdk.StepResponse, error) {
	t.mu.Lock()
	s, ok := t.sessions[req.Session]
	t.mu.Unlock()
	if !ok {
		return sdk.StepResponse{}, t.errorf("step: unknown session %q", req.Session)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return sdk.StepResponse{}, t.errorf("step: session %q is over after %d turns", req.Session, s.turn)
	}
	s.turn++
	next, exit, err := t.ed.Edit(s.lines, req.Action)

	info, feedback := s.checked, s.feedback
	var de *dsl.Error
	switch {
	case errors.As(err, &de):
		// The program is unchanged, so its test results are too; the
		// feedback says what was wrong with the action instead.
		info.Valid, info.ErrorClass = false, string(de.Class)
		if t.Options().KeepFeedback {
			feedback = de.Msg + "\n" + s.feedback
		} else {
			feedback = de.Msg
		}
	case err != nil:
		return sdk.StepResponse{}, t.errorf("step: %w", err)
	case exit && equalLines(next, s.lines):
		// EXIT: nothing to run again; the last results stand.
		info.Valid = true
	default:
		info, feedback, err = t.check(ctx, s.task, next)
		if err != nil {
			return sdk.StepResponse{}, t.errorf("step: %w", err)
		}
		info.Valid = true
		s.lines, s.checked, s.feedback = next, info, feedback
	}
	info.Turn, info.Exited = s.turn, exit
	info.TurnLimit = !exit && s.turn >= t.Options().MaxTurns
	s.done = info.Exited || info.TurnLimit
	return sdk.StepResponse{Observation: sdk.Observation{
		Text: renderState(s.lines, feedback),
		Info: info,
		Done: s.done,
	}}, nil
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// StepBatch implements sdk.ToolWithBatch: sessions step in parallel (the
// sandbox bounds how many checks run at once); several actions for one
// session run in their order in reqs.
func (t *Tool) StepBatch(ctx context.Context, reqs []sdk.StepRequest) ([]sdk.StepResponse, error) {
	order := map[string][]int{}
	var ids []string
	for i, r := range reqs {
		if _, seen := order[r.Session]; !seen {
			ids = append(ids, r.Session)
		}
		order[r.Session] = append(order[r.Session], i)
	}
	out := make([]sdk.StepResponse, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func(idx []int) {
			defer wg.Done()
			for _, i := range idx {
				out[i], errs[i] = t.Step(ctx, reqs[i])
			}
		}(order[id])
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Close implements sdk.Tool.
func (t *Tool) Close(_ context.Context, id string) error {
	t.mu.Lock()
	delete(t.sessions, id)
	t.mu.Unlock()
	return nil
}

// Sessions returns how many sessions are open.
func (t *Tool) Sessions() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
}

// Demonstrate implements sdk.ToolWithDemonstrate: the corruption engine
// breaks the task's reference, keeps the programs that fail the tests in
// the sandbox, and writes the repair in this tool's action form.
func (t *Tool) Demonstrate(ctx context.Context, req sdk.DemonstrateRequest) ([]sdk.Demonstration, error) {
	r, err := t.Runner(ctx)
	if err != nil {
		return nil, err
	}
	check := func(ctx context.Context, program string) (corrupt.Outcome, error) {
		v, err := r.Run(ctx, t.Check(req.Task, program))
		if err != nil {
			return corrupt.Outcome{}, err
		}
		return corrupt.Outcome{Failing: v.Status != sandbox.StatusPass, Line: corrupt.FeedbackLine(v.Feedback)}, nil
	}
	if req.Continuation {
		return t.continuation(ctx, req, check)
	}
	order, err := corrupt.ParseOrder(t.Options().DemoOrder)
	if err != nil {
		return nil, t.errorf("demonstrate: %w", err)
	}
	o := t.Options()
	recipe := corrupt.Recipe{Style: t.ed.Style(), Order: order, Rename: o.Rename,
		Operators: o.Operators, MaxCorruptions: o.MaxCorruptions}
	if req.Verbatim {
		recipe.Rename = 0 // the program as the benchmark wrote it
	}
	demos, err := corrupt.Demonstrations(ctx, req.Task, req.Seed, req.N, recipe, check)
	if err != nil {
		return nil, t.errorf("demonstrate: %w", err)
	}
	var extra []sdk.Demonstration
	for i := range demos {
		demos[i] = t.ed.FinishDemo(demos[i])
		if o.Recovery > 0 && !req.Verbatim && t.ed.Style() == corrupt.Coedit {
			rng := rand.New(rand.NewPCG(uint64(req.Seed), uint64(i)^0x7ec0))
			if rng.Float64() < o.Recovery {
				if m, ok := misplace(demos[i], rng); ok {
					extra = append(extra, m)
				}
			}
		}
	}
	return append(demos, extra...), nil
}

// misplace returns a copy of d that starts with d's first command aimed
// at a line that does not hold its word, when that command is a REPW and
// such a line exists: the copy shows the tool's error for it ("... does
// not occur in line 1 (it does in line 4)") and the repair from there,
// and training learns only the repair (Learn = 1).
func misplace(d sdk.Demonstration, rng *rand.Rand) (sdk.Demonstration, bool) {
	if len(d.Actions) == 0 || d.Learn > 0 {
		return d, false
	}
	c, err := dsl.Parse(d.Actions[0])
	if err != nil || c.Op != dsl.ReplaceWord {
		return d, false
	}
	var lines []int
	for i, l := range dsl.SplitProgram(d.Program) {
		if !strings.Contains(l, c.Old) {
			lines = append(lines, i+1)
		}
	}
	if len(lines) == 0 {
		return d, false
	}
	wrong := c
	wrong.Line = lines[rng.IntN(len(lines))]
	d.Actions = append([]string{dsl.Format(wrong)}, d.Actions...)
	d.Learn = 1
	return d, true
}

// continuation is the expert's way on from the program req.After leaves of
// the task's program: an EXIT where it already passes its tests, else the
// feedback-following trace to the reference. A one-shot tool has no later
// state to continue from.
func (t *Tool) continuation(ctx context.Context, req sdk.DemonstrateRequest, check corrupt.CheckFunc) ([]sdk.Demonstration, error) {
	if t.ed.Style() != corrupt.Coedit {
		return nil, t.errorf("demonstrate: a continuation needs a tool of many actions; this one answers in one")
	}
	if req.Task.Reference == "" {
		return nil, t.errorf("demonstrate: task %s has no reference program to continue towards", req.Task.ID)
	}
	lines := dsl.SplitProgram(req.Task.Program)
	for _, a := range req.After {
		next, _, err := t.ed.Edit(lines, a)
		var de *dsl.Error
		switch {
		case errors.As(err, &de): // changes nothing, as in Step
		case err != nil:
			return nil, t.errorf("demonstrate: %w", err)
		default:
			lines = next
		}
	}
	program := dsl.JoinProgram(lines)
	o, err := check(ctx, program)
	if err != nil {
		return nil, t.errorf("demonstrate: %w", err)
	}
	actions := []string{"EXIT"}
	if o.Failing {
		if actions, err = corrupt.ExpertTrace(ctx, program, req.Task.Reference, check); err != nil {
			return nil, t.errorf("demonstrate: task %s: %w", req.Task.ID, err)
		}
	}
	return []sdk.Demonstration{{TaskID: req.Task.ID, Program: program, Actions: actions}}, nil
}

// Check is the sandbox check of program against task's tests.
func (t *Tool) Check(task sdk.Task, program string) sandbox.Check {
	timeout := seconds(t.Options().TimeoutS)
	if task.TimeoutS > 0 {
		timeout = seconds(task.TimeoutS)
	}
	return sandbox.Check{
		Setup:     task.Setup,
		Program:   program,
		Tests:     task.Tests,
		Reference: task.Reference,
		Timeout:   timeout,
	}
}

// check runs the tests on lines and turns the verdict into step info and
// the feedback shown after "***".
func (t *Tool) check(ctx context.Context, task sdk.Task, lines []string) (sdk.StepInfo, string, error) {
	r, err := t.startRunner(ctx)
	if err != nil {
		return sdk.StepInfo{}, "", err
	}
	v, err := r.Run(ctx, t.Check(task, dsl.JoinProgram(lines)))
	if err != nil {
		return sdk.StepInfo{}, "", fmt.Errorf("run tests of %s: %w", task.ID, err)
	}
	info := sdk.StepInfo{
		Passed:     v.Passed,
		Total:      v.Total,
		Solved:     v.Status == sandbox.StatusPass,
		ErrorClass: v.ErrorClass,
		ErrorType:  v.ErrorType,
	}
	feedback := v.Feedback
	if !t.Options().ShowFeedback && !info.Solved {
		feedback = fmt.Sprintf("%d of %d tests passed.", v.Passed, v.Total)
	}
	return info, feedback, nil
}
