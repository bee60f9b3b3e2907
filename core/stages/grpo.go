package stages

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/grpo"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
)

// engine builds a rollout engine over the stage's tool (and reward, when
// withReward), using the batch forms the plugins advertise.
func engine(ctx context.Context, env *runner.StageEnv, model sdk.Model, withReward bool) (*rollout.Engine, error) {
	tool, err := env.Tool(ctx, "tool")
	if err != nil {
		return nil, err
	}
	e := &rollout.Engine{Tool: tool, Model: model}
	if withReward {
		if e.Reward, err = env.Reward(ctx, "reward"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// repairTasks loads the stage's split and gives every task a broken
// program, through the tool's own demonstration generator.
func repairTasks(ctx context.Context, env *runner.StageEnv, split string) ([]sdk.Task, [][]string, error) {
	ts, err := loadTasks(ctx, env, split)
	if err != nil {
		return nil, nil, err
	}
	tool, err := env.Tool(ctx, "tool")
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

func grpoStage(ctx context.Context, env *runner.StageEnv) (runner.Outputs, error) {
	m, cfg, err := trainable(ctx, env)
	if err != nil {
		return nil, err
	}
	b, _ := env.Block("model")
	mode, err := grpo.ParseMode(env.String("advantage"))
	if err != nil {
		return nil, err
	}
	h, err := episode.ParseHistory(env.String("history"))
	if err != nil {
		return nil, err
	}
	ts, _, err := repairTasks(ctx, env, env.String("split"))
	if err != nil {
		return nil, err
	}
	initDir, hasInit, err := initCheckpoint(env)
	if err != nil {
		return nil, err
	}
	if !hasInit {
		return nil, fmt.Errorf("%s: grpo needs init = stage.<sft stage>: the starting policy and the frozen KL reference", env.Stage.ID())
	}
	ckDir := filepath.Join(env.Dir, "checkpoints")
	if err := prepareModel(ctx, env, m, ckDir, nil); err != nil {
		return nil, err
	}

	// The reference policy is the init checkpoint, frozen in its own process.
	var ref sdk.ModelWithTraining
	if kl := env.Float("kl"); kl != 0 {
		rm, err := env.StartModel(ctx, "model")
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
	e, err := engine(ctx, env, m, true)
	if err != nil {
		return nil, err
	}
	closeCluster, err := fanOut(ctx, env, e, m, true)
	if err != nil {
		return nil, err
	}
	defer closeCluster()
	env.Logger.Info("grpo", "stage", env.Stage.Label, "tasks", len(ts), "group", env.Int("group"),
		"tasks_per_step", env.Int("tasks_per_step"), "advantage", mode, "history", h)
	bar := newProgress(env, env.Int("steps"), "grpo", func(v map[string]float64) string {
		return fmt.Sprintf("grpo reward %+.2f pass %.2f", v["reward"], v["pass_rate"])
	})
	final, err := train.GRPO(ctx, m, ref, e, ts, train.GRPOConfig{
		Common:       common(env, ckDir, b.Plugin, *cfg, bar),
		TasksPerStep: env.Int("tasks_per_step"),
		Group:        env.Int("group"),
		ClipEps:      env.Float("clip"),
		KLCoef:       env.Float("kl"),
		Mode:         mode,
		History:      h,
		MaxTurns:     env.Int("max_turns"),
		Sampling: sdk.Sampling{
			Temperature: env.Float("temperature"),
			MaxTokens:   env.Int("max_tokens"),
		},
	})
	if err != nil {
		return nil, err
	}
	drawCurves(env)
	return runner.Outputs{outCheckpoint: final}, nil
}
