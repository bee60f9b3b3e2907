package cluster

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// Names of the JetStream assets the run and the workers share.
const (
	WorkStream    = "LATHE_WORK"
	ResultStream  = "LATHE_RESULTS"
	WeightsBucket = "lathe-weights"
	WorkersBucket = "lathe-workers"
	// WorkerConsumer is the durable pull consumer all workers share.
	WorkerConsumer = "lathe-workers"

	workPrefix   = "lathe.work."
	resultPrefix = "lathe.results."
)

// DefaultAckWait is how long the server waits for a worker's sign of life
// before it hands the item to another worker.
const DefaultAckWait = 30 * time.Second

// heartbeat is how often a worker refreshes its entry in WorkersBucket; an
// entry older than three heartbeats is a dead worker.
const heartbeat = time.Second

// PluginSpec is a tool, reward or model block as a worker needs it: the
// plugin (a built-in name or an executable path, which must exist on the
// worker's machine) and its decoded options.
type PluginSpec struct {
	Label  string
	Plugin string
	Config sdk.Config
}

// Item is one work item: a shard of one Play call.
type Item struct {
	// ID is "<job>.<shard index>": the Nats-Msg-Id of the item and of its
	// result.
	ID  string
	Job string
	// Stage names the stage the item is for, for the worker's log.
	Stage string
	Shard rollout.Shard
	Tool  PluginSpec
	// Reward is empty (Plugin "") when the episodes need no reward (evals).
	Reward PluginSpec
	Model  PluginSpec
	// Weights is the content hash of the model's checkpoint in
	// WeightsBucket; "" plays the model as configured.
	Weights string
}

// Result is a played item.
type Result struct {
	ID     string
	Job    string
	Shard  int
	Worker string
	// Trajectories are the shard's episodes as rollout.Play returns them.
	Trajectories []*rollout.Trajectory
	// Err, when set, says why the worker could not play the item; the run
	// stops with it.
	Err    string
	Wall   time.Duration
	Phases rollout.Phases
}

// check reports what makes a worker's episodes unusable (a worker of
// another version, or one that is broken), so the run stops naming the
// worker instead of failing later, or panicking, on a malformed episode.
func (r *Result) check() error {
	for i, t := range r.Trajectories {
		switch {
		case t == nil:
			return fmt.Errorf("episode %d is missing", i)
		case len(t.States) != len(t.Turns)+1:
			return fmt.Errorf("episode %d has %d states for %d turns", i, len(t.States), len(t.Turns))
		case t.SolvedAt < 0 || t.SolvedAt > len(t.Turns):
			return fmt.Errorf("episode %d is solved at turn %d of %d", i, t.SolvedAt, len(t.Turns))
		}
	}
	return nil
}

// WorkerStatus is a worker's heartbeat entry in WorkersBucket.
type WorkerStatus struct {
	ID       string
	Host     string
	PID      int
	Slots    int
	Busy     int
	Items    int // items finished since the worker started
	Episodes int
	Started  time.Time
	Updated  time.Time
}

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, fmt.Errorf("cluster: encode %T: %w", v, err)
	}
	return b.Bytes(), nil
}

func decode(data []byte, v any) error {
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		return fmt.Errorf("cluster: decode %T: %w", v, err)
	}
	return nil
}

func workSubject(job string) string   { return workPrefix + job }
func resultSubject(job string) string { return resultPrefix + job }
