package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/grpo"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// Trainable is a model the loops can train and checkpoint.
type Trainable interface {
	sdk.Model
	sdk.ModelWithTraining
	sdk.ModelWithCheckpoints
}

// MetricsFunc receives one record per optimizer step.
type MetricsFunc func(step int, values map[string]float64) error

// ProgressFunc is told after each step; it may draw a progress bar.
type ProgressFunc func(step, total int, values map[string]float64)

// Common are the settings both loops share.
type Common struct {
	Stage           string
	StageKind       string
	Steps           int
	CheckpointEvery int // 0: only the final checkpoint
	Seed            int64
	CheckpointDir   string
	// LearningRate is the peak learning rate sent with every batch; 0
	// leaves the model's configured rate.
	LearningRate float64
	Metrics      MetricsFunc
	Progress     ProgressFunc
	// Plugin and PluginConfig are recorded in every checkpoint.
	Plugin       string
	PluginConfig sdk.Config
}

// resume loads the latest complete checkpoint of this loop, if any, and
// returns the number of steps already done.
func (c Common) resume(ctx context.Context, m Trainable) (int, string, error) {
	path, cur, ok, err := LatestCheckpoint(c.CheckpointDir)
	if err != nil || !ok {
		return 0, "", err
	}
	if err := m.Load(ctx, path); err != nil {
		return 0, "", fmt.Errorf("train: %s: resume from %s: %w", c.Stage, path, err)
	}
	return cur.Step, path, nil
}

// after logs a finished step and saves a checkpoint when one is due; it
// returns the checkpoint directory when it wrote one.
func (c Common) after(ctx context.Context, m Trainable, step int, values map[string]float64) (string, error) {
	if c.Metrics != nil {
		if err := c.Metrics(step, values); err != nil {
			return "", fmt.Errorf("train: %s: metrics: %w", c.Stage, err)
		}
	}
	if c.Progress != nil {
		c.Progress(step, c.Steps, values)
	}
	if c.checkpointDue(step) {
		return SaveCheckpoint(ctx, m, c.CheckpointDir, Cursor{Stage: c.Stage, StageKind: c.StageKind, Step: step,
			Plugin: c.Plugin, Config: json.RawMessage(c.PluginConfig)})
	}
	return "", nil
}

// checkpointDue reports whether step ends with a checkpoint.
func (c Common) checkpointDue(step int) bool {
	return step == c.Steps || (c.CheckpointEvery > 0 && step%c.CheckpointEvery == 0)
}

// run is the loop both trainers share: resume from the last complete
// checkpoint, then for each remaining step call body (one optimizer step,
// returning its metrics), log it and checkpoint when due. It returns the
// last checkpoint's directory.
func (c Common) run(ctx context.Context, m Trainable, body func(step int) (map[string]float64, error)) (string, error) {
	start, last, err := c.resume(ctx, m)
	if err != nil {
		return "", err
	}
	for step := start + 1; step <= c.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		values, err := body(step)
		if err != nil {
			return "", err
		}
		ck, err := c.after(ctx, m, step, values)
		if err != nil {
			return "", err
		}
		if ck != "" {
			last = ck
		}
	}
	return last, nil
}

// SFTConfig configures supervised fine-tuning.
type SFTConfig struct {
	Common
	BatchSize int
	// ContextWeight is sdk.SupervisedBatch.ContextWeight for every step.
	ContextWeight float64
	// Heldout are examples never trained on, one per turn; their target
	// loss is logged at every checkpoint per token ("heldout_loss") and in
	// bits per byte of target text ("heldout_bpb", which compares across
	// tokenizers).
	Heldout []sdk.SupervisedExample
}

// HeldoutLoss is the mean negative log-likelihood per target token of
// examples under m, and the number of tokens scored (tokens a model cut to
// fit its window are not).
func HeldoutLoss(ctx context.Context, m sdk.ModelWithTraining, examples []sdk.SupervisedExample) (float64, int, error) {
	req := sdk.LogprobsRequest{Examples: make([]sdk.PolicyExample, len(examples))}
	for i, e := range examples {
		req.Examples[i] = sdk.PolicyExample{Context: e.Context, Completion: e.Target}
	}
	resp, err := m.Logprobs(ctx, req)
	if err != nil {
		return 0, 0, fmt.Errorf("train: held-out loss: %w", err)
	}
	var sum float64
	n := 0
	for _, lp := range resp.Logprobs {
		for _, x := range lp {
			sum -= x
			n++
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("train: held-out loss: no scored tokens in %d examples", len(examples))
	}
	return sum / float64(n), n, nil
}

// SFT trains m on examples for cfg.Steps optimizer steps, resuming from the
// last complete checkpoint in cfg.CheckpointDir, and returns the final
// checkpoint's directory.
func SFT(ctx context.Context, m Trainable, examples []sdk.SupervisedExample, cfg SFTConfig) (string, error) {
	if len(examples) == 0 {
		return "", fmt.Errorf("train: %s: no training examples", cfg.Stage)
	}
	return cfg.run(ctx, m, func(step int) (map[string]float64, error) {
		idx := BatchIndices(len(examples), cfg.BatchSize, step-1, cfg.Seed)
		batch := sdk.SupervisedBatch{Step: step - 1, TotalSteps: cfg.Steps, LearningRate: cfg.LearningRate,
			ContextWeight: cfg.ContextWeight}
		for _, i := range idx {
			batch.Examples = append(batch.Examples, examples[i])
		}
		t0 := time.Now()
		st, err := m.TrainSupervised(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("train: %s step %d: %w", cfg.Stage, step, err)
		}
		values := map[string]float64{"loss": st.Loss, "tokens": float64(st.Tokens),
			"tokens_per_s": float64(st.Tokens) / time.Since(t0).Seconds()}
		for k, v := range st.Metrics {
			values[k] = v
		}
		if len(cfg.Heldout) > 0 && cfg.checkpointDue(step) {
			loss, tokens, err := HeldoutLoss(ctx, m, cfg.Heldout)
			if err != nil {
				return nil, fmt.Errorf("train: %s step %d: %w", cfg.Stage, step, err)
			}
			values["heldout_loss"] = loss
			bytes := 0
			for _, e := range cfg.Heldout {
				bytes += len(e.Target)
			}
			if bytes > 0 {
				values["heldout_bpb"] = loss * float64(tokens) / (float64(bytes) * math.Ln2)
			}
		}
		return values, nil
	})
}

// GRPOConfig configures multi-turn GRPO.
type GRPOConfig struct {
	Common
	TasksPerStep int
	Group        int
	ClipEps      float64
	KLCoef       float64
	Mode         grpo.Mode
	History      episode.History
	MaxTurns     int
	Sampling     sdk.Sampling // Temperature, TopP, MaxTokens; Seed is derived per step
}

// GRPO trains the engine's model (which must be m) on tasks: each step plays
// Group episodes on TasksPerStep tasks, turns their per-turn rewards into
// group-relative advantages, scores the turns under the frozen reference
// model ref, and takes one clipped policy-gradient step with a KL penalty.
func GRPO(ctx context.Context, m Trainable, ref sdk.ModelWithTraining, engine *rollout.Engine, tasks []sdk.Task, cfg GRPOConfig) (string, error) {
	if len(tasks) == 0 {
		return "", fmt.Errorf("train: %s: no tasks", cfg.Stage)
	}
	return cfg.run(ctx, m, func(step int) (map[string]float64, error) {
		t0 := time.Now()
		var picked []sdk.Task
		for _, i := range BatchIndices(len(tasks), cfg.TasksPerStep, step-1, cfg.Seed) {
			picked = append(picked, tasks[i])
		}
		sampling := cfg.Sampling
		sampling.Seed = cfg.Seed*1_000_003 + int64(step)*10_007
		phases := &rollout.Phases{}
		engine.Phases = phases
		defer func() { engine.Phases = nil }()
		trajs, err := engine.Play(ctx, picked, rollout.Config{
			Group: cfg.Group, MaxTurns: cfg.MaxTurns, History: cfg.History, Sampling: sampling})
		if err != nil {
			return nil, fmt.Errorf("train: %s step %d: rollout: %w", cfg.Stage, step, err)
		}
		rolled := time.Since(t0)
		examples, rs, err := grpo.Batch(trajs, cfg.Group, cfg.Mode)
		if err != nil {
			return nil, err
		}
		values := map[string]float64{
			"reward": rs.MeanReturn, "pass_rate": rs.PassRate, "turns": rs.MeanTurns,
			"invalid_rate": rs.InvalidRate, "overflows": float64(rs.Overflows),
			"zero_groups": float64(rs.ZeroGroups), "examples": float64(len(examples)),
			"gen_tokens_per_s": float64(rs.Tokens) / rolled.Seconds(),
		}
		// Where the step's time went: rollout phases, then the reference
		// model's log-probs and the policy update.
		for k, v := range phases.Seconds() {
			values[k] = v
		}
		if len(examples) > 0 {
			if cfg.KLCoef != 0 && ref != nil {
				tr := time.Now()
				lp, err := ref.Logprobs(ctx, sdk.LogprobsRequest{Examples: examples})
				values["ref_logprobs_s"] = time.Since(tr).Seconds()
				if err != nil {
					return nil, fmt.Errorf("train: %s step %d: reference log-probs: %w", cfg.Stage, step, err)
				}
				if len(lp.Logprobs) != len(examples) {
					return nil, fmt.Errorf("train: %s step %d: reference returned %d log-prob rows for %d examples", cfg.Stage, step, len(lp.Logprobs), len(examples))
				}
				for i := range examples {
					examples[i].RefLogprobs = lp.Logprobs[i]
				}
			}
			t1 := time.Now()
			st, err := m.TrainPolicy(ctx, sdk.PolicyBatch{Examples: examples, ClipEps: cfg.ClipEps,
				KLCoef: cfg.KLCoef, Step: step - 1, TotalSteps: cfg.Steps, LearningRate: cfg.LearningRate})
			if err != nil {
				return nil, fmt.Errorf("train: %s step %d: %w", cfg.Stage, step, err)
			}
			values["loss"] = st.Loss
			values["train_s"] = time.Since(t1).Seconds()
			values["train_tokens_per_s"] = float64(st.Tokens) / time.Since(t1).Seconds()
			for k, v := range st.Metrics {
				values[k] = v
			}
		}
		values["step_s"] = time.Since(t0).Seconds()
		return values, nil
	})
}
