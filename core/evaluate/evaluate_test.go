package evaluate

import (
	"math"
	"testing"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// ep builds an episode whose tests pass after the turns listed in solvedAfter
// (1-based) and fail after the others.
func ep(turns int, solvedAfter ...int) *rollout.Trajectory {
	tr := &rollout.Trajectory{}
	for t := 1; t <= turns; t++ {
		solved := false
		for _, s := range solvedAfter {
			solved = solved || s == t
		}
		tr.Turns = append(tr.Turns, rollout.Turn{Info: sdk.StepInfo{Solved: solved}, Completion: sdk.Completion{Logprobs: []float64{-1, -1, -1}}})
	}
	return tr
}

func TestSummarize(t *testing.T) {
	sampled := []*rollout.Trajectory{
		// task 1: two of four samples end solved; one solves at turn 3.
		ep(2, 2), ep(3, 3), ep(1), ep(2),
		// task 2: none.
		ep(1), ep(1), ep(1), ep(1),
	}
	greedy := []*rollout.Trajectory{ep(2, 1, 2), ep(3)}
	s, err := Summarize(sampled, 4, []int{4, 1, 2}, greedy)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"pass@1", s.PassAtK[1], (0.5 + 0) / 2},
		{"pass@2", s.PassAtK[2], (1 - 1.0/6 + 0) / 2}, // 1 - C(2,2)/C(4,2)
		{"pass@4", s.PassAtK[4], 0.5},
		{"greedy pass@1", s.GreedyPass1, 0.5},
		{"mean turns", s.MeanTurns, 12.0 / 8},
		{"tokens", float64(s.Tokens), 3 * (12 + 5)},
		{"budget 0", s.TurnBudget[0], 0},
		{"budget 1", s.TurnBudget[1], 0},
		{"budget 2", s.TurnBudget[2], 1.0 / 8},
		{"budget 3", s.TurnBudget[3], 2.0 / 8},
		{"greedy budget 1", s.GreedyTurnBudget[1], 0.5},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(s.TurnBudget) != 4 {
		t.Errorf("turn budget curve has %d points, want 4 (0..3 turns)", len(s.TurnBudget))
	}
}

func TestSummarizeRejectsBadShapes(t *testing.T) {
	if _, err := Summarize([]*rollout.Trajectory{ep(1), ep(1), ep(1)}, 2, []int{1}, nil); err == nil {
		t.Error("3 episodes in groups of 2: want error")
	}
	if _, err := Summarize([]*rollout.Trajectory{ep(1), ep(1)}, 2, []int{3}, nil); err == nil {
		t.Error("k > n: want error")
	}
	if _, err := Summarize([]*rollout.Trajectory{ep(1), ep(1)}, 2, []int{1}, []*rollout.Trajectory{ep(1), ep(1)}); err == nil {
		t.Error("2 greedy episodes for 1 task: want error")
	}
}
