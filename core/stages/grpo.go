package stages

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/grpo"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
)

// engine builds a rollout engine over the tool block toolRef names (and
// the reward block rewardRef names, unless it is zero), using the batch
// forms the plugins advertise; overlap has the model write while the tool
// checks (which changes no result, only the time: rollout.Engine.Overlap).
func engine(ctx context.Context, env *runner.StageEnv, toolRef, rewardRef experiment.Ref, model sdk.Model, overlap bool) (*rollout.Engine, error) {
	tool, err := env.Tool(ctx, toolRef)
	if err != nil {
		return nil, err
	}
	e := &rollout.Engine{Tool: tool, Model: model, Overlap: overlap}
	if rewardRef.Kind != "" {
		if e.Reward, err = env.Reward(ctx, rewardRef); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// repairTasks loads the stage's split and gives every task a broken
// program, through the tool's own demonstration generator.
func repairTasks(ctx context.Context, env *runner.StageEnv, toolRef, dataset experiment.Ref, split string, maxTasks int) ([]sdk.Task, [][]string, error) {
	ts, err := loadTasks(ctx, env, dataset, split, maxTasks)
	if err != nil {
		return nil, nil, err
	}
	tool, err := env.Tool(ctx, toolRef)
	if err != nil {
		return nil, nil, err
	}
	breaker, ok := tool.(sdk.ToolWithDemonstrate)
	if !ok {
		return nil, nil, fmt.Errorf("%s: the tool cannot break correct programs into repair tasks", env.Stage.ID())
	}
	before := len(ts)
	ts, ops, err := tasks.RepairTasks(ctx, ts, env.Seed, breaker, 0, func(err error) {
		env.Logger.Warn("task left out", "stage", env.Stage.Label, "error", err)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", env.Stage.ID(), err)
	}
	if len(ts) < before {
		env.Logger.Warn("tasks without a failing corruption left out", "stage", env.Stage.Label, "dropped", before-len(ts))
	}
	if len(ts) == 0 {
		return nil, nil, fmt.Errorf("%s: no repair tasks", env.Stage.ID())
	}
	return ts, ops, nil
}

// GRPOAttrs are the attributes of a grpo stage.
type GRPOAttrs struct {
	Model   experiment.Ref `attr:"model,required" ref:"model"`
	Tool    experiment.Ref `attr:"tool,required" ref:"tool"`
	Reward  experiment.Ref `attr:"reward,required" ref:"reward"`
	Dataset experiment.Ref `attr:"dataset,required" ref:"dataset"`
	// Init: RL starts from a trained policy (and its tokenizer); there is
	// no tokenizer to fit from rollouts.
	Init         experiment.Ref `attr:"init,required,path" ref:"stage" output:"checkpoint"`
	Split        string         `attr:"split" default:"train"`
	Steps        int            `attr:"steps" default:"50"`
	Group        int            `attr:"group" default:"4"`
	TasksPerStep int            `attr:"tasks_per_step" default:"4"`
	Clip         float64        `attr:"clip" default:"0.2"`
	KL           float64        `attr:"kl" default:"0.01"`
	Temperature  float64        `attr:"temperature" default:"1"`
	MaxTurns     int            `attr:"max_turns"` // 0: the tool's own limit
	MaxTokens    int            `attr:"max_tokens" default:"96"`
	Advantage    string         `attr:"advantage" enum:"turn,trajectory" default:"turn"`
	History      string         `attr:"history" enum:"full,last" default:"full"`
	// Overlap: the model writes one batch of actions while the tool checks
	// another; the episodes are the same either way.
	Overlap bool `attr:"overlap" default:"true"`
	// CheckpointEvery and LR (peak learning rate; 0: the model's own).
	CheckpointEvery int     `attr:"checkpoint_every" default:"10"`
	LR              float64 `attr:"lr" default:"0"`
	Seed            int     `attr:"seed" default:"experiment.seed"`
}

var grpoKind = runner.Kind[GRPOAttrs]{
	Name:       "grpo",
	Checkpoint: true,
	Needs:      func(a *GRPOAttrs) []runner.Need { return trainsModel(a.Model) },
	Run:        grpoStage,
}

func grpoStage(ctx context.Context, env *runner.StageEnv, a *GRPOAttrs) (runner.Outputs, error) {
	m, b, cfg, err := trainable(ctx, env, a.Model)
	if err != nil {
		return nil, err
	}
	mode, err := grpo.ParseMode(a.Advantage)
	if err != nil {
		return nil, err
	}
	h, err := episode.ParseHistory(a.History)
	if err != nil {
		return nil, err
	}
	ts, _, err := repairTasks(ctx, env, a.Tool, a.Dataset, a.Split, 0)
	if err != nil {
		return nil, err
	}
	initDir, hasInit, err := initCheckpoint(env, a.Init)
	if err != nil {
		return nil, err
	}
	if !hasInit {
		return nil, fmt.Errorf("%s: grpo needs init = stage.<sft stage>: the starting policy and the frozen KL reference", env.Stage.ID())
	}
	ckDir := filepath.Join(env.Dir, "checkpoints")
	if err := prepareModel(ctx, env, m, a.Init, ckDir, nil); err != nil {
		return nil, err
	}

	// The reference policy is the init checkpoint, frozen in its own process.
	var ref sdk.ModelWithTraining
	if a.KL != 0 {
		rm, err := env.StartModel(ctx, a.Model)
		if err != nil {
			return nil, err
		}
		rt, ok := rm.(train.Trainable)
		if !ok {
			return nil, fmt.Errorf("%s: the reference model cannot score log-probs", env.Stage.ID())
		}
		if err := rt.Load(ctx, initDir); err != nil {
			return nil, fmt.Errorf("%s: load reference model: %w", env.Stage.ID(), err)
		}
		ref = rt
	}
	e, err := engine(ctx, env, a.Tool, a.Reward, m, a.Overlap)
	if err != nil {
		return nil, err
	}
	closeCluster, err := fanOut(ctx, env, e, m, a.Tool, a.Model, a.Reward)
	if err != nil {
		return nil, err
	}
	defer closeCluster()
	env.Logger.Info("grpo", "stage", env.Stage.Label, "tasks", len(ts), "group", a.Group,
		"tasks_per_step", a.TasksPerStep, "advantage", mode, "history", h)
	bar := newProgress(env, a.Steps, "grpo", func(v map[string]float64) string {
		return fmt.Sprintf("grpo reward %+.2f pass %.2f", v["reward"], v["pass_rate"])
	})
	final, err := train.GRPO(ctx, m, ref, e, ts, train.GRPOConfig{
		Common:       common(env, schedule{a.Steps, a.CheckpointEvery, a.LR}, ckDir, b.Plugin, cfg, bar),
		TasksPerStep: a.TasksPerStep,
		Group:        a.Group,
		ClipEps:      a.Clip,
		KLCoef:       a.KL,
		Mode:         mode,
		History:      h,
		MaxTurns:     a.MaxTurns,
		Sampling: sdk.Sampling{
			Temperature: a.Temperature,
			MaxTokens:   a.MaxTokens,
		},
	})
	if err != nil {
		return nil, err
	}
	drawCurves(env)
	return runner.Outputs{outCheckpoint: final}, nil
}
