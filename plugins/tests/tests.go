// Package tests is the `tests` reward: it pays for repaired programs and
// charges for sloppy episodes, per turn, from the tool's StepInfo alone.
//
//   - solved_reward (default +1) at the turn where the tests first pass;
//   - format_penalty (default -0.5) for every malformed or out-of-range
//     action (After.Valid is false);
//   - missing_exit_penalty (default -0.5) on the last turn of an episode
//     that ended without the tool's stop action (EXIT), e.g. at the turn
//     limit.
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
)

// Config is the reward's HCL block.
type Config struct {
	SolvedReward       float64 `json:"solved_reward"`
	FormatPenalty      float64 `json:"format_penalty"`
	MissingExitPenalty float64 `json:"missing_exit_penalty"`
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
	}{{"solved_reward", cfg.SolvedReward}, {"format_penalty", cfg.FormatPenalty}, {"missing_exit_penalty", cfg.MissingExitPenalty}} {
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
	return s
}
