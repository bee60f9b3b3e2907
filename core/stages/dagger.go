package stages

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/synth"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// DaggerAttrs are the attributes of a dagger stage.
type DaggerAttrs struct {
	Model   experiment.Ref `attr:"model,required" ref:"model"`
	Init    experiment.Ref `attr:"init,required,path" ref:"stage" output:"checkpoint"` // the policy that plays
	Tool    experiment.Ref `attr:"tool,required" ref:"tool"`
	Dataset experiment.Ref `attr:"dataset,required" ref:"dataset"`
	Split   string         `attr:"split" default:"train"`
	// PerTask episodes are played on every task, each from a program
	// broken with its own seed.
	PerTask     int     `attr:"per_task" default:"4"`
	Temperature float64 `attr:"temperature" default:"1"`
	MaxTurns    int     `attr:"max_turns"` // 0: the tool's own limit
	MaxTokens   int     `attr:"max_tokens" default:"96"`
	History     string  `attr:"history" enum:"full,last" default:"full"`
	Overlap     bool    `attr:"overlap" default:"true"` // as in eval blocks
	MaxTasks    int     `attr:"max_tasks" default:"0"`  // 0: all
	Seed        int     `attr:"seed" default:"experiment.seed"`
}

var daggerKind = runner.Kind[DaggerAttrs]{
	Name: "dagger",
	Needs: func(a *DaggerAttrs) []runner.Need {
		return []runner.Need{
			{Ref: a.Model, Cap: pluginclient.CapModelWithCheckpoints, Why: "loads the policy into it"},
			{Ref: a.Tool, Cap: pluginclient.CapToolWithDemonstrate, Why: "asks its expert to continue the policy's episodes"},
		}
	},
	Run: dagger,
}

// dagger is DAgger's data collection (Ross, Gordon and Bagnell, 2011): the
// init policy plays the training tasks, and at every state it reached after
// one of its own actions the tool's expert writes how to go on from there.
// Each such continuation is a demonstration whose first actions are the
// policy's (read as context, never learned: episode.Episode.Learn) and
// whose rest is the expert's, so SFT on them teaches what to do in the
// states the policy itself gets into: after a malformed command, a wrong
// edit, a loop. Outputs are those of a synthesize stage, so sft's data
// takes either.
func dagger(ctx context.Context, env *runner.StageEnv, a *DaggerAttrs) (runner.Outputs, error) {
	h, err := episode.ParseHistory(a.History)
	if err != nil {
		return nil, err
	}
	if a.PerTask < 1 {
		return nil, fmt.Errorf("%s: per_task must be at least 1, got %d", env.Stage.ID(), a.PerTask)
	}
	ts, err := trainingTasks(ctx, env, a.Dataset, a.Split, a.MaxTasks)
	if err != nil {
		return nil, err
	}
	tool, expert, err := demonstratingTool(ctx, env, a.Tool)
	if err != nil {
		return nil, err
	}
	m, err := env.Model(ctx, a.Model)
	if err != nil {
		return nil, err
	}
	dir, ok, err := initCheckpoint(env, a.Init)
	if err != nil || !ok {
		return nil, cmp.Or(err, fmt.Errorf("%s: dagger needs init: the policy that plays", env.Stage.ID()))
	}
	lm, ok := m.(sdk.ModelWithCheckpoints)
	if !ok {
		return nil, fmt.Errorf("%s: the model plugin cannot load checkpoints", env.Stage.ID())
	}
	if err := lm.Load(ctx, dir); err != nil {
		return nil, fmt.Errorf("%s: load init checkpoint %s: %w", env.Stage.ID(), dir, err)
	}
	e, err := engine(ctx, env, a.Tool, experiment.Ref{}, m, a.Overlap)
	if err != nil {
		return nil, err
	}

	// Play: one episode per task and break, each break its own seed.
	type played struct {
		task sdk.Task
		ops  []string
		traj *rollout.Trajectory
	}
	var plays []played
	solved := 0
	fmt.Fprintf(env.Progress, "%-12s the policy plays %d tasks x %d broken programs\n", env.Stage.Label, len(ts), a.PerTask)
	for i := range a.PerTask {
		seed := int64(env.Seed)*1_000_003 + int64(i) + 1 // not the seed evals break tasks with
		broken, ops, err := tasks.RepairTasks(ctx, ts, seed, expert, 0, func(err error) {
			env.Logger.Warn("task left out", "stage", env.Stage.Label, "error", err)
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", env.Stage.ID(), err)
		}
		trajs, err := e.Play(ctx, broken, rollout.Config{Group: 1, MaxTurns: a.MaxTurns, History: h,
			Sampling: sdk.Sampling{Temperature: a.Temperature, MaxTokens: a.MaxTokens, Seed: seed}})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", env.Stage.ID(), err)
		}
		for j, tr := range trajs {
			plays = append(plays, played{broken[j], ops[j], tr})
			if tr.Solved() {
				solved++
			}
		}
	}

	// Relabel: the expert's continuation after every prefix of the
	// policy's actions that left the episode open (after its first action
	// on; before it, the expert's trace is synthesis's own demonstration).
	type request struct {
		play  int
		after []string
	}
	var reqs []request
	seen := map[string]bool{}
	for p, pl := range plays {
		for _, after := range continuationPrefixes(pl.traj) {
			key := pl.task.ID + "\x00" + pl.task.Program + "\x00" + strings.Join(after, "\x00")
			if !seen[key] {
				seen[key] = true
				reqs = append(reqs, request{p, after})
			}
		}
	}
	recs := make([]synth.Record, len(reqs))
	keep := make([]bool, len(reqs))
	errs := make([]error, len(reqs))
	bar := newProgress(env, len(reqs), "relabel", nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	done := 0
	for i, r := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, r request) {
			defer wg.Done()
			defer func() { <-sem }()
			pl := plays[r.play]
			demos, err := expert.Demonstrate(ctx, sdk.DemonstrateRequest{Task: pl.task, Continuation: true, After: r.after})
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("%s: continue task %s: %w", env.Stage.ID(), pl.task.ID, err)
			case len(demos) == 1 && len(demos[0].Actions) > 0:
				recs[i] = synth.Record{TaskID: pl.task.ID, Program: pl.task.Program, Tests: pl.task.Tests,
					Setup: pl.task.Setup, Reference: pl.task.Reference, Split: pl.task.Split, Corruptions: pl.ops,
					Actions: append(append([]string(nil), r.after...), demos[0].Actions...), Learn: len(r.after)}
				keep[i] = true
			}
			mu.Lock()
			done++
			bar.step(done, len(reqs), nil)
			mu.Unlock()
		}(i, r)
	}
	wg.Wait()
	var kept []synth.Record
	for i := range reqs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if keep[i] {
			kept = append(kept, recs[i])
		}
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("%s: the policy's %d episodes left no state to continue from", env.Stage.ID(), len(plays))
	}
	dataPath := filepath.Join(env.Dir, "demos.jsonl")
	if err := synth.WriteFile(dataPath, kept); err != nil {
		return nil, err
	}
	epsPath := filepath.Join(env.Dir, "episodes.jsonl")
	episodes, unsolved, err := replayToFile(ctx, env, tool, kept, epsPath)
	if err != nil {
		return nil, err
	}
	passRate := float64(solved) / float64(len(plays))
	fmt.Fprintf(env.Progress, "%-12s policy pass rate %.3f on %d episodes; %d continuations, %d episodes to train on (%d longer than the turn limit)\n",
		env.Stage.Label, passRate, len(plays), len(kept), episodes, unsolved)
	env.Logger.Info("dagger", "stage", env.Stage.Label, "played", len(plays), "policy_pass_rate", passRate,
		"continuations", len(kept), "episodes", episodes, "unsolved", unsolved)
	if err := env.Metrics.Log(env.Stage.Label, 0, map[string]float64{"played": float64(len(plays)),
		"policy_pass_rate": passRate, "demonstrations": float64(len(kept)), "episodes": float64(episodes),
		"unsolved": float64(unsolved)}); err != nil {
		return nil, err
	}
	if episodes == 0 {
		return nil, fmt.Errorf("%s: no continuation repaired its program within the turn limit", env.Stage.ID())
	}
	return runner.Outputs{outData: dataPath, outEpisodes: epsPath}, nil
}

// continuationPrefixes are the prefixes of a played episode's actions that
// the expert continues: every one from the first action on (before it the
// expert's trace is synthesis's own demonstration) that left the episode
// open, up to the first that made the tests pass (the expert's answer
// there is EXIT, nothing after it). An action that ended the episode (EXIT,
// the turn limit) leaves no state to go on from.
func continuationPrefixes(tr *rollout.Trajectory) [][]string {
	acts := tr.Episode().Actions
	var out [][]string
	for k := 1; k <= len(acts); k++ {
		if tr.Turns[k-1].Done {
			break
		}
		out = append(out, acts[:k])
		if tr.Turns[k-1].Info.Solved {
			break
		}
	}
	return out
}
