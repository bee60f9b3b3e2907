package openai

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/core/serve"
	"github.com/lathe-ml/lathe/core/synth"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/plugins/coedit"
	"github.com/lathe-ml/lathe/plugins/transformer"
	"github.com/lathe-ml/lathe/sdk"
)

// quicklyTrained is a tiny transformer given 200 supervised steps on the
// tool's demonstrations of some training tasks: enough to write commands
// of varied shape and length (an untrained one repeats one token), so
// comparing its episodes token for token is a strict test.
func quicklyTrained(t testing.TB, tool *coedit.Tool) *transformer.Model {
	t.Helper()
	ctx := context.Background()
	m := transformer.New()
	m.SetLogger(hclog.NewNullLogger())
	cfg, _ := sdk.ConfigFrom(map[string]any{"layers": 2.0, "d_model": 32.0, "heads": 4.0, "context": 256.0, "vocab": 300.0,
		"seed": 3.0, "lr": 1e-2, "warmup": 5.0})
	if err := m.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	trainTasks, err := tasks.Load(ctx, "builtin:basic", tasks.Options{Split: tasks.SplitTrain, Seed: 7, MaxTasks: 12})
	if err != nil {
		t.Fatal(err)
	}
	var examples []sdk.SupervisedExample
	for _, task := range trainTasks {
		demos, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: task, Seed: 1, N: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range demos {
			ep, err := synth.Replay(ctx, tool, task, d)
			if err != nil {
				t.Fatal(err)
			}
			for k := range ep.Actions {
				c, err := episode.Context(ep.Prompt, ep.States[:k+1], ep.Actions[:k], ep.Stop, episode.Full)
				if err != nil {
					t.Fatal(err)
				}
				examples = append(examples, sdk.SupervisedExample{Context: c, Target: episode.EndAction(ep.Actions[k], ep.Stop)})
			}
		}
	}
	const steps, batch = 200, 8
	for step := range steps {
		var b []sdk.SupervisedExample
		for _, i := range train.BatchIndices(len(examples), batch, step, 1) {
			b = append(b, examples[i])
		}
		if _, err := m.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: b, Step: step, TotalSteps: steps}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestServedEqualsDirect evaluates the same transformer twice on held-out
// built-in tasks broken by coedit: directly, and through core/serve and
// this plugin on a loopback listener, with either endpoint. Greedy
// episodes must agree command for command, and so every outcome. With
// LATHE_LONG=1 it plays the whole test split at the tool's 10 turns.
func TestServedEqualsDirect(t *testing.T) {
	if testing.Short() {
		t.Skip("plays episodes in the sandbox")
	}
	ctx := context.Background()
	maxTasks, maxTurns := 6, 3
	if os.Getenv("LATHE_LONG") == "1" {
		maxTasks, maxTurns = 0, 10
	}
	ts, err := tasks.Load(ctx, "builtin:basic", tasks.Options{Split: tasks.SplitTest, Seed: 7, MaxTasks: maxTasks})
	if err != nil {
		t.Fatal(err)
	}
	tool := coedit.New()
	defer tool.Shutdown()
	tcfg, _ := sdk.ConfigFrom(map[string]any{"max_turns": float64(maxTurns), "show_instructions": false})
	if err := tool.Configure(ctx, tcfg); err != nil {
		t.Fatal(err)
	}
	if ts, _, err = tasks.RepairTasks(ctx, ts, 7, tool, 0, nil); err != nil {
		t.Fatal(err)
	}
	model := quicklyTrained(t, tool)
	play := func(m sdk.Model) []*rollout.Trajectory {
		e := &rollout.Engine{Tool: tool, Model: m}
		trajs, err := e.Play(ctx, ts, rollout.Config{Group: 1, History: episode.Full,
			Sampling: sdk.Sampling{Temperature: 0, MaxTokens: 24, Seed: 7}})
		if err != nil {
			t.Fatal(err)
		}
		return trajs
	}
	direct := play(model)

	srv, err := serve.New(ctx, model, serve.Options{ModelName: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer func() { hs.Close(); srv.Close() }()

	turns, solved, stopped := 0, 0, 0
	for _, tr := range direct {
		turns += len(tr.Turns)
		if tr.Solved() {
			solved++
		}
		for _, tu := range tr.Turns {
			if tu.Completion.StopReason == "stop" {
				stopped++
			}
		}
	}
	t.Logf("direct: %d tasks, %d greedy turns (%d ended by the stop string), %d solved; first command %q",
		len(direct), turns, stopped, solved, direct[0].Turns[0].Completion.Text)
	for _, endpoint := range []string{EndpointCompletions, EndpointChat} {
		t.Run(endpoint, func(t *testing.T) {
			served := play(configured(t, hs.URL+"/v1", map[string]any{"model": "tiny", "endpoint": endpoint}))
			if len(served) != len(direct) {
				t.Fatalf("%d served episodes, %d direct", len(served), len(direct))
			}
			for i := range direct {
				d, s := summarize(direct[i]), summarize(served[i])
				// Log-probs come from float32 logits computed in batches of
				// other shapes: equal to rounding, not bit for bit.
				if diff := maxDiff(d.Logprobs, s.Logprobs); diff > 1e-5 {
					t.Errorf("task %s: log-probs differ by %g", direct[i].TaskID, diff)
				}
				d.Logprobs, s.Logprobs = nil, nil
				if !reflect.DeepEqual(d, s) {
					t.Errorf("task %s:\ndirect %+v\nserved %+v", direct[i].TaskID, d, s)
				}
			}
		})
	}
}

// outcome is what an eval keeps of a greedy episode.
type outcome struct {
	Actions     []string
	StopReasons []string
	Logprobs    [][]float64
	Contexts    []string
	SolvedAt    int
	Solved      bool
	Overflowed  bool
	Truncated   int
	Tokens      int
}

func summarize(tr *rollout.Trajectory) outcome {
	o := outcome{SolvedAt: tr.SolvedAt, Solved: tr.Solved(), Overflowed: tr.Overflowed, Truncated: tr.Truncated, Tokens: tr.GeneratedTokens()}
	for _, tu := range tr.Turns {
		o.Actions = append(o.Actions, tu.Completion.Text)
		o.StopReasons = append(o.StopReasons, tu.Completion.StopReason)
		o.Logprobs = append(o.Logprobs, tu.Completion.Logprobs)
		o.Contexts = append(o.Contexts, fmt.Sprintf("%d bytes", len(tu.Context)))
	}
	return o
}

// maxDiff is the largest difference between matching entries; a length
// mismatch is infinite.
func maxDiff(a, b [][]float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return math.Inf(1)
		}
		for j := range a[i] {
			d = max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}
