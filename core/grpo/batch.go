package grpo

import (
	"fmt"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// RolloutStats summarises the trajectories of one GRPO step.
type RolloutStats struct {
	Trajectories int
	MeanReturn   float64
	PassRate     float64 // trajectories that ended with the tests passing
	MeanTurns    float64
	InvalidRate  float64 // turns whose action was malformed or out of range
	Overflows    int     // episodes ended because the context did not fit
	Tokens       int     // tokens generated
	// ZeroGroups counts groups whose returns were all equal: they carry no
	// learning signal (all solved or all failed).
	ZeroGroups int
}

// Batch turns a step's trajectories, grouped as rollout.Play returns them
// (group consecutive trajectories per task), into policy-gradient examples:
// one per turn, its advantage from the group. Turns whose advantage is zero
// are left out: they contribute no policy gradient.
func Batch(trajs []*rollout.Trajectory, group int, mode Mode) ([]sdk.PolicyExample, RolloutStats, error) {
	var st RolloutStats
	if group <= 0 || len(trajs)%group != 0 {
		return nil, st, fmt.Errorf("grpo: %d trajectories do not split into groups of %d", len(trajs), group)
	}
	var examples []sdk.PolicyExample
	turns, invalid, solved := 0, 0, 0
	var ret float64
	for g := 0; g < len(trajs); g += group {
		members := trajs[g : g+group]
		rewards := make([][]float64, group)
		for i, tr := range members {
			for _, tu := range tr.Turns {
				rewards[i] = append(rewards[i], tu.Reward)
			}
		}
		adv, err := Advantages(rewards, mode)
		if err != nil {
			return nil, st, err
		}
		signal := false
		for i, tr := range members {
			ret += tr.Return()
			if tr.Solved() {
				solved++
			}
			if tr.Overflowed {
				st.Overflows++
			}
			st.Tokens += tr.GeneratedTokens()
			for t, tu := range tr.Turns {
				turns++
				if !tu.Info.Valid {
					invalid++
				}
				if adv[i][t] == 0 {
					continue
				}
				signal = true
				examples = append(examples, sdk.PolicyExample{
					Context:     tu.Context,
					Completion:  tu.Completion.Text,
					Tokens:      tu.Completion.Tokens,
					Advantage:   adv[i][t],
					OldLogprobs: tu.Completion.Logprobs,
				})
			}
		}
		if !signal {
			st.ZeroGroups++
		}
	}
	st.Trajectories = len(trajs)
	if n := float64(len(trajs)); n > 0 {
		st.MeanReturn = ret / n
		st.PassRate = float64(solved) / n
		st.MeanTurns = float64(turns) / n
	}
	if turns > 0 {
		st.InvalidRate = float64(invalid) / float64(turns)
	}
	return examples, st, nil
}
