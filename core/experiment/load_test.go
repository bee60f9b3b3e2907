package experiment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/experiment"
)

const full = base + `
tool "direct" { plugin = "rewrite" }
eval "test" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  checkpoints = [stage.sft, stage.rl]
}
stage "rl" {
  kind    = "grpo"
  model   = model.policy
  tool    = tool.editor
  reward  = reward.solved
  dataset = dataset.basic
  init    = stage.sft
}
stage "sft" {
  kind  = "sft"
  model = model.policy
  data  = stage.demos
  steps = var.turns * 20
}
stage "other" {
  kind    = "synthesize"
  tool    = tool.direct
  dataset = dataset.basic
}
`

func TestLoadResolves(t *testing.T) {
	tests := []struct {
		name      string
		vars      []string
		wantOrder []string
		wantSteps int
		wantTurns float64
	}{
		{"defaults", nil, []string{"demos", "sft", "rl", "test", "other"}, 200, 10},
		{"-var override", []string{"turns=3"}, []string{"demos", "sft", "rl", "test", "other"}, 60, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _, diags := load(context.Background(), "full.hcl", []byte(full), tc.vars, testSchemas)
			if diags.HasErrors() {
				var buf bytes.Buffer
				_ = experiment.WriteDiagnostics(&buf, e.Files(), diags, 0)
				t.Fatalf("diagnostics:\n%s", buf.String())
			}
			if got := e.Order(); !reflect.DeepEqual(got, tc.wantOrder) {
				t.Errorf("order = %v, want %v", got, tc.wantOrder)
			}
			sft := e.Stage("sft")
			if got := sft.Attrs.Int("steps"); got != tc.wantSteps {
				t.Errorf("sft steps = %d, want %d", got, tc.wantSteps)
			}
			if got := sft.Attrs.Int("seed"); got != 7 {
				t.Errorf("sft seed = %d, want the experiment's 7", got)
			}
			if got := sft.Attrs.String("history"); got != "full" {
				t.Errorf("sft history = %q, want default full", got)
			}
			if got := e.Plugin("tool", "editor").Config["max_turns"]; got != tc.wantTurns {
				t.Errorf("editor max_turns = %v, want %v", got, tc.wantTurns)
			}
			if got := e.Plugin("reward", "solved").Config["format_penalty"]; got != -0.5 {
				t.Errorf("reward format_penalty = %v, want the schema default -0.5", got)
			}
			ev := e.Stages[3]
			if got := ev.Attrs.Int("samples"); got != 4 {
				t.Errorf("eval samples = %d, want max(k) = 4", got)
			}
			refs := ev.Attrs.Refs("checkpoints")
			if len(refs) != 2 || refs[0].String() != "stage.sft" || refs[1].String() != "stage.rl" {
				t.Errorf("eval checkpoints = %v", refs)
			}
			b, err := json.Marshal(e.Resolved())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"init":"stage.sft"`) {
				t.Errorf("resolved JSON lacks the init reference: %s", b)
			}
		})
	}
}

// TestInitFromPath: init may name another run's checkpoint by path; the
// stage then depends on no stage of this run.
func TestInitFromPath(t *testing.T) {
	src := base + `
variable "pre" { default = "runs/pretrain/x/stages/lm" }
stage "sft" {
  kind  = "sft"
  model = model.policy
  data  = stage.demos
  init  = var.pre
}
`
	e, _, diags := load(context.Background(), "init.hcl", []byte(src), nil, testSchemas)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = experiment.WriteDiagnostics(&buf, e.Files(), diags, 0)
		t.Fatalf("diagnostics:\n%s", buf.String())
	}
	sft := e.Stage("sft")
	ref, ok := sft.Attrs.Ref("init")
	if !ok || ref.Kind != experiment.PathRef || ref.Label != "runs/pretrain/x/stages/lm" {
		t.Fatalf("init = %+v, want the path", ref)
	}
	if !reflect.DeepEqual(sft.DependsOn, []string{"demos"}) {
		t.Errorf("sft depends on %v, want only demos", sft.DependsOn)
	}
	if got := sft.Attrs.JSON()["init"]; got != `"runs/pretrain/x/stages/lm"` {
		t.Errorf("resolved init = %v", got)
	}
	// A variable left null leaves init unset.
	unset := strings.Replace(src, `variable "pre" { default = "runs/pretrain/x/stages/lm" }`, "variable \"pre\" {\n  type    = string\n  default = null\n}", 1)
	e, _, diags = load(context.Background(), "init.hcl", []byte(unset), nil, testSchemas)
	if diags.HasErrors() {
		t.Fatalf("null init: %v", diags)
	}
	if _, ok := e.Stage("sft").Attrs.Ref("init"); ok {
		t.Error("a null init is set")
	}
}

// TestEvalCheckpointsFromPath: an eval's checkpoints may mix stages of
// this run with quoted paths of other runs' checkpoints; only the stages
// are dependencies.
func TestEvalCheckpointsFromPath(t *testing.T) {
	src := base + `
stage "sft" {
  kind  = "sft"
  model = model.policy
  data  = stage.demos
}
eval "test" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  checkpoints = ["runs/other/x/stages/sft", stage.sft]
}
`
	e, _, diags := load(context.Background(), "ck.hcl", []byte(src), nil, testSchemas)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var ev *experiment.Stage
	for _, s := range e.Stages {
		if s.Label == "test" {
			ev = s
		}
	}
	refs := ev.Attrs.Refs("checkpoints")
	if len(refs) != 2 || refs[0].Kind != experiment.PathRef || refs[0].Label != "runs/other/x/stages/sft" || refs[1].String() != "stage.sft" {
		t.Fatalf("checkpoints = %+v", refs)
	}
	if !reflect.DeepEqual(ev.DependsOn, []string{"sft"}) {
		t.Errorf("eval depends on %v, want only sft", ev.DependsOn)
	}
	bad := strings.Replace(src, `"runs/other/x/stages/sft"`, `""`, 1)
	if _, _, diags := load(context.Background(), "ck.hcl", []byte(bad), nil, testSchemas); !diags.HasErrors() || diags.Errs()[0].(*hcl.Diagnostic).Summary != "Empty path" {
		t.Errorf("an empty path: %v", diags)
	}
}

// TestShippedExperiments parses and resolves every file in experiments/;
// core/runner's test also decodes them against the built-in plugins' schemas.
func TestShippedExperiments(t *testing.T) {
	files, _ := filepath.Glob("../../experiments/*.hcl")
	if len(files) == 0 {
		t.Skip("no experiments/*.hcl found from the package directory")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			e, pf, diags := load(context.Background(), f, src, nil, nil)
			if diags.HasErrors() {
				var buf bytes.Buffer
				_ = experiment.WriteDiagnostics(&buf, pf.Files(), diags, 0)
				t.Fatalf("diagnostics:\n%s", buf.String())
			}
			if len(e.Stages) == 0 {
				t.Errorf("%s has no stages", f)
			}
		})
	}
}

func TestWriteDiagnosticsShowsSource(t *testing.T) {
	src := base + "stage \"x\" { kind = \"sf\" }\n"
	_, f, diags := load(context.Background(), "w.hcl", []byte(src), nil, testSchemas)
	var buf bytes.Buffer
	if err := experiment.WriteDiagnostics(&buf, f.Files(), diags, 0); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"w.hcl:18:20: error: Unknown stage kind\n",
		"   18 | stage \"x\" { kind = \"sf\" }\n",
		"      |                    ^^^^\n",
		`  Stage kind "sf" does not exist`,
		`Did you mean "sft"?`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// FuzzConfig feeds arbitrary text through all three phases: loading must
// never panic, and every error must carry a subject range.
func FuzzConfig(f *testing.F) {
	f.Add(full, "turns=3")
	f.Add(base, "")
	f.Add(`experiment "x" {}`+"\nstage \"a\" { kind = \"sft\" }", "x=1")
	f.Add("stage \"a\" {\n kind = \"eval\"\n}\neval \"b\" { k = [0] }", "turns")
	f.Fuzz(func(t *testing.T, src, v string) {
		var vars []string
		if v != "" {
			vars = []string{v}
		}
		e, _, diags := load(context.Background(), "fuzz.hcl", []byte(src), vars, testSchemas)
		for _, d := range diags.Errs() {
			if d, ok := d.(interface{ Error() string }); ok && d.Error() == "" {
				t.Fatalf("empty diagnostic")
			}
		}
		for _, d := range diags {
			if d.Subject == nil {
				t.Fatalf("diagnostic without subject: %s: %s", d.Summary, d.Detail)
			}
		}
		if !diags.HasErrors() && e != nil {
			if _, err := json.Marshal(e.Resolved()); err != nil {
				t.Fatalf("resolved JSON: %v", err)
			}
		}
	})
}
