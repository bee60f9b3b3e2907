package stages

import (
	"context"
	"fmt"
	"time"

	"github.com/lathe-ml/lathe/core/cluster"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/sdk"
)

// fanOut makes e play its episodes on the experiment's cluster: cut into
// shards of shard_tasks tasks, handed to `lathe worker` processes through
// NATS, with the model's weights as they are at each Play call. With
// `lathe run --local` the same shards are played here instead. It returns
// what closes the connection; without a cluster block it changes nothing.
func fanOut(ctx context.Context, env *runner.StageEnv, e *rollout.Engine, m sdk.Model, tool, model, reward experiment.Ref) (func(), error) {
	c := env.Experiment.Cluster
	if c == nil {
		return func() {}, nil
	}
	e.ShardTasks = c.Attrs.Int("shard_tasks")
	if c.Local {
		return func() {}, nil
	}
	url := c.NATS()
	if url == "" {
		return nil, fmt.Errorf("%s: the cluster block names no NATS server: set nats = \"nats://HOST:4222\" or run with --nats URL", env.Stage.ID())
	}
	ex := &cluster.Executor{
		Stage:    env.Stage.Label,
		AckWait:  time.Duration(c.Attrs.Float("ack_wait_s") * float64(time.Second)),
		NoWorker: time.Duration(c.Attrs.Float("no_worker_timeout_s") * float64(time.Second)),
		Progress: env.Progress,
	}
	var err error
	if ex.Tool, err = spec(env, tool); err != nil {
		return nil, err
	}
	if ex.Model, err = spec(env, model); err != nil {
		return nil, err
	}
	if reward.Kind != "" {
		if ex.Reward, err = spec(env, reward); err != nil {
			return nil, err
		}
	}
	if lm, ok := m.(sdk.ModelWithCheckpoints); ok {
		ex.Weights = lm
	}
	conn, err := cluster.Connect(ctx, url, "lathe run "+env.Stage.ID())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env.Stage.ID(), err)
	}
	ex.Conn = conn
	e.Executor = ex
	env.Logger.Info("episodes go to the cluster", "stage", env.Stage.Label, "nats", url, "shard_tasks", e.ShardTasks)
	fmt.Fprintf(env.Progress, "%-12s episodes go to the workers on %s, %d task(s) per item\n", env.Stage.Label, url, e.ShardTasks)
	return conn.Close, nil
}

// spec is the plugin block that attribute attr names, as a worker starts it.
func spec(env *runner.StageEnv, ref experiment.Ref) (cluster.PluginSpec, error) {
	b, err := env.Block(ref)
	if err != nil {
		return cluster.PluginSpec{}, err
	}
	cfg, err := sdk.ConfigFrom(b.Config)
	if err != nil {
		return cluster.PluginSpec{}, err
	}
	return cluster.PluginSpec{Label: b.Label, Plugin: b.Plugin, Config: cfg}, nil
}
