package rollout

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/sdk"
)

// counterTool is a tiny tool: the "program" is a number, "INC" adds one,
// "EXIT" stops, anything else is malformed; the tests pass when the number
// equals the task's Tests field.
type counterTool struct {
	mu       sync.Mutex
	maxTurns int
	sessions map[string]*counterSession
	next     int
	closed   int
}

type counterSession struct {
	value, target, turns int
}

func (c *counterTool) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (c *counterTool) Configure(context.Context, sdk.Config) error { return nil }

func (c *counterTool) info(s *counterSession, valid, exited bool) sdk.StepInfo {
	solved := s.value == s.target
	passed := 0
	if solved {
		passed = 1
	}
	return sdk.StepInfo{Passed: passed, Total: 1, Solved: solved, Valid: valid, Exited: exited, Turn: s.turns}
}

func (c *counterTool) Reset(_ context.Context, req sdk.ResetRequest) (sdk.ResetResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, _ := strconv.Atoi(req.Task.Program)
	t, _ := strconv.Atoi(req.Task.Tests)
	s := &counterSession{value: v, target: t}
	c.next++
	id := fmt.Sprint(c.next)
	c.sessions[id] = s
	return sdk.ResetResponse{Session: id, Prompt: "count", Stop: []string{"\n"},
		Observation: sdk.Observation{Text: fmt.Sprintf("value %d", v), Info: c.info(s, true, false)}}, nil
}

func (c *counterTool) Step(_ context.Context, req sdk.StepRequest) (sdk.StepResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[req.Session]
	if !ok {
		return sdk.StepResponse{}, fmt.Errorf("no session %q", req.Session)
	}
	s.turns++
	action := strings.TrimSpace(req.Action)
	valid, exited := true, false
	switch action {
	case "INC":
		s.value++
	case "EXIT":
		exited = true
	default:
		valid = false
	}
	info := c.info(s, valid, exited)
	info.TurnLimit = s.turns >= c.maxTurns && !exited
	return sdk.StepResponse{Observation: sdk.Observation{
		Text: fmt.Sprintf("value %d", s.value), Info: info, Done: exited || info.TurnLimit}}, nil
}

func (c *counterTool) Close(_ context.Context, session string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sessions[session]; ok {
		delete(c.sessions, session)
		c.closed++
	}
	return nil
}

// scriptModel answers from a script keyed by the task's start value (read
// from the first state in the context) and the number of actions so far.
type scriptModel struct {
	script map[string][]string
	// window, when positive, makes contexts longer than it overflow.
	window int
	calls  int
}

func (m *scriptModel) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (m *scriptModel) Configure(context.Context, sdk.Config) error { return nil }
func (m *scriptModel) Info(context.Context) (sdk.ModelInfo, error) { return sdk.ModelInfo{}, nil }

func (m *scriptModel) Generate(_ context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	m.calls++
	// Every context comes with its chat turns, which lay out to the same text.
	if len(req.Messages) != len(req.Contexts) {
		return sdk.GenerateResponse{}, fmt.Errorf("%d message lists for %d contexts", len(req.Messages), len(req.Contexts))
	}
	for i, c := range req.Contexts {
		if r := episode.Render(req.Messages[i], req.Sampling.Stop); r != c {
			return sdk.GenerateResponse{}, fmt.Errorf("messages render as %q, context is %q", r, c)
		}
	}
	var out sdk.GenerateResponse
	for _, c := range req.Contexts {
		if m.window > 0 && len(c) > m.window {
			out.Completions = append(out.Completions, sdk.Completion{StopReason: "context"})
			continue
		}
		lines := strings.Split(c, "\n")
		start := strings.TrimPrefix(lines[1], "value ")
		turn := strings.Count(c, episode.ActionPrompt) - 1
		actions := m.script[start]
		a := "EXIT"
		if turn < len(actions) {
			a = actions[turn]
		}
		out.Completions = append(out.Completions, sdk.Completion{Text: a + "\n", Logprobs: []float64{-0.5, -0.25}, StopReason: "stop"})
	}
	return out, nil
}

// firstPass is the `tests` reward's rule, re-stated for the test.
type firstPass struct{}

func (firstPass) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (firstPass) Configure(context.Context, sdk.Config) error { return nil }
func (firstPass) Score(_ context.Context, t sdk.Transition) (sdk.Score, error) {
	r := 0.0
	if t.After.Solved && !t.SolvedEarlier {
		r++
	}
	if !t.After.Valid {
		r -= 0.5
	}
	if t.Done && !t.After.Exited {
		r -= 0.5
	}
	return sdk.Score{Reward: r}, nil
}

func TestPlay(t *testing.T) {
	tasks := []sdk.Task{
		{ID: "a", Program: "0", Tests: "2"}, // INC INC EXIT: solved at turn 2
		{ID: "b", Program: "5", Tests: "6"}, // junk, INC, then runs out of turns
		{ID: "c", Program: "1", Tests: "1"}, // already solved: EXIT
	}
	model := &scriptModel{script: map[string][]string{
		"0": {"INC", "INC", "EXIT"},
		"5": {"oops", "INC", "INC", "INC"},
		"1": {"EXIT"},
	}}
	tool := &counterTool{maxTurns: 3, sessions: map[string]*counterSession{}}
	phases := &Phases{}
	e := &Engine{Tool: tool, Model: model, Reward: firstPass{}, Phases: phases}
	trajs, err := e.Play(context.Background(), tasks, Config{Group: 2, History: episode.Full})
	if err != nil {
		t.Fatal(err)
	}
	if phases.Generate <= 0 || phases.Tool <= 0 || phases.Score <= 0 {
		t.Errorf("phases not timed: %+v", *phases)
	}
	if len(trajs) != 6 {
		t.Fatalf("got %d trajectories, want 6", len(trajs))
	}
	tests := []struct {
		idx       int
		task      string
		turns     int
		rewards   []float64
		solvedAt  int
		solved    bool
		within1   bool
		lastState string
	}{
		{0, "a", 3, []float64{0, 1, 0}, 2, true, false, "value 2"},
		{1, "a", 3, []float64{0, 1, 0}, 2, true, false, "value 2"},
		// malformed (-0.5); INC solves (+1); INC breaks it and hits the
		// turn limit without EXIT (-0.5).
		{2, "b", 3, []float64{-0.5, 1, -0.5}, 2, false, false, "value 7"},
		{4, "c", 1, []float64{0}, 0, true, true, "value 1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.idx), func(t *testing.T) {
			tr := trajs[tt.idx]
			if tr.TaskID != tt.task || len(tr.Turns) != tt.turns {
				t.Fatalf("task %s with %d turns, want %s with %d", tr.TaskID, len(tr.Turns), tt.task, tt.turns)
			}
			for i, want := range tt.rewards {
				if tr.Turns[i].Reward != want {
					t.Errorf("turn %d reward %v, want %v", i, tr.Turns[i].Reward, want)
				}
			}
			if tr.SolvedAt != tt.solvedAt || tr.Solved() != tt.solved || tr.SolvedWithin(1) != tt.within1 {
				t.Errorf("SolvedAt=%d Solved=%v SolvedWithin(1)=%v, want %d %v %v",
					tr.SolvedAt, tr.Solved(), tr.SolvedWithin(1), tt.solvedAt, tt.solved, tt.within1)
			}
			if got := tr.States[len(tr.States)-1]; got != tt.lastState {
				t.Errorf("last state %q, want %q", got, tt.lastState)
			}
			if len(tr.States) != len(tr.Turns)+1 {
				t.Errorf("%d states for %d turns", len(tr.States), len(tr.Turns))
			}
		})
	}
	if len(tool.sessions) != 0 || tool.closed != 6 {
		t.Errorf("sessions left open: %d (closed %d)", len(tool.sessions), tool.closed)
	}
	// All live sessions share each Generate call: 3 turns, 3 calls.
	if model.calls != 3 {
		t.Errorf("Generate called %d times, want 3 (one per turn)", model.calls)
	}
	wantCtx := "count\nvalue 0\n$ INC\nvalue 1\n$ "
	if got := trajs[0].Turns[1].Context; got != wantCtx {
		t.Errorf("turn 2 context %q, want %q", got, wantCtx)
	}
}

func TestPlayMaxTurnsCapsTheTool(t *testing.T) {
	model := &scriptModel{script: map[string][]string{"0": {"INC", "INC", "INC", "INC"}}}
	tool := &counterTool{maxTurns: 10, sessions: map[string]*counterSession{}}
	e := &Engine{Tool: tool, Model: model, Reward: firstPass{}}
	trajs, err := e.Play(context.Background(), []sdk.Task{{ID: "a", Program: "0", Tests: "9"}}, Config{MaxTurns: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr := trajs[0]
	if len(tr.Turns) != 2 || !tr.Turns[1].Done || tr.Turns[1].Reward != -0.5 {
		t.Errorf("turns=%d done=%v reward=%v, want 2 turns ending with the missing-EXIT penalty",
			len(tr.Turns), tr.Turns[len(tr.Turns)-1].Done, tr.Turns[len(tr.Turns)-1].Reward)
	}
}

func TestPlayOverflowFallsBackThenEnds(t *testing.T) {
	model := &scriptModel{script: map[string][]string{"0": {"INC", "INC", "INC", "INC"}}}
	tool := &counterTool{maxTurns: 10, sessions: map[string]*counterSession{}}
	// "count\nvalue 0\n$ " is 16 bytes; each full-history turn adds 12.
	model.window = 30
	e := &Engine{Tool: tool, Model: model}
	trajs, err := e.Play(context.Background(), []sdk.Task{{ID: "a", Program: "0", Tests: "9"}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := trajs[0]
	if tr.Truncated == 0 {
		t.Error("full history never fell back to the last state")
	}
	if tr.Overflowed {
		t.Error("last-state contexts fit the window but the episode overflowed")
	}
	model.window = 10 // even the first context is too long
	trajs, err = e.Play(context.Background(), []sdk.Task{{ID: "a", Program: "0", Tests: "9"}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !trajs[0].Overflowed || len(trajs[0].Turns) != 0 {
		t.Errorf("overflowed=%v turns=%d, want an overflowed episode with no turns", trajs[0].Overflowed, len(trajs[0].Turns))
	}
	if len(tool.sessions) != 0 {
		t.Errorf("%d sessions left open", len(tool.sessions))
	}
}
