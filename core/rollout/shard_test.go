package rollout

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// seedModel answers "INC" or junk depending on its request's seed and the
// context's index, so trajectories show which seed played them.
type seedModel struct{}

func (seedModel) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (seedModel) Configure(context.Context, sdk.Config) error { return nil }
func (seedModel) Info(context.Context) (sdk.ModelInfo, error) { return sdk.ModelInfo{}, nil }
func (seedModel) Generate(_ context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	var out sdk.GenerateResponse
	for i := range req.Contexts {
		a := "INC"
		if (uint64(req.Sampling.Seed)+uint64(i))%3 == 0 {
			a = fmt.Sprintf("junk %d", req.Sampling.Seed)
		}
		out.Completions = append(out.Completions, sdk.Completion{Text: a + "\n", Logprobs: []float64{-1}, StopReason: "stop"})
	}
	return out, nil
}

// reverseExecutor plays shards last first, each on a fresh engine, as a
// worker would.
type reverseExecutor struct {
	mu     sync.Mutex
	played []int
}

func (r *reverseExecutor) PlayShards(ctx context.Context, shards []Shard) ([][]*Trajectory, error) {
	out := make([][]*Trajectory, len(shards))
	for i := len(shards) - 1; i >= 0; i-- {
		e := &Engine{Tool: &counterTool{maxTurns: 4, sessions: map[string]*counterSession{}}, Model: seedModel{}, Reward: firstPass{}}
		trajs, err := e.Play(ctx, shards[i].Tasks, shards[i].Config)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.played = append(r.played, shards[i].Index)
		r.mu.Unlock()
		out[i] = trajs
	}
	return out, nil
}

func TestShardedPlay(t *testing.T) {
	var tasks []sdk.Task
	for i := range 7 {
		tasks = append(tasks, sdk.Task{ID: fmt.Sprint("t", i), Program: fmt.Sprint(i), Tests: fmt.Sprint(i + 2)})
	}
	cfg := Config{Group: 3, Sampling: sdk.Sampling{Seed: 42}}
	local := func(per int) []*Trajectory {
		e := &Engine{Tool: &counterTool{maxTurns: 4, sessions: map[string]*counterSession{}}, Model: seedModel{}, Reward: firstPass{}, ShardTasks: per}
		trajs, err := e.Play(context.Background(), tasks, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return trajs
	}
	for _, tc := range []struct {
		name string
		per  int
	}{{"one task per shard", 1}, {"three per shard", 3}, {"all in one shard", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			want := local(tc.per)
			ex := &reverseExecutor{}
			e := &Engine{Executor: ex, ShardTasks: tc.per}
			got, err := e.Play(context.Background(), tasks, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tasks)*3 {
				t.Fatalf("%d trajectories, want %d", len(got), len(tasks)*3)
			}
			for i := range got {
				if got[i].TaskID != tasks[i/3].ID || got[i].Sample != i%3 {
					t.Fatalf("trajectory %d is %s/%d, want %s/%d", i, got[i].TaskID, got[i].Sample, tasks[i/3].ID, i%3)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("executor's shards played last first differ from the local sharded play")
			}
			if n := (len(tasks) + tc.per - 1) / tc.per; len(ex.played) != n || ex.played[0] != n-1 {
				t.Errorf("executor played shards %v, want %d of them, last first", ex.played, n)
			}
		})
	}
}

func TestSplitSeeds(t *testing.T) {
	tasks := make([]sdk.Task, 10)
	shards := Split(tasks, Config{Sampling: sdk.Sampling{Seed: 7}}, 3)
	if len(shards) != 4 || len(shards[3].Tasks) != 1 {
		t.Fatalf("10 tasks by 3: %d shards, last of %d tasks", len(shards), len(shards[len(shards)-1].Tasks))
	}
	seen := map[int64]bool{}
	for i, s := range shards {
		if s.Index != i || s.Config.Sampling.Seed != ShardSeed(7, i) {
			t.Errorf("shard %d: index %d seed %d", i, s.Index, s.Config.Sampling.Seed)
		}
		if seen[s.Config.Sampling.Seed] {
			t.Errorf("shard %d repeats a seed", i)
		}
		seen[s.Config.Sampling.Seed] = true
	}
	if ShardSeed(7, 0) == ShardSeed(8, 0) {
		t.Errorf("ShardSeed ignores the run seed")
	}
}
