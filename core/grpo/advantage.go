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
	// later rewards of its trajectory) and normalises all returns-to-go of
	// the group together: A = (R - mean) / std. A turn that sets up a later
	// pass is credited; a malformed command after the pass is not.
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

	// The statistics are over the values that are being normalised: every
	// turn's return-to-go, or one total per trajectory.
	var values []float64
	for _, rs := range returns {
		switch {
		case mode == PerTurn:
			values = append(values, rs...)
		case len(rs) > 0:
			values = append(values, rs[0])
		default:
			values = append(values, 0) // an empty trajectory earned nothing
		}
	}
	mean, std := meanStd(values)

	adv := make([][]float64, len(returns))
	for i, rs := range returns {
		adv[i] = make([]float64, len(rs))
		if std < minStd {
			continue
		}
		for t, r := range rs {
			adv[i][t] = (r - mean) / std
		}
	}
	return adv, nil
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
