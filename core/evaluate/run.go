package evaluate

import (
	"context"
	"fmt"
	"time"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// Options configures one evaluation.
type Options struct {
	Samples     int   // n episodes per task
	Ks          []int // pass@k reported, each <= Samples
	Temperature float64
	TopP        float64
	MaxTokens   int
	MaxTurns    int // 0: the tool's own limit
	History     episode.History
	Seed        int64
	// Greedy also plays one greedy (temperature 0) episode per task.
	Greedy bool
	// Labels[i], when given, place task i in groups of the breakdown
	// (Summary.Groups) beside the first state's error type.
	Labels [][]Label
}

// Result is a Summary with the time it took, where that time went, and
// the greedy episodes (one per task, in task order; nil without
// Options.Greedy), kept so a run can show what the model wrote.
type Result struct {
	Summary
	Wall   time.Duration
	Phases rollout.Phases
	Greedy []*rollout.Trajectory
}

// Run plays Samples sampled episodes (and a greedy one, if asked) per task
// and summarises them.
func Run(ctx context.Context, engine *rollout.Engine, tasks []sdk.Task, o Options) (Result, error) {
	if len(tasks) == 0 {
		return Result{}, fmt.Errorf("evaluate: no tasks")
	}
	t0 := time.Now()
	var phases rollout.Phases
	prev := engine.Phases
	engine.Phases = &phases
	defer func() { engine.Phases = prev }()
	n := max(o.Samples, 1)
	sampled, err := engine.Play(ctx, tasks, rollout.Config{Group: n, MaxTurns: o.MaxTurns, History: o.History,
		Sampling: sdk.Sampling{Temperature: o.Temperature, TopP: o.TopP, MaxTokens: o.MaxTokens, Seed: o.Seed}})
	if err != nil {
		return Result{}, err
	}
	var greedy []*rollout.Trajectory
	if o.Greedy {
		greedy, err = engine.Play(ctx, tasks, rollout.Config{Group: 1, MaxTurns: o.MaxTurns, History: o.History,
			Sampling: sdk.Sampling{Temperature: 0, MaxTokens: o.MaxTokens, Seed: o.Seed}})
		if err != nil {
			return Result{}, err
		}
	}
	s, err := Summarize(sampled, n, o.Ks, greedy)
	if err != nil {
		return Result{}, err
	}
	s.Groups = Breakdown(sampled, n, o.Labels)
	return Result{Summary: s, Wall: time.Since(t0), Phases: phases, Greedy: greedy}, nil
}
