package stages

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
)

// SupervisedExamples turns episodes into one example per turn: the context
// before the action (with the chosen history) and the action, ended by the
// tool's stop string, as the target.
func SupervisedExamples(eps []episode.Episode, h episode.History) ([]sdk.SupervisedExample, error) {
	var out []sdk.SupervisedExample
	for _, e := range eps {
		for t := e.Learn; t < len(e.Actions); t++ {
			c, err := episode.Context(e.Prompt, e.States[:t+1], e.Actions[:t], e.Stop, h)
			if err != nil {
				return nil, fmt.Errorf("stages: task %s turn %d: %w", e.TaskID, t+1, err)
			}
			out = append(out, sdk.SupervisedExample{Context: c, Target: episode.EndAction(e.Actions[t], e.Stop)})
		}
	}
	return out, nil
}

// maxHeldout caps the held-out examples scored at each checkpoint, so the
// held-out loss costs a few seconds however large the data.
const maxHeldout = 256

// heldoutFraction is the stage's heldout attribute, checked to be in [0, 1).
func heldoutFraction(env *runner.StageEnv, f float64) (float64, error) {
	return share(env, "heldout", f, false)
}

// share checks a stage attribute that is a fraction: in [0, 1), or in
// [0, 1] where all of it (1) is allowed.
func share(env *runner.StageEnv, name string, f float64, all bool) (float64, error) {
	if f < 0 || f > 1 || f == 1 && !all {
		hi := ")"
		if all {
			hi = "]"
		}
		return 0, fmt.Errorf("%s: %s must be in [0, 1%s, got %g", env.Stage.ID(), name, hi, f)
	}
	return f, nil
}

// holdOut splits episodes by a hash of their task: the episodes of a
// fraction frac of the tasks are held out of training (so the held-out
// loss measures programs the model never saw), the rest are kept.
func holdOut(eps []episode.Episode, seed int64, frac float64) (train, heldout []episode.Episode) {
	if frac <= 0 {
		return eps, nil
	}
	for _, e := range eps {
		if tasks.HashSplit(seed, "heldout\x00"+e.TaskID, frac, 0) == tasks.SplitTest {
			heldout = append(heldout, e)
		} else {
			train = append(train, e)
		}
	}
	return train, heldout
}

// dropClosingTurns takes the closing turn off all but a share keep of the
// episodes (chosen by a hash of seed, task and position) and returns them
// with the number taken off. A closing turn is the last action of a solved
// episode that left its state as it was: it only ends the episode. The
// held-out demonstrations keep theirs, so their loss stays comparable.
func dropClosingTurns(eps []episode.Episode, seed int64, keep float64) ([]episode.Episode, int) {
	if keep >= 1 {
		return eps, 0
	}
	out := make([]episode.Episode, len(eps))
	dropped := 0
	for i, e := range eps {
		out[i] = e
		n := len(e.Actions)
		closing := e.Solved && n >= 2 && e.States[n-1] == e.States[n]
		if !closing || tasks.HashSplit(seed, fmt.Sprintf("closing\x00%s\x00%d", e.TaskID, i), keep, 0) == tasks.SplitTest {
			continue
		}
		out[i].Actions = e.Actions[:n-1]
		out[i].States = e.States[:n]
		dropped++
	}
	return out, dropped
}

// WholeEpisodeExamples turns each episode into one example: its first
// turn's context and action, then every later (new state, action) pair, so
// a model that trains whole episodes (sdk.ModelInfo.WholeEpisodes) reads
// each context once and learns every action (history "full").
func WholeEpisodeExamples(eps []episode.Episode) ([]sdk.SupervisedExample, error) {
	var out []sdk.SupervisedExample
	for _, e := range eps {
		incs, err := episode.Increments(e.Prompt, e.States, e.Actions, e.Stop)
		if err != nil {
			return nil, fmt.Errorf("stages: task %s: %w", e.TaskID, err)
		}
		if len(incs) <= e.Learn {
			continue
		}
		// The actions before Learn are read, not learned: they join the
		// first example's context as the model saw them.
		var lead strings.Builder
		for _, inc := range incs[:e.Learn] {
			lead.WriteString(inc.Context + inc.Action)
		}
		ex := sdk.SupervisedExample{Context: lead.String() + incs[e.Learn].Context, Target: incs[e.Learn].Action}
		for _, inc := range incs[e.Learn+1:] {
			ex.Turns = append(ex.Turns, sdk.SupervisedTurn{Context: inc.Context, Target: inc.Action})
		}
		out = append(out, ex)
	}
	return out, nil
}

// tokenizerCorpus is every episode once, in full, with its final action:
// all the text a model will read or write.
func tokenizerCorpus(eps []episode.Episode) []string {
	out := make([]string, 0, len(eps))
	for _, e := range eps {
		n := len(e.Actions)
		if n == 0 {
			continue
		}
		c, err := episode.Context(e.Prompt, e.States[:n], e.Actions[:n-1], e.Stop, episode.Full)
		if err != nil {
			continue
		}
		out = append(out, c+episode.EndAction(e.Actions[n-1], e.Stop))
	}
	return out
}

// initCheckpoint is the checkpoint the stage's init names: the final one of
// a stage of this run, or the one a path names (train.ResolveCheckpoint).
func initCheckpoint(env *runner.StageEnv, init experiment.Ref) (string, bool, error) {
	in, ok, err := env.Input(init)
	if err != nil || !ok {
		return "", ok, err
	}
	if in.Kind != experiment.PathRef {
		return in.Outputs[outCheckpoint], true, nil
	}
	dir, _, err := train.ResolveCheckpoint(in.Label)
	if err != nil {
		return "", false, fmt.Errorf("%s: init: %w", env.Stage.ID(), err)
	}
	return dir, true, nil
}

// prepareModel gets a model ready to train from step 0 when the stage has
// no checkpoint of its own: from the init stage's checkpoint if there is
// one, else by fitting its tokenizer on corpus. A stage with a checkpoint
// of its own is restored by the training loop.
func prepareModel(ctx context.Context, env *runner.StageEnv, m train.Trainable, init experiment.Ref, ckDir string, corpus func() []string) error {
	if _, _, ok, err := train.LatestCheckpoint(ckDir); err != nil || ok {
		return err
	}
	dir, ok, err := initCheckpoint(env, init)
	if err != nil {
		return err
	}
	if ok {
		env.Logger.Info("initialising model", "stage", env.Stage.Label, "from", dir)
		if err := m.Load(ctx, dir); err != nil {
			return fmt.Errorf("%s: load init checkpoint %s: %w", env.Stage.ID(), dir, err)
		}
		return nil
	}
	if err := m.FitTokenizer(ctx, corpus()); err != nil {
		return fmt.Errorf("%s: fit tokenizer: %w", env.Stage.ID(), err)
	}
	return nil
}

// SFTAttrs are the attributes of an sft stage.
type SFTAttrs struct {
	Model experiment.Ref `attr:"model,required" ref:"model"`
	// Data: one synthesize stage or a list of them, trained on together.
	Data      []experiment.Ref `attr:"data,required" ref:"stage" kinds:"synthesize,dagger"`
	Init      experiment.Ref   `attr:"init,path" ref:"stage" output:"checkpoint"`
	Steps     int              `attr:"steps" default:"200"`
	BatchSize int              `attr:"batch_size" default:"8"`
	History   string           `attr:"history" enum:"full,last" default:"full"`
	// WholeEpisode: with history "full", one sequence per demonstration
	// (when the model supports it) instead of one example per turn.
	WholeEpisode bool `attr:"whole_episode" default:"true"`
	// ContextLoss: weight of an auxiliary next-token loss on what the
	// model reads (prompt and tool states); 0 trains on commands only.
	ContextLoss float64 `attr:"context_loss" default:"0"`
	// Heldout: fraction of the demonstrations' tasks kept out of
	// training; their loss is logged at every checkpoint.
	Heldout float64 `attr:"heldout" default:"0.05"`
	// ClosingTurns: share of the training demonstrations that keep their
	// closing turn (EXIT once the tests pass) as an example. A one-fix
	// demonstration is [fix, EXIT], so at 1 half of every batch teaches
	// the one command a model learns from a few examples.
	ClosingTurns    float64 `attr:"closing_turns" default:"1"`
	CheckpointEvery int     `attr:"checkpoint_every" default:"50"`
	LR              float64 `attr:"lr" default:"0"` // peak learning rate; 0: the model's own
	Seed            int     `attr:"seed" default:"experiment.seed"`
}

var sftKind = runner.Kind[SFTAttrs]{
	Name:       "sft",
	Checkpoint: true,
	Needs:      func(a *SFTAttrs) []runner.Need { return trainsModel(a.Model) },
	Run:        sft,
}

func sft(ctx context.Context, env *runner.StageEnv, a *SFTAttrs) (runner.Outputs, error) {
	// The attributes first: a bad value fails before the demonstrations
	// are read.
	frac, err := heldoutFraction(env, a.Heldout)
	if err != nil {
		return nil, err
	}
	keepClosing, err := share(env, "closing_turns", a.ClosingTurns, true)
	if err != nil {
		return nil, err
	}
	h, err := episode.ParseHistory(a.History)
	if err != nil {
		return nil, err
	}
	ins, err := env.Inputs(a.Data)
	if err != nil {
		return nil, err
	}
	var eps []episode.Episode
	for _, in := range ins {
		path := in.Outputs[outEpisodes]
		if path == "" {
			return nil, fmt.Errorf("%s: stage %q left no episodes", env.Stage.ID(), in.Label)
		}
		more, err := episode.ReadFile(path)
		if err != nil {
			return nil, err
		}
		eps = append(eps, more...)
	}
	eps, heldoutEps := holdOut(eps, env.Seed, frac)
	if len(eps) == 0 {
		return nil, fmt.Errorf("%s: heldout = %g leaves no demonstration to train on", env.Stage.ID(), frac)
	}
	eps, dropped := dropClosingTurns(eps, env.Seed, keepClosing)
	heldout, err := SupervisedExamples(heldoutEps, h)
	if err != nil {
		return nil, err
	}
	if len(heldout) > maxHeldout {
		heldout = heldout[:maxHeldout]
	}
	m, b, cfg, err := trainable(ctx, env, a.Model)
	if err != nil {
		return nil, err
	}
	ckDir := filepath.Join(env.Dir, "checkpoints")
	if err := prepareModel(ctx, env, m, a.Init, ckDir, func() []string { return tokenizerCorpus(eps) }); err != nil {
		return nil, err
	}
	info, err := m.Info(ctx)
	if err != nil {
		return nil, err
	}
	whole := h == episode.Full && a.WholeEpisode && info.WholeEpisodes
	var examples []sdk.SupervisedExample
	if whole {
		examples, err = WholeEpisodeExamples(eps)
	} else {
		examples, err = SupervisedExamples(eps, h)
	}
	if err != nil {
		return nil, err
	}
	env.Logger.Info("sft", "stage", env.Stage.Label, "episodes", len(eps), "examples", len(examples),
		"heldout_episodes", len(heldoutEps), "heldout_examples", len(heldout), "closing_turns_dropped", dropped,
		"history", h, "whole_episodes", whole, "context_loss", a.ContextLoss,
		"params", info.Parameters, "backend", info.Backend, "device", info.Device)
	bar := newProgress(env, a.Steps, "sft", func(v map[string]float64) string {
		return fmt.Sprintf("sft loss %.3f", v["loss"])
	})
	final, err := train.SFT(ctx, m, examples, train.SFTConfig{
		Common:        common(env, schedule{a.Steps, a.CheckpointEvery, a.LR}, ckDir, b.Plugin, cfg, bar),
		BatchSize:     a.BatchSize,
		ContextWeight: a.ContextLoss,
		Heldout:       heldout,
	})
	if err != nil {
		return nil, err
	}
	drawCurves(env)
	return runner.Outputs{outCheckpoint: final}, nil
}
