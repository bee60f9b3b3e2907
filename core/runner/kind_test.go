package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/rundir"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/stages"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// countAttrs and countKind are the whole definition of the test-only
// stage kind "count": its schema, the typed value its run function gets,
// the capability it needs and what it does. Registering it is one more
// argument to runner.NewRegistry (see countKinds); nothing else in the
// tree names it.
type countAttrs struct {
	Tool  experiment.Ref `attr:"tool,required" ref:"tool"`
	Times int            `attr:"times" default:"3"`
	Unit  string         `attr:"unit" enum:"lines,words" default:"lines"`
	Batch bool           `attr:"batch"` // asks the tool for ToolWithBatch
	After experiment.Ref `attr:"after" ref:"stage" output:"checkpoint"`
	Seed  int            `attr:"seed" default:"experiment.seed"`
}

var countKind = runner.Kind[countAttrs]{
	Name:       "count",
	Checkpoint: true, // so init and an eval's checkpoints may name it
	Needs: func(a *countAttrs) []runner.Need {
		if !a.Batch {
			return nil
		}
		return []runner.Need{{Ref: a.Tool, Cap: pluginclient.CapToolWithBatch, Why: "steps batches with it"}}
	},
	Run: func(ctx context.Context, env *runner.StageEnv, a *countAttrs) (runner.Outputs, error) {
		if _, err := env.Tool(ctx, a.Tool); err != nil {
			return nil, err
		}
		from := "none"
		if in, ok, err := env.Input(a.After); err != nil {
			return nil, err
		} else if ok {
			b, err := os.ReadFile(filepath.Join(in.Outputs["checkpoint"], "count"))
			if err != nil {
				return nil, err
			}
			from = string(b)
		}
		line := fmt.Sprintf("%s: %d %s, seed %d, after %s", env.Stage.Label, a.Times, a.Unit, a.Seed, from)
		if err := os.WriteFile(filepath.Join(env.Dir, "count"), []byte(line), 0o644); err != nil {
			return nil, err
		}
		return runner.Outputs{"checkpoint": env.Dir}, nil
	},
}

// countKinds registers count beside the built-in kinds.
func countKinds(t *testing.T) *runner.Registry {
	r, err := runner.NewRegistry(append(stages.Definitions(), countKind)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const counting = `experiment "count" { seed = 5 }
dataset "basic" { source = "builtin:basic" }
tool "editor" { plugin = "coedit" }
model "policy" { plugin = "tiny" }
stage "second" {
  kind  = "count"
  tool  = tool.editor
  after = stage.first
  times = 7
  unit  = "words"
}
stage "first" {
  kind = "count"
  tool = tool.editor
}
eval "test" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  checkpoints = [stage.second]
}
`

// TestRegisteredKindValidatesAndRuns: a kind registered outside
// core/stages is checked by Load like a built-in one (unknown and
// mistyped attributes, enum values, the references it takes, the
// capabilities it needs, each at its line and column; an eval may name it
// as a checkpoint) and is run by Run with its typed attributes, defaults
// filled in, in dependency order.
func TestRegisteredKindValidatesAndRuns(t *testing.T) {
	kinds := countKinds(t)
	mistakes := []struct {
		name, old, new  string
		summary, detail string
		at              string // line:col
	}{
		{"unknown attribute", "times = 7", "tims = 7", "Unsupported argument", `Did you mean "times"?`, "9:3"},
		{"wrong type", "times = 7", `times = "seven"`, "Incorrect attribute value type", "a whole number is required", "9:11"},
		{"enum", `unit  = "words"`, `unit  = "word"`, "Invalid value", `Did you mean "words"?`, "10:11"},
		{"reference kind", "after = stage.first", "after = tool.editor", "Wrong reference kind", "must refer to a stage block", "8:11"},
		{"needs", "times = 7", "batch = true", "Plugin lacks " + pluginclient.CapToolWithBatch, "stage.second steps batches with it tool.editor", "7:11"},
		{"kind typo", `kind  = "count"`, `kind  = "cout"`, "Unknown stage kind", `Did you mean "count"?`, "6:11"},
	}
	for _, tc := range mistakes {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(counting, tc.old, tc.new, 1)
			_, _, diags := runner.Load(context.Background(), "count.hcl", []byte(src), nil, kinds, newFakeHost())
			if !diags.HasErrors() {
				t.Fatalf("no error for:\n%s", src)
			}
			d := diags.Errs()[0].(*hcl.Diagnostic)
			at := fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
			if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) || at != tc.at {
				t.Errorf("got %q at %s (%s), want %q at %s containing %q", d.Summary, at, d.Detail, tc.summary, tc.at, tc.detail)
			}
		})
	}

	// Without the count kind, the same file names an unknown kind.
	_, _, diags := runner.Load(context.Background(), "count.hcl", []byte(counting), nil, stages.Kinds(), newFakeHost())
	if !diags.HasErrors() || diags.Errs()[0].(*hcl.Diagnostic).Summary != "Unknown stage kind" {
		t.Fatalf("built-in kinds only: %v", diags)
	}

	// Run it; the eval is replaced by a fake, the count stages are real.
	evalRan := ""
	kinds = kinds.WithRun("eval", typed(func(ctx context.Context, env *runner.StageEnv, a *stages.EvalAttrs) (runner.Outputs, error) {
		cks, err := env.Inputs(a.Checkpoints)
		if err != nil {
			return nil, err
		}
		evalRan = cks[0].Label + " (" + cks[0].Kind + ")"
		return nil, nil
	}))
	rep, err := runner.Run(context.Background(), runOpts(t, kinds, newFakeHost(), counting))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); got != "first:done second:done test:done" {
		t.Errorf("stages: %s", got)
	}
	b, err := os.ReadFile(filepath.Join(rep.Dir, "stages", "second", "count"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "second: 7 words, seed 5, after first: 3 lines, seed 5, after none"; string(b) != want {
		t.Errorf("second wrote %q, want %q", b, want)
	}
	if evalRan != "second (count)" {
		t.Errorf("eval saw checkpoint %q", evalRan)
	}
	st, err := rundir.Open(rep.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s := st.Stage("second"); s == nil || s.Kind != "count" {
		t.Errorf("state of second: %+v", s)
	}
}

// TestKindTagMistakes: a mistake in an attribute struct's tags is an
// error of NewRegistry naming the kind and the field, never a silent zero
// at run time.
func TestKindTagMistakes(t *testing.T) {
	type noDefault struct {
		Model experiment.Ref `attr:"model,required" ref:"model" default:"x"`
	}
	type badType struct {
		N int32 `attr:"n"`
	}
	type badRef struct {
		M experiment.Ref `attr:"m" ref:"modle"`
	}
	type badDefault struct {
		N int `attr:"n" default:"many"`
	}
	type badKinds struct {
		S experiment.Ref `attr:"s" ref:"stage" kinds:"synthesise"`
	}
	type twice struct {
		A int `attr:"a"`
		B int `attr:"a"`
	}
	for _, tc := range []struct {
		def  runner.Definer
		want string
	}{
		{runner.Kind[noDefault]{Name: "k"}, `stage kind "k": field Model: a required attribute has no default`},
		{runner.Kind[badType]{Name: "k"}, "field N: type int32 is not an attribute type"},
		{runner.Kind[badRef]{Name: "k"}, "field M: a Ref or []Ref takes ref"},
		{runner.Kind[badDefault]{Name: "k"}, `field N: default "many"`},
		{runner.Kind[badKinds]{Name: "k"}, `kinds names "synthesise", which is not a stage kind`},
		{runner.Kind[twice]{Name: "k"}, `attribute "a" defined twice`},
		{runner.Kind[countAttrs]{Name: "sft"}, `stage kind "sft" registered twice`},
	} {
		_, err := runner.NewRegistry(append(stages.Definitions(), tc.def)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want it to contain %q", err, tc.want)
		}
	}
	if _, err := runner.NewRegistry(stages.Definitions()...); err != nil {
		t.Errorf("built-in kinds: %v", err)
	}
}

// TestRunStage runs one count stage outside an experiment file, its
// attributes built from the registry's defaults, as `lathe eval` runs an
// eval.
func TestRunStage(t *testing.T) {
	kinds := countKinds(t)
	vals, ok := kinds.Defaults("count", experiment.Values{"times": 2}, 9)
	if !ok {
		t.Fatal("count is not registered")
	}
	var a countAttrs
	if err := vals.Decode(&a); err != nil {
		t.Fatal(err)
	}
	a.Tool = experiment.Ref{Kind: "tool", Label: "editor"}
	h := newFakeHost()
	rep, err := runner.RunStage(context.Background(), runner.StageOptions{
		Kinds: kinds, Kind: "count", Label: "one", Attrs: &a, Seed: 9,
		Plugins: []*experiment.PluginBlock{{Kind: "tool", Label: "editor", Plugin: "coedit", Config: map[string]any{"max_turns": 4.0}}},
		Host:    h,
		Dir:     filepath.Join(t.TempDir(), "run"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The stage's outputs come back in its report, as the CLI copies them.
	if got, want := rep.Stages[0].Outputs["checkpoint"], filepath.Join(rep.Dir, "stages", "one"); got != want {
		t.Errorf("outputs %v, want checkpoint %s", rep.Stages[0].Outputs, want)
	}
	b, err := os.ReadFile(filepath.Join(rep.Dir, "stages", "one", "count"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "one: 2 lines, seed 9, after none"; string(b) != want {
		t.Errorf("wrote %q, want %q", b, want)
	}
	if got := h.last["editor"].config["max_turns"]; got != 4.0 {
		t.Errorf("tool configured with max_turns %v", got)
	}
	if n := h.liveCount(); n != 0 {
		t.Errorf("%d plugin instances left running", n)
	}
	if _, err := runner.RunStage(context.Background(), runner.StageOptions{Kinds: kinds, Kind: "cout", Host: h, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), `stage kind "cout" is not registered`) {
		t.Errorf("unknown kind: %v", err)
	}
}
