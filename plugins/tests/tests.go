// Package tests is the `tests` reward: it pays for repaired programs and
// charges for sloppy episodes, per turn, from the tool's StepInfo alone.
//
//   - solved_reward (default +1) at the turn where the tests first pass;
//   - format_penalty (default -0.5) for every malformed or out-of-range
//     action (After.Valid is false);
//   - missing_exit_penalty (default -0.5) on the last turn of an episode
//     that ended without the tool's stop action (EXIT), e.g. at the turn
//     limit;
//   - progress_reward (default 0, off) times the change, at every turn, in
//     the share of the tests that pass: a dense signal for a policy that
//     rarely solves a task outright (a fix of one bug of three that makes a
//     test pass is paid; an edit that breaks one is charged). It is
//     potential-based shaping (Ng, Harada and Russell, 1999) with the pass
//     share as potential: over an episode it sums to the final share minus
//     the first, so it does not change which policy is best, and quitting at
//     once earns nothing.
//
// The defaults are the paper's. The reward keeps no state: "first pass"
// comes from Transition.SolvedEarlier, so one instance scores any number of
// episodes concurrently.
package tests

import (
	"context"
	"fmt"
	"math"

	"github.com/lathe-ml/lathe/sdk"
)

// Component names, as they appear in sdk.Score.Components and the metrics.
const (
	ComponentSolved      = "solved"
	ComponentFormat      = "format"
	ComponentMissingExit = "missing_exit"
	ComponentProgress    = "progress"
)

// Config is the reward's HCL block.
type Config struct {
	SolvedReward       float64 `json:"solved_reward"`
	FormatPenalty      float64 `json:"format_penalty"`
	MissingExitPenalty float64 `json:"missing_exit_penalty"`
	ProgressReward     float64 `json:"progress_reward"`
}

// DefaultConfig holds the paper's values.
var DefaultConfig = Config{SolvedReward: 1, FormatPenalty: -0.5, MissingExitPenalty: -0.5}

// Reward implements sdk.Reward and sdk.RewardWithBatch.
type Reward struct {
	cfg Config
}

// New returns the reward with the default configuration.
func New() *Reward { return &Reward{cfg: DefaultConfig} }

var (
	_ sdk.Reward          = (*Reward)(nil)
	_ sdk.RewardWithBatch = (*Reward)(nil)
	_ sdk.ConfigValidator = (*Reward)(nil)
)

// Schema implements sdk.Plugin.
func (r *Reward) Schema(context.Context) (sdk.Schema, error) {
	return sdk.Schema{
		Description: "Per-turn reward from the tests: a bonus when they first pass, penalties for malformed actions and a missing EXIT.",
		Attributes: []sdk.Attribute{
			{Name: "solved_reward", Type: "number", Default: DefaultConfig.SolvedReward,
				Description: "reward at the turn where all tests first pass"},
			{Name: "format_penalty", Type: "number", Default: DefaultConfig.FormatPenalty,
				Description: "reward for a malformed or out-of-range action (usually negative)"},
			{Name: "missing_exit_penalty", Type: "number", Default: DefaultConfig.MissingExitPenalty,
				Description: "reward on the last turn of an episode that ended without EXIT (usually negative)"},
			{Name: "progress_reward", Type: "number", Default: DefaultConfig.ProgressReward,
				Description: "weight of the per-turn change in the share of tests passed (potential-based shaping; 0: off)"},
		},
	}, nil
}

// Configure implements sdk.Plugin. Attributes left out keep their defaults.
func (r *Reward) Configure(_ context.Context, c sdk.Config) error {
	cfg, errs, err := decodeConfig(c)
	if err == nil {
		err = errs.Err()
	}
	if err != nil {
		return fmt.Errorf("tests: %w", err)
	}
	r.cfg = cfg
	return nil
}

// ValidateConfig implements sdk.ConfigValidator with Configure's checks.
func (r *Reward) ValidateConfig(_ context.Context, c sdk.Config) ([]sdk.ConfigError, error) {
	_, errs, err := decodeConfig(c)
	if err != nil {
		return nil, fmt.Errorf("tests: %w", err)
	}
	return errs, nil
}

func decodeConfig(c sdk.Config) (Config, sdk.ConfigErrors, error) {
	cfg := DefaultConfig
	if err := c.Decode(&cfg); err != nil {
		return cfg, nil, err
	}
	var errs sdk.ConfigErrors
	for _, o := range []struct {
		name string
		v    float64
	}{{"solved_reward", cfg.SolvedReward}, {"format_penalty", cfg.FormatPenalty}, {"missing_exit_penalty", cfg.MissingExitPenalty},
		{"progress_reward", cfg.ProgressReward}} {
		if math.IsNaN(o.v) || math.IsInf(o.v, 0) {
			errs.Addf(o.name, "must be a finite number, got %v", o.v)
		}
	}
	return cfg, errs, nil
}

// Score implements sdk.Reward.
func (r *Reward) Score(_ context.Context, t sdk.Transition) (sdk.Score, error) {
	return r.score(t), nil
}

// ScoreBatch implements sdk.RewardWithBatch.
func (r *Reward) ScoreBatch(_ context.Context, ts []sdk.Transition) ([]sdk.Score, error) {
	out := make([]sdk.Score, len(ts))
	for i, t := range ts {
		out[i] = r.score(t)
	}
	return out, nil
}

func (r *Reward) score(t sdk.Transition) sdk.Score {
	s := sdk.Score{Components: map[string]float64{}}
	add := func(name string, v float64) {
		s.Components[name] = v
		s.Reward += v
	}
	if t.After.Solved && !t.SolvedEarlier {
		add(ComponentSolved, r.cfg.SolvedReward)
	}
	if !t.After.Valid {
		add(ComponentFormat, r.cfg.FormatPenalty)
	}
	if t.Done && !t.After.Exited {
		add(ComponentMissingExit, r.cfg.MissingExitPenalty)
	}
	if r.cfg.ProgressReward != 0 {
		if d := passShare(t.After) - passShare(t.Before); d != 0 {
			add(ComponentProgress, r.cfg.ProgressReward*d)
		}
	}
	return s
}

// passShare is the potential of a state: the share of its tests that pass
// (0 when none ran, as for a program that does not compile).
func passShare(s sdk.StepInfo) float64 {
	if s.Total <= 0 {
		return 0
	}
	return float64(s.Passed) / float64(s.Total)
}
