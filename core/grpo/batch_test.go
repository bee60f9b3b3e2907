package grpo

import (
	"math"
	"testing"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

func traj(task string, solved bool, rewards ...float64) *rollout.Trajectory {
	tr := &rollout.Trajectory{TaskID: task}
	for i, r := range rewards {
		tr.Turns = append(tr.Turns, rollout.Turn{
			Context:    task + " context",
			Completion: sdk.Completion{Text: "CMD\n", Tokens: []int32{7, 8}, Logprobs: []float64{-1, -2}},
			Info:       sdk.StepInfo{Valid: r >= 0, Solved: solved && i == len(rewards)-1},
			Reward:     r,
		})
	}
	return tr
}

func TestBatch(t *testing.T) {
	trajs := []*rollout.Trajectory{
		traj("a", true, 0, 1), traj("a", false, -0.5, 0),
		traj("b", false, 0), traj("b", false, 0), // no signal
	}
	ex, st, err := Batch(trajs, 2, PerTrajectory)
	if err != nil {
		t.Fatal(err)
	}
	// Group a: totals 1 and -0.5 -> +1 and -1 on each of 2 turns; group b
	// contributes nothing.
	if len(ex) != 4 {
		t.Fatalf("got %d examples, want 4", len(ex))
	}
	for i, want := range []float64{1, 1, -1, -1} {
		if math.Abs(ex[i].Advantage-want) > 1e-9 {
			t.Errorf("example %d advantage %v, want %v", i, ex[i].Advantage, want)
		}
		if len(ex[i].OldLogprobs) != 2 || len(ex[i].Tokens) != 2 || ex[i].Completion != "CMD\n" {
			t.Errorf("example %d lost its completion: %+v", i, ex[i])
		}
	}
	want := RolloutStats{Trajectories: 4, MeanReturn: 0.125, PassRate: 0.25, MeanTurns: 1.5,
		InvalidRate: 1.0 / 6, Tokens: 12, ZeroGroups: 1}
	if math.Abs(st.InvalidRate-want.InvalidRate) > 1e-12 {
		t.Errorf("InvalidRate %v, want %v", st.InvalidRate, want.InvalidRate)
	}
	st.InvalidRate = want.InvalidRate
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if _, _, err := Batch(trajs, 3, PerTurn); err == nil {
		t.Error("4 trajectories in groups of 3: want error")
	}
}
