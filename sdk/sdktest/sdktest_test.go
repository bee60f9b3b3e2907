package sdktest_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/lathe-ml/lathe/plugins/tests"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
	"github.com/lathe-ml/lathe/sdk/sdktest"
)

// lineTool is a tiny real tool: the state is a list of lines, "ADD text"
// appends, "EXIT" ends. It implements both optional tool interfaces.
type lineTool struct {
	mu       sync.Mutex
	sessions map[string][]string
	next     int
	maxTurns int
}

func (l *lineTool) Schema(context.Context) (sdk.Schema, error) {
	return sdk.Schema{Attributes: []sdk.Attribute{{Name: "max_turns", Type: "number", Default: 3.0}}}, nil
}

func (l *lineTool) Configure(_ context.Context, c sdk.Config) error {
	cfg := struct {
		MaxTurns int `json:"max_turns"`
	}{3}
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	l.maxTurns = cfg.MaxTurns
	return nil
}

func (l *lineTool) Reset(_ context.Context, req sdk.ResetRequest) (sdk.ResetResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	id := fmt.Sprint(l.next)
	l.sessions[id] = nil
	return sdk.ResetResponse{Session: id, Prompt: "add lines for " + req.Task.ID, Stop: []string{"\n"},
		Observation: sdk.Observation{Text: "", Info: sdk.StepInfo{Valid: true}}}, nil
}

func (l *lineTool) Step(_ context.Context, req sdk.StepRequest) (sdk.StepResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines, ok := l.sessions[req.Session]
	if !ok {
		return sdk.StepResponse{}, fmt.Errorf("linetool: unknown session %q", req.Session)
	}
	info := sdk.StepInfo{Valid: true}
	switch {
	case req.Action == "EXIT":
		info.Exited = true
	case strings.HasPrefix(req.Action, "ADD "):
		lines = append(lines, strings.TrimPrefix(req.Action, "ADD "))
	default:
		info.Valid, info.ErrorClass = false, "parse"
	}
	l.sessions[req.Session] = lines
	info.Turn = len(lines)
	return sdk.StepResponse{Observation: sdk.Observation{
		Text: strings.Join(lines, "\n"), Info: info, Done: info.Exited || len(lines) >= l.maxTurns,
	}}, nil
}

func (l *lineTool) Close(_ context.Context, s string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sessions, s)
	return nil
}

func (l *lineTool) StepBatch(ctx context.Context, reqs []sdk.StepRequest) ([]sdk.StepResponse, error) {
	out := make([]sdk.StepResponse, len(reqs))
	for i, r := range reqs {
		var err error
		if out[i], err = l.Step(ctx, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *lineTool) Demonstrate(_ context.Context, req sdk.DemonstrateRequest) ([]sdk.Demonstration, error) {
	if req.Continuation {
		// The continuation echoes what crossed the wire: the flag, and the
		// actions taken so far (an empty list included).
		return []sdk.Demonstration{{TaskID: req.Task.ID, Program: fmt.Sprintf("after %q", req.After), Actions: []string{"EXIT"}}}, nil
	}
	var out []sdk.Demonstration
	for i := range req.N {
		d := sdk.Demonstration{TaskID: req.Task.ID, Actions: []string{fmt.Sprintf("ADD %d", req.Seed+int64(i)), "EXIT"}}
		if req.Verbatim {
			d.Program = "verbatim" // shows that the flag crossed the wire
		}
		out = append(out, d)
	}
	return out, nil
}

func TestToolInProcess(t *testing.T) {
	ctx := context.Background()
	tool := sdktest.Tool(t, &lineTool{sessions: map[string][]string{}})
	caps, err := tool.Capabilities(ctx)
	if err != nil || !reflect.DeepEqual(caps, []string{pluginclient.CapToolWithBatch, pluginclient.CapToolWithDemonstrate}) {
		t.Fatalf("capabilities = %v, %v", caps, err)
	}
	cfg, _ := sdk.ConfigFrom(map[string]any{"max_turns": 2})
	if err := tool.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	r, err := tool.Reset(ctx, sdk.ResetRequest{Task: sdk.Task{ID: "t9"}})
	if err != nil || r.Prompt != "add lines for t9" || !reflect.DeepEqual(r.Stop, []string{"\n"}) {
		t.Fatalf("reset = %+v, %v", r, err)
	}
	steps := []struct {
		action string
		text   string
		valid  bool
		done   bool
	}{
		{"ADD x = 1", "x = 1", true, false},
		{"bogus", "x = 1", false, false},
		{"ADD y = 2", "x = 1\ny = 2", true, true},
	}
	for _, s := range steps {
		t.Run(s.action, func(t *testing.T) {
			got, err := tool.Step(ctx, sdk.StepRequest{Session: r.Session, Action: s.action})
			if err != nil {
				t.Fatal(err)
			}
			o := got.Observation
			if o.Text != s.text || o.Info.Valid != s.valid || o.Done != s.done {
				t.Errorf("observation = %+v", o)
			}
		})
	}
	batch, err := tool.StepBatch(ctx, []sdk.StepRequest{{Session: r.Session, Action: "EXIT"}, {Session: r.Session, Action: "ADD z"}})
	if err != nil || len(batch) != 2 || !batch[0].Observation.Info.Exited || batch[1].Observation.Info.Turn != 3 {
		t.Fatalf("batch = %+v, %v", batch, err)
	}
	demos, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: sdk.Task{ID: "t9"}, Seed: 5, N: 2})
	if err != nil || len(demos) != 2 || demos[1].Actions[0] != "ADD 6" || demos[0].Program != "" {
		t.Fatalf("demos = %+v, %v", demos, err)
	}
	demos, err = tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: sdk.Task{ID: "t9"}, Seed: 5, N: 1, Verbatim: true})
	if err != nil || len(demos) != 1 || demos[0].Program != "verbatim" {
		t.Fatalf("verbatim demos = %+v, %v", demos, err)
	}
	for _, after := range [][]string{nil, {"ADD a", "bogus"}} {
		demos, err = tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: sdk.Task{ID: "t9"}, Continuation: true, After: after})
		want := fmt.Sprintf("after %q", after)
		if after == nil {
			want = `after []` // an empty prefix arrives empty, still a continuation
		}
		if err != nil || len(demos) != 1 || demos[0].Program != want {
			t.Fatalf("continuation after %q = %+v, %v; want program %s", after, demos, err, want)
		}
	}
	if err := tool.Close(ctx, r.Session); err != nil {
		t.Fatal(err)
	}
	_, err = tool.Step(ctx, sdk.StepRequest{Session: r.Session, Action: "EXIT"})
	if want := `plugin: Step: linetool: unknown session "1"`; err == nil || err.Error() != want {
		t.Errorf("step after close: %v, want %s", err, want)
	}
}

// plainReward implements no optional interface.
type plainReward struct{}

func (plainReward) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (plainReward) Configure(context.Context, sdk.Config) error { return nil }
func (plainReward) Score(context.Context, sdk.Transition) (sdk.Score, error) {
	return sdk.Score{Reward: 1}, nil
}

type plainModel struct{}

func (plainModel) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (plainModel) Configure(context.Context, sdk.Config) error { return nil }
func (plainModel) Generate(_ context.Context, r sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	var out sdk.GenerateResponse
	for _, c := range r.Contexts {
		out.Completions = append(out.Completions, sdk.Completion{Text: strings.ToUpper(c), StopReason: "stop"})
	}
	return out, nil
}
func (plainModel) Info(context.Context) (sdk.ModelInfo, error) {
	return sdk.ModelInfo{Name: "upper", Device: "cpu"}, nil
}

func TestMissingOptionalInterfaces(t *testing.T) {
	ctx := context.Background()
	reward := sdktest.Reward(t, plainReward{})
	reward.SetErrorContext(`plugin "solved" (plain)`, nil)
	model := sdktest.Model(t, plainModel{})
	model.SetErrorContext(`plugin "policy" (upper)`, nil)
	tool := sdktest.Tool(t, struct{ sdk.Tool }{&lineTool{sessions: map[string][]string{}}})

	g, err := model.Generate(ctx, sdk.GenerateRequest{Contexts: []string{"ab", "c"}})
	if err != nil || g.Completions[0].Text != "AB" || g.Completions[1].Text != "C" {
		t.Fatalf("generate = %+v, %v", g, err)
	}
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"ScoreBatch", func() error { _, err := reward.ScoreBatch(ctx, nil); return err },
			`plugin "solved" (plain) does not implement ScoreBatch`},
		{"TrainSupervised", func() error { _, err := model.TrainSupervised(ctx, sdk.SupervisedBatch{}); return err },
			`plugin "policy" (upper) does not implement TrainSupervised`},
		{"FitTokenizer", func() error { return model.FitTokenizer(ctx, nil) },
			`plugin "policy" (upper) does not implement FitTokenizer`},
		{"Save", func() error { return model.Save(ctx, "/tmp/x") },
			`plugin "policy" (upper) does not implement Save`},
		{"Demonstrate", func() error { _, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{}); return err },
			`plugin does not implement Demonstrate`},
		{"StepBatch", func() error { _, err := tool.StepBatch(ctx, nil); return err },
			`plugin does not implement StepBatch`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, pluginclient.ErrNotImplemented) || err.Error() != c.want {
				t.Errorf("error = %v, want %s", err, c.want)
			}
		})
	}
}

var transitions = []struct {
	name string
	tr   sdk.Transition
	want float64
}{
	{"solved", sdk.Transition{After: sdk.StepInfo{Valid: true, Solved: true}}, 1},
	{"malformed at the turn limit", sdk.Transition{After: sdk.StepInfo{Valid: false}, Done: true}, -1},
	{"exit", sdk.Transition{After: sdk.StepInfo{Valid: true, Exited: true}, Done: true}, 0},
}

func TestRewardRealProcess(t *testing.T) {
	bin := sdktest.Build(t, "./testdata/testsreward")
	p := sdktest.Launch(t, sdk.KindReward, bin)
	ctx := context.Background()
	for _, c := range transitions {
		t.Run(c.name, func(t *testing.T) {
			s, err := p.Reward().Score(ctx, c.tr)
			if err != nil || s.Reward != c.want {
				t.Errorf("score = %+v, %v; want %v", s, err, c.want)
			}
		})
	}
	p.Kill()
	if !p.Exited() {
		t.Error("process still running after Kill")
	}
}

// BenchmarkRoundTrip measures one Score call through the whole protocol:
// in-process (gRPC over a local socket, no process boundary) and against a
// real plugin process.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	tr := transitions[0].tr
	run := func(b *testing.B, r sdk.Reward) {
		for b.Loop() {
			if _, err := r.Score(ctx, tr); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
	}
	b.Run("in-process", func(b *testing.B) { run(b, sdktest.Reward(b, tests.New())) })
	b.Run("process", func(b *testing.B) {
		p := sdktest.Launch(b, sdk.KindReward, sdktest.Build(b, "./testdata/testsreward"))
		run(b, p.Reward())
	})
	// Batched, the per-transition cost of the process boundary shrinks.
	b.Run("process-batch64", func(b *testing.B) {
		p := sdktest.Launch(b, sdk.KindReward, sdktest.Build(b, "./testdata/testsreward"))
		batch := make([]sdk.Transition, 64)
		for i := range batch {
			batch[i] = transitions[i%len(transitions)].tr
		}
		for b.Loop() {
			if _, err := p.Reward().ScoreBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(batch)), "µs/transition")
	})
}
