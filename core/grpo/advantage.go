// Package grpo computes group-relative advantages for multi-turn GRPO: a
// group holds G trajectories sampled from the same task, each a list of
// per-turn rewards, and every turn gets an advantage that says how much
// better than its group it did.
//
// It is pure arithmetic on rewards, so it is unit-tested on hand-computed
// cases; the rollout engine and the policy update live elsewhere.
package grpo

import (
	"fmt"
	"math"
)

// Mode selects how returns become advantages.
type Mode string

const (
	// PerTurn uses each turn's return-to-go (the sum of its own and all
	// later rewards of its trajectory) with a per-turn baseline: the mean
	// return-to-go at the same turn index over the group's trajectories
	// that reached it. The residuals are divided by their standard
	// deviation over the group. A turn that sets up a later pass is
	// credited; a malformed command after the pass is not; and identical
	// trajectories get zero advantage (a baseline shared across turn
	// indices would instead teach that early turns are worse merely
	// because more penalties lie ahead of them). A turn index that only one
	// trajectory reached has nothing to compare with and gets zero.
	PerTurn Mode = "turn"
	// PerTrajectory gives every turn its trajectory's total return,
	// normalised over the G totals (the original single-turn GRPO).
	PerTrajectory Mode = "trajectory"
)

// ParseMode accepts "turn" or "trajectory".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case PerTurn, PerTrajectory:
		return Mode(s), nil
	}
	return "", fmt.Errorf("grpo: unknown advantage mode %q (want %q or %q)", s, PerTurn, PerTrajectory)
}

// minStd is the spread below which a group carries no signal: all its
// returns are equal, so every advantage is zero rather than noise/eps.
const minStd = 1e-6

// Advantages returns one advantage per turn for each trajectory in the
// group; rewards[i][t] is the reward of turn t of trajectory i.
func Advantages(rewards [][]float64, mode Mode) ([][]float64, error) {
	returns := make([][]float64, len(rewards))
	for i, rs := range rewards {
		returns[i] = make([]float64, len(rs))
		switch mode {
		case PerTurn:
			acc := 0.0
			for t := len(rs) - 1; t >= 0; t-- {
				acc += rs[t]
				returns[i][t] = acc
			}
		case PerTrajectory:
			total := 0.0
			for _, r := range rs {
				total += r
			}
			for t := range rs {
				returns[i][t] = total
			}
		default:
			return nil, fmt.Errorf("grpo: unknown advantage mode %q", mode)
		}
	}

	if mode == PerTurn {
		return perTurnAdvantages(returns), nil
	}

	// Trajectory mode: one total per trajectory, normalised over the group.
	totals := make([]float64, len(returns))
	for i, rs := range returns {
		if len(rs) > 0 {
			totals[i] = rs[0]
		}
	}
	mean, std := meanStd(totals)
	adv := make([][]float64, len(returns))
	for i, rs := range returns {
		adv[i] = make([]float64, len(rs))
		if std < minStd {
			continue
		}
		for t := range rs {
			adv[i][t] = (totals[i] - mean) / std
		}
	}
	return adv, nil
}

// perTurnAdvantages subtracts, from each return-to-go, the mean over the
// trajectories that reached the same turn, and divides by the standard
// deviation of those residuals over every turn index shared by at least two
// trajectories.
func perTurnAdvantages(returns [][]float64) [][]float64 {
	longest := 0
	for _, rs := range returns {
		longest = max(longest, len(rs))
	}
	means := make([]float64, longest)
	counts := make([]int, longest)
	for _, rs := range returns {
		for t, r := range rs {
			means[t] += r
			counts[t]++
		}
	}
	for t := range means {
		means[t] /= float64(counts[t])
	}
	var residuals []float64
	for _, rs := range returns {
		for t, r := range rs {
			if counts[t] >= 2 {
				residuals = append(residuals, r-means[t])
			}
		}
	}
	_, std := meanStd(residuals)
	adv := make([][]float64, len(returns))
	for i, rs := range returns {
		adv[i] = make([]float64, len(rs))
		if std < minStd {
			continue
		}
		for t, r := range rs {
			if counts[t] >= 2 {
				adv[i][t] = (r - means[t]) / std
			}
		}
	}
	return adv
}

// meanStd is the population mean and standard deviation.
func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)))
}
