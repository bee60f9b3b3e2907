package transformer

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/evaluate"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/plugins/coedit"
	"github.com/lathe-ml/lathe/sdk"
)

// BenchmarkRollout plays evaluation episodes as paper.hcl's coe eval does
// (MBPP test tasks broken by the tool, the paper-sized model, history
// "full", 10 turns, 4 samples per task, max_tokens 96) with the prefix cache
// off and on, and with the model generating while the sandbox checks
// (rollout.Engine.Overlap), in the same run:
//
//	go test -run '^$' -bench Rollout -benchtime 1x ./plugins/transformer
//
// The model is untrained, so every episode runs all 10 turns and every
// command is as long as max_tokens or the first newline allows: the same
// work for both settings, more generation than a trained model's, and
// contexts that outgrow the window within a few turns (the engine then
// falls back to the last state, whose prefix is new), which caps what
// the cache can reuse. LATHE_ROLLOUT_CHECKPOINT=DIR plays a trained
// checkpoint instead (its architecture; the cache setting is the
// benchmark's). Besides
// episodes/s and generated tokens/s it reports the share of the time the
// model (Generate) and the sandbox (tool steps) were busy, and the share of
// prompt tokens the prefix cache supplied.
func BenchmarkRollout(b *testing.B) {
	dir := os.Getenv("LATHE_DATASETS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "datasets")
	}
	path := filepath.Join(dir, "mbpp", "mbpp.jsonl")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("MBPP not available (%v); set LATHE_DATASETS", err)
	}
	ctx := context.Background()
	ts, err := tasks.Load(ctx, "mbpp:"+path, tasks.Options{Split: tasks.SplitTest, MaxTasks: rolloutTasks()})
	if err != nil {
		b.Fatal(err)
	}
	tool := coedit.New()
	defer tool.Shutdown()
	cfg, _ := sdk.ConfigFrom(map[string]any{"max_turns": 10.0, "timeout_s": 3.0, "show_instructions": false})
	if err := tool.Configure(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	ts, _, err = tasks.RepairTasks(ctx, ts, 1, tool, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, setting := range []struct {
		name    string
		mb      int
		overlap bool
	}{
		{"cache=off", 0, false},
		{"cache=on", DefaultPrefixCacheMB, false},
		{"cache=on,overlap=on", DefaultPrefixCacheMB, true},
	} {
		mb := setting.mb
		b.Run(setting.name, func(b *testing.B) {
			var episodes, genTokens int
			var modelNS, toolNS atomic.Int64
			var reused, prefilled int64
			var wall time.Duration
			var pass1, turns float64
			for range b.N {
				m := New()
				m.log = hclog.NewNullLogger()
				mcfg, _ := sdk.ConfigFrom(map[string]any{"layers": 2.0, "d_model": 128.0, "heads": 4.0, "context": 1024.0,
					"vocab": 2048.0, "space_tokens": true, "copy": true, "prefix_cache_mb": float64(mb)})
				if err := m.Configure(ctx, mcfg); err != nil {
					b.Fatal(err)
				}
				if dir := os.Getenv("LATHE_ROLLOUT_CHECKPOINT"); dir != "" {
					if err := m.Load(ctx, dir); err != nil {
						b.Fatal(err)
					}
				}
				e := &rollout.Engine{Tool: timedTool{tool, &toolNS}, Model: timedModel{m, &modelNS}, Overlap: setting.overlap}
				start := time.Now()
				res, err := evaluate.Run(ctx, e, ts, evaluate.Options{Samples: 4, Ks: []int{1}, Temperature: 0.8,
					MaxTokens: 96, History: episode.Full, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				episodes += res.Tasks * res.Samples
				genTokens += res.Tokens
				pass1, turns = res.PassAtK[1], res.MeanTurns
				if m.prefix != nil {
					reused, prefilled = reused+m.prefix.reused, prefilled+m.prefix.prefilled
				}
			}
			sec := wall.Seconds()
			b.ReportMetric(float64(episodes)/sec, "episodes/s")
			b.ReportMetric(float64(genTokens)/sec, "gen_tok/s")
			b.ReportMetric(100*float64(modelNS.Load())/1e9/sec, "model_busy_%")
			b.ReportMetric(100*float64(toolNS.Load())/1e9/sec, "tool_busy_%")
			// The same in every setting: the cache and the overlap change
			// the time, not what the model writes.
			b.ReportMetric(pass1, "pass@1")
			b.ReportMetric(turns, "turns")
			if reused+prefilled > 0 {
				b.ReportMetric(100*float64(reused)/float64(reused+prefilled), "prompt_cached_%")
			}
		})
	}
}

// timedModel and timedTool add the time spent in Generate and in tool
// steps to a counter.
type timedModel struct {
	*Model
	ns *atomic.Int64
}

func (t timedModel) Generate(ctx context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	defer addSince(t.ns, time.Now())
	return t.Model.Generate(ctx, req)
}

type timedTool struct {
	*coedit.Tool
	ns *atomic.Int64
}

func (t timedTool) Step(ctx context.Context, req sdk.StepRequest) (sdk.StepResponse, error) {
	defer addSince(t.ns, time.Now())
	return t.Tool.Step(ctx, req)
}

func (t timedTool) StepBatch(ctx context.Context, reqs []sdk.StepRequest) ([]sdk.StepResponse, error) {
	defer addSince(t.ns, time.Now())
	return t.Tool.StepBatch(ctx, reqs)
}

func addSince(c *atomic.Int64, t time.Time) { c.Add(int64(time.Since(t))) }

// rolloutTasks is the number of MBPP test tasks BenchmarkRollout plays
// (LATHE_ROLLOUT_TASKS, default 8).
func rolloutTasks() int {
	if n, err := strconv.Atoi(os.Getenv("LATHE_ROLLOUT_TASKS")); err == nil && n > 0 {
		return n
	}
	return 8
}
