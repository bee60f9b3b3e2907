// Package evaluate turns played episodes into the numbers of a results
// table: unbiased pass@k over n samples per task, greedy pass@1, mean turns,
// tokens generated, and success as a function of the turn budget (the
// test-time-compute curve).
package evaluate

import (
	"fmt"
	"sort"

	"github.com/lathe-ml/lathe/core/passk"
	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rollout"
)

// Summary is the evaluation of one model checkpoint with one tool.
type Summary struct {
	Tasks   int
	Samples int // per task
	// PassAtK maps k to the mean unbiased pass@k over tasks.
	PassAtK map[int]float64
	// GreedyPass1 is the fraction of tasks solved by the greedy episode;
	// negative when no greedy episodes were played.
	GreedyPass1 float64
	MeanTurns   float64 // over sampled episodes
	Tokens      int     // generated, sampled and greedy episodes together
	Overflows   int
	// TurnBudget[b] is pass@1 (sampled) when every episode is cut after b
	// turns, for b = 1..max turns seen; index 0 is before any action.
	TurnBudget []float64
	// GreedyTurnBudget is the same curve for the greedy episodes.
	GreedyTurnBudget []float64
	// Groups is pass@1 broken down by the tasks' first error and labels
	// (Breakdown); Run fills it.
	Groups []results.Group
}

// Summarize computes a Summary. sampled holds n episodes per task, grouped
// per task as rollout.Play returns them; greedy holds one per task in the
// same task order, or is empty. ks must satisfy 1 <= k <= n.
func Summarize(sampled []*rollout.Trajectory, n int, ks []int, greedy []*rollout.Trajectory) (Summary, error) {
	if n <= 0 || len(sampled) == 0 || len(sampled)%n != 0 {
		return Summary{}, fmt.Errorf("evaluate: %d episodes do not split into groups of %d samples", len(sampled), n)
	}
	tasks := len(sampled) / n
	if len(greedy) != 0 && len(greedy) != tasks {
		return Summary{}, fmt.Errorf("evaluate: %d greedy episodes for %d tasks", len(greedy), tasks)
	}
	s := Summary{Tasks: tasks, Samples: n, PassAtK: map[int]float64{}, GreedyPass1: -1}
	passed := make([]int, tasks)
	maxTurns, turns := 0, 0
	for i, tr := range sampled {
		if tr.Solved() {
			passed[i/n]++
		}
		turns += len(tr.Turns)
		maxTurns = max(maxTurns, len(tr.Turns))
		s.Tokens += tr.GeneratedTokens()
		if tr.Overflowed {
			s.Overflows++
		}
	}
	s.MeanTurns = float64(turns) / float64(len(sampled))
	sorted := append([]int(nil), ks...)
	sort.Ints(sorted)
	for _, k := range sorted {
		p, err := passk.Mean(n, passed, k)
		if err != nil {
			return Summary{}, fmt.Errorf("evaluate: pass@%d: %w", k, err)
		}
		s.PassAtK[k] = p
	}
	s.TurnBudget = budgetCurve(sampled, maxTurns)
	if len(greedy) > 0 {
		solved, gmax := 0, 0
		for _, tr := range greedy {
			if tr.Solved() {
				solved++
			}
			s.Tokens += tr.GeneratedTokens()
			gmax = max(gmax, len(tr.Turns))
		}
		s.GreedyPass1 = float64(solved) / float64(len(greedy))
		s.GreedyTurnBudget = budgetCurve(greedy, max(gmax, maxTurns))
	}
	return s, nil
}

func budgetCurve(trajs []*rollout.Trajectory, maxTurns int) []float64 {
	curve := make([]float64, maxTurns+1)
	for b := range curve {
		ok := 0
		for _, tr := range trajs {
			if tr.SolvedWithin(b) {
				ok++
			}
		}
		curve[b] = float64(ok) / float64(len(trajs))
	}
	return curve
}
