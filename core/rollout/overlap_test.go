package rollout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/sdk"
)

// seededModel samples each action from its context's own seed
// (Sampling.Seeds), as the transformer does, and notes whether it was ever
// called while the tool was busy.
type seededModel struct {
	toolBusy   *atomic.Int32
	overlapped atomic.Bool
}

func (m *seededModel) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (m *seededModel) Configure(context.Context, sdk.Config) error { return nil }
func (m *seededModel) Info(context.Context) (sdk.ModelInfo, error) { return sdk.ModelInfo{}, nil }

func (m *seededModel) Generate(_ context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	if len(req.Sampling.Seeds) != len(req.Contexts) {
		return sdk.GenerateResponse{}, fmt.Errorf("%d seeds for %d contexts", len(req.Sampling.Seeds), len(req.Contexts))
	}
	time.Sleep(2 * time.Millisecond)
	if m.toolBusy.Load() > 0 {
		m.overlapped.Store(true)
	}
	var out sdk.GenerateResponse
	for i := range req.Contexts {
		r := rand.New(rand.NewPCG(uint64(req.Sampling.Seeds[i]), 1))
		a := []string{"INC", "INC", "INC", "EXIT", "oops"}[r.IntN(5)]
		out.Completions = append(out.Completions, sdk.Completion{Text: a + "\n", Logprobs: []float64{-r.Float64()}, StopReason: "stop"})
	}
	return out, nil
}

// slowTool is counterTool taking time per batch of steps, counted as busy,
// and failing on the step of an action named fail, when set.
type slowTool struct {
	*counterTool
	busy *atomic.Int32
	fail string
}

func (s slowTool) StepBatch(ctx context.Context, reqs []sdk.StepRequest) ([]sdk.StepResponse, error) {
	s.busy.Add(1)
	defer s.busy.Add(-1)
	time.Sleep(3 * time.Millisecond)
	out := make([]sdk.StepResponse, len(reqs))
	for i, r := range reqs {
		if s.fail != "" && strings.TrimSpace(r.Action) == s.fail {
			return nil, errors.New("sandbox fell over")
		}
		resp, err := s.Step(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = resp
	}
	return out, nil
}

func overlapTasks(n int) []sdk.Task {
	var ts []sdk.Task
	for i := range n {
		ts = append(ts, sdk.Task{ID: fmt.Sprint("t", i), Program: fmt.Sprint(i % 3), Tests: fmt.Sprint(i%3 + 2)})
	}
	return ts
}

// TestPlayOverlapSameTrajectories: with the model writing while the tool
// checks, every trajectory (actions, states, rewards, log-probs) is the
// one lockstep turns give for the same seed, whatever the batch size, and
// the model was in fact called while the tool was busy.
func TestPlayOverlapSameTrajectories(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Group: 4, History: episode.Full, Sampling: sdk.Sampling{Temperature: 1, Seed: 5}}
	play := func(overlap bool, batch int) ([]*Trajectory, *seededModel, *counterTool) {
		busy := &atomic.Int32{}
		model := &seededModel{toolBusy: busy}
		tool := &counterTool{maxTurns: 6, sessions: map[string]*counterSession{}}
		ph := &Phases{}
		e := &Engine{Tool: slowTool{counterTool: tool, busy: busy}, Model: model, Reward: firstPass{}, Overlap: overlap, GenerateBatch: batch, Phases: ph}
		trajs, err := e.Play(ctx, overlapTasks(9), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if ph.Wall <= 0 || ph.Generate <= 0 || ph.Tool <= 0 {
			t.Errorf("phases not timed: %+v", *ph)
		}
		return trajs, model, tool
	}
	want, _, _ := play(false, 0)
	for _, tc := range []struct {
		name    string
		overlap bool
		batch   int
	}{
		{"lockstep, batches of 5", false, 5},
		{"overlap", true, 0},
		{"overlap, batches of 5", true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, model, tool := play(tc.overlap, tc.batch)
			if len(got) != len(want) {
				t.Fatalf("%d trajectories, want %d", len(got), len(want))
			}
			for i := range want {
				if a, b := describe(got[i]), describe(want[i]); a != b {
					t.Fatalf("trajectory %d:\n got %s\nwant %s", i, a, b)
				}
			}
			if tc.overlap && !model.overlapped.Load() {
				t.Error("the model never generated while the tool was busy")
			}
			if len(tool.sessions) != 0 {
				t.Errorf("%d sessions left open", len(tool.sessions))
			}
		})
	}
}

func describe(tr *Trajectory) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%d solvedAt=%d", tr.TaskID, tr.Sample, tr.SolvedAt)
	for i, tu := range tr.Turns {
		fmt.Fprintf(&b, " [%q r=%g lp=%v %q]", strings.TrimSpace(tu.Completion.Text), tu.Reward, tu.Completion.Logprobs, tr.States[i+1])
	}
	return b.String()
}

// TestPlayOverlapToolError: a tool that fails mid-episode fails the Play
// call with its own error (not the cancellation it causes), and every
// session is closed.
func TestPlayOverlapToolError(t *testing.T) {
	busy := &atomic.Int32{}
	tool := &counterTool{maxTurns: 6, sessions: map[string]*counterSession{}}
	e := &Engine{Tool: slowTool{counterTool: tool, busy: busy, fail: "oops"}, Model: &seededModel{toolBusy: busy}, Overlap: true}
	_, err := e.Play(context.Background(), overlapTasks(9), Config{Group: 4, Sampling: sdk.Sampling{Temperature: 1, Seed: 5}})
	if err == nil || !strings.Contains(err.Error(), "sandbox fell over") {
		t.Fatalf("error %v, want the tool's", err)
	}
	if len(tool.sessions) != 0 {
		t.Errorf("%d sessions left open", len(tool.sessions))
	}
}
