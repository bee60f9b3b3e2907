package sdk

import "context"

// Task is one repair task: a program to repair and the tests that decide
// whether it is repaired. See docs/design.md §5.
type Task struct {
	ID   string `json:"task_id"`
	Text string `json:"text,omitempty"`
	// Program is the code the model starts from (broken, for a repair task).
	Program string `json:"program"`
	// Tests is Python source, typically assert lines, run after Program.
	Tests string `json:"tests"`
	// Reference is a correct solution, when known. Tools never show it to
	// the model; the synthesizer corrupts it, the sandbox may compare test
	// values against it.
	Reference string `json:"reference,omitempty"`
	// Setup is Python source run before the program (imports, helpers).
	Setup string `json:"setup,omitempty"`
	// TimeoutS overrides the sandbox's wall-clock limit for this task.
	TimeoutS float64 `json:"timeout_s,omitempty"`
	// Split is "train", "validation" or "test" when the loader knows it.
	Split string `json:"split,omitempty"`
}

// StepInfo is what the tool knows after a command, in a form rewards and
// the runner can use without parsing the observation text.
type StepInfo struct {
	Passed int // tests passed
	Total  int // tests run
	// Solved is true when every test passed.
	Solved bool
	// Valid is false when the action was malformed or out of range; the
	// program is then unchanged.
	Valid bool
	// ErrorClass names why an action was invalid ("parse", "range",
	// "unknown-command", ...) or why the program failed ("syntax",
	// "assertion", "exception", "timeout"); empty when there is nothing to say.
	ErrorClass string
	// ErrorType names what the program raised, as Python names it
	// ("NameError", "IndentationError", "AssertionError"), or "Timeout";
	// empty when there is nothing to name. Evaluations break results down
	// by the first state's ErrorType.
	ErrorType string
	// Exited is true when the action was EXIT (or, for a one-shot tool,
	// the single answer).
	Exited bool
	// TurnLimit is true when the episode ended because max_turns was reached.
	TurnLimit bool
	// Turn counts the actions applied in this session so far.
	Turn int
}

// Observation is the tool state the model sees after Reset or a Step.
type Observation struct {
	// Text is the rendered state: numbered code, "***", feedback.
	Text string
	Info StepInfo
	// Done is true when the episode is over (EXIT, one-shot answer, or the
	// turn limit).
	Done bool
}

// ResetRequest starts an episode on a task.
type ResetRequest struct {
	Task Task
}

// ResetResponse carries the new session's id, the instruction to show the
// model before the first state, and that first state.
type ResetResponse struct {
	Session     string
	Prompt      string
	Observation Observation
	// Stop lists the strings that end one action in the model's output
	// (e.g. "\n" for a one-line DSL command); the runner samples with them,
	// so swapping tools needs no change elsewhere.
	Stop []string
}

// StepRequest applies one action (one DSL command) in a session.
type StepRequest struct {
	Session string
	Action  string
}

// StepResponse is the state after the action.
type StepResponse struct {
	Observation Observation
}

// Tool is an environment the model drives through a DSL, one action per turn.
type Tool interface {
	Plugin
	Reset(ctx context.Context, req ResetRequest) (ResetResponse, error)
	Step(ctx context.Context, req StepRequest) (StepResponse, error)
	// Close forgets a session. Closing an unknown session is not an error.
	Close(ctx context.Context, session string) error
}

// ToolWithBatch steps many sessions at once, so a tool can run their checks
// in parallel and the host pays one round trip.
type ToolWithBatch interface {
	StepBatch(ctx context.Context, reqs []StepRequest) ([]StepResponse, error)
}

// DemonstrateRequest asks for n synthetic expert traces on one task.
type DemonstrateRequest struct {
	Task Task
	Seed int64
	N    int
	// Verbatim asks for the task's reference broken as written, without
	// the variations a tool may add to training demonstrations (coedit's
	// renamed names): repair tasks for evaluation are made this way, so an
	// eval measures the benchmark's programs, not the augmentation.
	Verbatim bool
	// Continuation asks instead for the expert's continuation of an
	// episode: After holds the actions already taken from Task.Program (a
	// broken program, as an eval or a policy played it; none: from the
	// program itself), which the tool applies as its Step would (a
	// malformed one changes nothing). The tool returns at most one
	// demonstration, whose Program is the program After leaves and whose
	// Actions repair it from there (none when the tool cannot continue);
	// Seed and N do not apply. This is DAgger's relabelling (Ross, Gordon
	// and Bagnell, 2011): the states a policy visits, labelled by the
	// expert.
	Continuation bool
	After        []string
}

// Demonstration is one expert trace: the broken program the episode starts
// from and the actions, in order, that repair it (ending with the tool's
// stop action where it has one).
type Demonstration struct {
	TaskID  string
	Program string
	Actions []string
	// Corruptions names the operators that broke the program, for stats.
	Corruptions []string
	// Learn counts the leading actions that are mistakes the rest of the
	// demonstration recovers from (a command aimed at the wrong line, say):
	// training reads them as context and learns only the actions after
	// them (episode.Episode.Learn).
	Learn int
}

// ToolWithDemonstrate produces synthetic demonstrations for supervised
// training. The tool knows its own DSL, so it writes its own traces.
type ToolWithDemonstrate interface {
	Demonstrate(ctx context.Context, req DemonstrateRequest) ([]Demonstration, error)
}
