package runner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rundir"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/stages"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// fakePlugin is any kind of plugin: it records its configuration.
type fakePlugin struct {
	schema sdk.Schema
	mu     sync.Mutex
	config map[string]any
}

func (p *fakePlugin) Schema(context.Context) (sdk.Schema, error) { return p.schema, nil }
func (p *fakePlugin) Configure(_ context.Context, c sdk.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return c.Decode(&p.config)
}
func (p *fakePlugin) Reset(context.Context, sdk.ResetRequest) (sdk.ResetResponse, error) {
	return sdk.ResetResponse{Session: "s"}, nil
}
func (p *fakePlugin) Step(context.Context, sdk.StepRequest) (sdk.StepResponse, error) {
	return sdk.StepResponse{}, nil
}
func (p *fakePlugin) Close(context.Context, string) error { return nil }
func (p *fakePlugin) Score(context.Context, sdk.Transition) (sdk.Score, error) {
	return sdk.Score{}, nil
}
func (p *fakePlugin) Generate(context.Context, sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	return sdk.GenerateResponse{}, nil
}
func (p *fakePlugin) Info(context.Context) (sdk.ModelInfo, error) { return sdk.ModelInfo{}, nil }

type fakeInstance struct {
	host   *fakeHost
	kind   sdk.Kind
	label  string
	plugin *fakePlugin
	caps   []string
}

func (i *fakeInstance) Tool() sdk.Tool {
	if i.kind != sdk.KindTool {
		return nil
	}
	return i.plugin
}
func (i *fakeInstance) Reward() sdk.Reward {
	if i.kind != sdk.KindReward {
		return nil
	}
	return i.plugin
}
func (i *fakeInstance) Model() sdk.Model {
	if i.kind != sdk.KindModel {
		return nil
	}
	return i.plugin
}
func (i *fakeInstance) Capabilities() []string { return i.caps }
func (i *fakeInstance) ConfigValidator() (sdk.ConfigValidator, bool) {
	v, ok := any(i.plugin).(sdk.ConfigValidator)
	return v, ok
}
func (i *fakeInstance) Kill() {
	i.host.mu.Lock()
	defer i.host.mu.Unlock()
	delete(i.host.live, i)
}

// fakeHost serves plugins "coedit" (tool), "tests" (reward), "tiny"
// (trainable model) and "api" (inference-only model).
type fakeHost struct {
	mu      sync.Mutex
	live    map[*fakeInstance]bool
	started map[string]int // block label -> instances started
	last    map[string]*fakePlugin
}

func newFakeHost() *fakeHost {
	return &fakeHost{live: map[*fakeInstance]bool{}, started: map[string]int{}, last: map[string]*fakePlugin{}}
}

var fakeSchemas = map[string]sdk.Schema{
	"tool/coedit":  {Attributes: []sdk.Attribute{{Name: "max_turns", Type: "number", Default: 10.0}}},
	"reward/tests": {Attributes: []sdk.Attribute{{Name: "format_penalty", Type: "number", Default: -0.5}}},
	"model/tiny":   {Attributes: []sdk.Attribute{{Name: "layers", Type: "number", Default: 2.0}}},
	"model/api":    {Attributes: []sdk.Attribute{{Name: "url", Type: "string"}}},
}

var fakeCaps = map[string][]string{
	"tool/coedit": {pluginclient.CapToolWithDemonstrate},
	"model/tiny":  {pluginclient.CapModelWithTraining, pluginclient.CapModelWithCheckpoints},
}

func (h *fakeHost) Schema(_ context.Context, kind sdk.Kind, plugin string) (sdk.Schema, error) {
	s, ok := fakeSchemas[string(kind)+"/"+plugin]
	if !ok {
		return sdk.Schema{}, fmt.Errorf("unknown plugin %q", plugin)
	}
	return s, nil
}

func (h *fakeHost) Start(_ context.Context, kind sdk.Kind, label, plugin string) (runner.Instance, error) {
	key := string(kind) + "/" + plugin
	if _, ok := fakeSchemas[key]; !ok {
		return nil, fmt.Errorf("unknown plugin %q", plugin)
	}
	p := &fakePlugin{schema: fakeSchemas[key]}
	inst := &fakeInstance{host: h, kind: kind, label: label, plugin: p, caps: fakeCaps[key]}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live[inst] = true
	h.started[label]++
	h.last[label] = p
	return inst, nil
}

func (h *fakeHost) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.live {
		delete(h.live, i)
	}
}

func (h *fakeHost) liveCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live)
}

const pipeline = `experiment "pipe" { seed = 3 }
dataset "basic" { source = "builtin:basic" }
tool "editor" { plugin = "coedit" }
reward "solved" { plugin = "tests" }
model "policy" { plugin = "tiny" }
stage "demos" {
  kind    = "synthesize"
  tool    = tool.editor
  dataset = dataset.basic
}
stage "sft" {
  kind  = "sft"
  model = model.policy
  data  = stage.demos
}
stage "rl" {
  kind    = "grpo"
  model   = model.policy
  tool    = tool.editor
  reward  = reward.solved
  dataset = dataset.basic
  init    = stage.sft
}
eval "test" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  checkpoints = [stage.sft, stage.rl]
}
`

// stageFunc is a kind's run function with its attributes untyped.
type stageFunc = func(context.Context, *runner.StageEnv) (runner.Outputs, error)

// withStages returns the built-in kinds (their schemas and needs) with
// fns as their implementations; a kind missing from fns is not
// implemented.
func withStages(fns map[string]stageFunc) *runner.Registry {
	r := stages.Kinds()
	for _, name := range r.Names() {
		r = r.WithRun(name, fns[name])
	}
	return r
}

// typed decodes a stage's attributes into the kind's struct, as the
// registry does for a real implementation.
func typed[A any](fn func(context.Context, *runner.StageEnv, *A) (runner.Outputs, error)) stageFunc {
	return func(ctx context.Context, env *runner.StageEnv) (runner.Outputs, error) {
		a := new(A)
		if err := env.Stage.Attrs.Decode(a); err != nil {
			return nil, err
		}
		return fn(ctx, env, a)
	}
}

// recorder is a set of fake stage implementations that log what they see.
type recorder struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]error // stage label -> error to return once
}

func (rec *recorder) log(format string, args ...any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.calls = append(rec.calls, fmt.Sprintf(format, args...))
}

func (rec *recorder) failOnce(label string) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	err := rec.fail[label]
	delete(rec.fail, label)
	return err
}

func writeFile(env *runner.StageEnv, name, body string) (string, error) {
	p := filepath.Join(env.Dir, name)
	return p, os.WriteFile(p, []byte(body), 0o644)
}

func (rec *recorder) stages() map[string]stageFunc {
	return map[string]stageFunc{
		"synthesize": typed(func(ctx context.Context, env *runner.StageEnv, a *stages.SynthesizeAttrs) (runner.Outputs, error) {
			tool, err := env.Tool(ctx, a.Tool)
			if err != nil {
				return nil, err
			}
			d, err := env.Dataset(a.Dataset)
			if err != nil {
				return nil, err
			}
			tool.(*fakePlugin).mu.Lock()
			turns := tool.(*fakePlugin).config["max_turns"]
			tool.(*fakePlugin).mu.Unlock()
			rec.log("synthesize %s per_task=%d seed=%d source=%s max_turns=%v", env.Stage.Label, a.PerTask, env.Seed, d.Source(), turns)
			if err := env.Metrics.Log(env.Stage.Label, 0, map[string]float64{"traces": 10}); err != nil {
				return nil, err
			}
			p, err := writeFile(env, "demos.jsonl", "{}\n")
			return runner.Outputs{"data": p}, err
		}),
		"sft": typed(func(ctx context.Context, env *runner.StageEnv, a *stages.SFTAttrs) (runner.Outputs, error) {
			ins, err := env.Inputs(a.Data)
			if err != nil || len(ins) != 1 {
				return nil, fmt.Errorf("data: %d inputs, %v", len(ins), err)
			}
			in := ins[0]
			if _, err := env.Model(ctx, a.Model); err != nil {
				return nil, err
			}
			rec.log("sft %s data=%s resume=%v", env.Stage.Label, filepath.Base(in.Outputs["data"]), env.Resume)
			if err := rec.failOnce(env.Stage.Label); err != nil {
				return nil, err
			}
			return runner.Outputs{"checkpoint": env.Dir}, nil
		}),
		"grpo": typed(func(ctx context.Context, env *runner.StageEnv, a *stages.GRPOAttrs) (runner.Outputs, error) {
			init, ok, err := env.Input(a.Init)
			if err != nil || !ok {
				return nil, fmt.Errorf("init: %v %v", ok, err)
			}
			if _, err := env.Model(ctx, a.Model); err != nil {
				return nil, err
			}
			if _, err := env.StartModel(ctx, a.Model); err != nil { // frozen reference
				return nil, err
			}
			if _, err := env.Reward(ctx, a.Reward); err != nil {
				return nil, err
			}
			rec.log("grpo %s init=%s group=%d", env.Stage.Label, init.Label, a.Group)
			if err := rec.failOnce(env.Stage.Label); err != nil {
				return nil, err
			}
			return runner.Outputs{"checkpoint": env.Dir}, nil
		}),
		"eval": typed(func(ctx context.Context, env *runner.StageEnv, a *stages.EvalAttrs) (runner.Outputs, error) {
			cks, err := env.Inputs(a.Checkpoints)
			if err != nil {
				return nil, err
			}
			b, err := env.Block(a.Tool)
			if err != nil {
				return nil, err
			}
			var rows []results.Row
			var labels []string
			for i, ck := range cks {
				labels = append(labels, ck.Label)
				rows = append(rows, results.Row{Stage: ck.Label, StageKind: ck.Kind, Tool: b.Plugin, Model: "policy",
					Tasks: 5, PassAt: map[int]float64{1: 0.2 * float64(i+1)}})
			}
			rec.log("eval %s checkpoints=%s k=%v samples=%d", env.Stage.Label, strings.Join(labels, ","), a.K, a.Samples)
			return nil, env.SetResults(rows, nil)
		}),
	}
}

func runOpts(t *testing.T, kinds *runner.Registry, h *fakeHost, src string) runner.Options {
	return runner.Options{
		Kinds:    kinds,
		Filename: "pipe.hcl",
		Source:   []byte(src),
		NewHost:  func(hclog.Logger) runner.Host { return h },
		Root:     t.TempDir(),
		Now:      func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) },
	}
}

func TestRunPipeline(t *testing.T) {
	rec := &recorder{}
	h := newFakeHost()
	rep, err := runner.Run(context.Background(), runOpts(t, withStages(rec.stages()), h, pipeline))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"synthesize demos per_task=10 seed=3 source=builtin:basic max_turns=10",
		"sft sft data=demos.jsonl resume=false",
		"grpo rl init=sft group=4",
		"eval test checkpoints=sft,rl k=[1 4] samples=4",
	}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(rec.calls, "\n"), strings.Join(want, "\n"))
	}
	if n := h.liveCount(); n != 0 {
		t.Errorf("%d plugin instances left running", n)
	}
	// Validation starts editor and policy once each to read capabilities;
	// then one editor serves the whole run, and the policy gets one instance
	// per training stage plus GRPO's reference (eval never asked for one).
	if h.started["editor"] != 2 || h.started["policy"] != 4 {
		t.Errorf("instances started: %v", h.started)
	}
	if got := h.last["solved"].config["format_penalty"]; got != -0.5 {
		t.Errorf("reward configured with %v, want the schema default -0.5", got)
	}
	res, err := results.Load(rep.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || res.Rows[1].Stage != "rl" || res.Rows[1].Eval != "test" || res.Rows[1].Tool != "coedit" {
		t.Errorf("results rows = %+v", res.Rows)
	}
	for _, f := range []string{rundir.ExperimentFile, rundir.ResolvedFile, rundir.LogFile, rundir.MetricsFile, rundir.StateFile} {
		if _, err := os.Stat(filepath.Join(rep.Dir, f)); err != nil {
			t.Errorf("run dir lacks %s: %v", f, err)
		}
	}
	recs, err := rundir.ReadMetrics(filepath.Join(rep.Dir, rundir.MetricsFile))
	if err != nil || len(recs) != 5 || recs[0]["traces"] != 10.0 {
		t.Errorf("metrics = %v, %v; want the stage's record then 4 stage-done records", recs, err)
	}
}

func TestRunStopsAtMissingKindAndResumes(t *testing.T) {
	rec := &recorder{fail: map[string]error{"rl": errors.New("reward exploded")}}
	fns := rec.stages()
	eval := fns["eval"]
	delete(fns, "eval")
	h := newFakeHost()
	opts := runOpts(t, withStages(fns), h, pipeline)

	rep, err := runner.Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "stage.rl: reward exploded") {
		t.Fatalf("first run: err = %v", err)
	}
	if got := statuses(rep); got != "demos:done sft:done rl:failed test:not run" {
		t.Errorf("first run stages: %s", got)
	}

	opts.Resume, opts.Source = rep.Dir, nil
	rep2, err := runner.Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), `stage kind "eval" is not implemented yet`) {
		t.Fatalf("second run: err = %v", err)
	}
	if got := statuses(rep2); got != "demos:skipped sft:skipped rl:done test:failed" {
		t.Errorf("second run stages: %s", got)
	}

	opts.Kinds = opts.Kinds.WithRun("eval", eval)
	rep3, err := runner.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep3); got != "demos:skipped sft:skipped rl:skipped test:done" {
		t.Errorf("third run stages: %s", got)
	}
	if rep3.Dir != rep.Dir || len(rep3.Results.Rows) != 2 {
		t.Errorf("resumed into %s (want %s) with %d rows", rep3.Dir, rep.Dir, len(rep3.Results.Rows))
	}
	other := opts
	other.Source = []byte(strings.Replace(pipeline, `experiment "pipe"`, `experiment "other"`, 1))
	if _, err := runner.Run(context.Background(), other); err == nil || !strings.Contains(err.Error(), `holds a run of experiment "pipe", not "other"`) {
		t.Errorf("resuming another experiment's run: err = %v", err)
	}
	if n := strings.Count(strings.Join(rec.calls, "\n"), "synthesize"); n != 1 {
		t.Errorf("synthesize ran %d times across resumes, want 1", n)
	}
}

func statuses(rep *runner.Report) string {
	var parts []string
	for _, s := range rep.Stages {
		parts = append(parts, s.Label+":"+s.Status)
	}
	return strings.Join(parts, " ")
}

func TestInterruptKeepsRunDir(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	fns := rec.stages()
	fns["sft"] = func(ctx context.Context, env *runner.StageEnv) (runner.Outputs, error) {
		cancel() // as Ctrl-C would, mid-stage
		<-ctx.Done()
		return nil, ctx.Err()
	}
	rep, err := runner.Run(ctx, runOpts(t, withStages(fns), newFakeHost(), pipeline))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	st, err := rundir.Open(rep.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s := st.Stage("demos"); s == nil || s.Status != rundir.StatusDone {
		t.Errorf("demos = %+v, want done", s)
	}
	if s := st.Stage("sft"); s == nil || s.Status != rundir.StatusFailed || !strings.Contains(s.Error, "canceled") {
		t.Errorf("sft = %+v, want failed (canceled)", s)
	}
}

func TestCapabilityDiagnostics(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		summary string
		at      string // "line:col" of the subject
	}{
		{
			name:    "inference-only model trained",
			src:     strings.Replace(pipeline, `plugin = "tiny"`, `plugin = "api"`, 1),
			summary: "Inference-only model",
			at:      "13:11",
		},
		{
			name:    "unknown model plugin",
			src:     strings.Replace(pipeline, `plugin = "tiny"`, `plugin = "tinny"`, 1),
			summary: "Unknown model plugin",
			at:      "5:27",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runner.Run(context.Background(), runOpts(t, withStages((&recorder{}).stages()), newFakeHost(), tc.src))
			var de *runner.DiagnosticsError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want diagnostics", err)
			}
			d := de.Diags.Errs()[0].(*hcl.Diagnostic)
			at := fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
			if d.Summary != tc.summary || at != tc.at {
				t.Errorf("got %q at %s, want %q at %s (%s)", d.Summary, at, tc.summary, tc.at, d.Detail)
			}
		})
	}
}
