package rollout

import (
	"context"
	"fmt"

	"github.com/lathe-ml/lathe/sdk"
)

// Shard is one unit of work: consecutive tasks played together in one
// Play call, with a sampling seed of its own. Its episodes depend only on
// the shard (its tasks, its config, the weights), never on which other
// shards run beside it or in what order, so shards can be played
// anywhere: here one after the other, or on workers (core/cluster).
type Shard struct {
	// Index is the shard's position among the shards of one Play call.
	Index int
	// Tasks are the tasks of the shard, in input order.
	Tasks []sdk.Task
	// Config is the Play config with Sampling.Seed replaced by ShardSeed.
	Config Config
}

// Executor plays shards somewhere else (a cluster of workers). It
// returns, for every shard, its trajectories as Play returns them
// (Group per task, grouped by task).
type Executor interface {
	PlayShards(ctx context.Context, shards []Shard) ([][]*Trajectory, error)
}

// ShardSeed derives the sampling seed of shard i from the Play call's
// seed: a splitmix64 mix of both, so neighbouring shards draw unrelated
// samples and the seed does not depend on the order shards finish in.
func ShardSeed(seed int64, i int) int64 {
	z := uint64(seed) + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return int64(z ^ (z >> 31))
}

// Split cuts tasks into shards of per tasks each (the last may be
// shorter), each with its own derived seed. per <= 0 means one task per
// shard.
func Split(tasks []sdk.Task, cfg Config, per int) []Shard {
	if per <= 0 {
		per = 1
	}
	var out []Shard
	for start := 0; start < len(tasks); start += per {
		c := cfg
		c.Sampling.Seed = ShardSeed(cfg.Sampling.Seed, len(out))
		out = append(out, Shard{Index: len(out), Tasks: tasks[start:min(start+per, len(tasks))], Config: c})
	}
	return out
}

// playSharded is Play when the engine shards: every shard is played by the
// executor, or else here, one after the other, with the same seeds, so
// the two give the same trajectories.
func (e *Engine) playSharded(ctx context.Context, tasks []sdk.Task, cfg Config) ([]*Trajectory, error) {
	shards := Split(tasks, cfg, e.ShardTasks)
	group := max(cfg.Group, 1)
	var per [][]*Trajectory
	if e.Executor != nil {
		var err error
		if per, err = e.Executor.PlayShards(ctx, shards); err != nil {
			return nil, err
		}
		if len(per) != len(shards) {
			return nil, fmt.Errorf("rollout: executor returned %d shards of %d", len(per), len(shards))
		}
	} else {
		for _, s := range shards {
			trajs, err := e.play(ctx, s.Tasks, s.Config)
			if err != nil {
				return nil, err
			}
			per = append(per, trajs)
		}
	}
	out := make([]*Trajectory, 0, len(tasks)*group)
	for i, trajs := range per {
		if want := len(shards[i].Tasks) * group; len(trajs) != want {
			return nil, fmt.Errorf("rollout: shard %d came back with %d episodes, want %d", i, len(trajs), want)
		}
		out = append(out, trajs...)
	}
	return out, nil
}
