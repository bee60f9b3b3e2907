package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/stages"
	"github.com/lathe-ml/lathe/plugins/builtin"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// inProcessHost serves the built-in plugins without processes, so the test
// sees their real schemas and capabilities quickly.
type inProcessHost struct{}

type inProcessInstance struct {
	kind   sdk.Kind
	plugin sdk.Plugin
}

func (inProcessHost) new(kind sdk.Kind, name string) (sdk.Plugin, error) {
	e, ok := builtin.Lookup(name)
	if !ok || e.Kind != kind {
		return nil, fmt.Errorf("no built-in %s plugin %q", kind, name)
	}
	switch kind {
	case sdk.KindTool:
		return e.NewTool(), nil
	case sdk.KindReward:
		return e.NewReward(), nil
	}
	return e.NewModel(), nil
}

func (h inProcessHost) Schema(ctx context.Context, kind sdk.Kind, name string) (sdk.Schema, error) {
	p, err := h.new(kind, name)
	if err != nil {
		return sdk.Schema{}, err
	}
	return p.Schema(ctx)
}

func (h inProcessHost) Start(_ context.Context, kind sdk.Kind, _, name string) (runner.Instance, error) {
	p, err := h.new(kind, name)
	if err != nil {
		return nil, err
	}
	return &inProcessInstance{kind, p}, nil
}

func (inProcessHost) Close() {}

func (i *inProcessInstance) Tool() sdk.Tool     { t, _ := i.plugin.(sdk.Tool); return t }
func (i *inProcessInstance) Reward() sdk.Reward { r, _ := i.plugin.(sdk.Reward); return r }
func (i *inProcessInstance) Model() sdk.Model   { m, _ := i.plugin.(sdk.Model); return m }
func (i *inProcessInstance) Kill()              {}
func (i *inProcessInstance) ConfigValidator() (sdk.ConfigValidator, bool) {
	v, ok := i.plugin.(sdk.ConfigValidator)
	return v, ok
}

func (i *inProcessInstance) Capabilities() []string {
	var caps []string
	if _, ok := i.plugin.(sdk.ToolWithDemonstrate); ok {
		caps = append(caps, pluginclient.CapToolWithDemonstrate)
	}
	if _, ok := i.plugin.(sdk.ToolWithBatch); ok {
		caps = append(caps, pluginclient.CapToolWithBatch)
	}
	if _, ok := i.plugin.(sdk.ModelWithTraining); ok {
		caps = append(caps, pluginclient.CapModelWithTraining)
	}
	if _, ok := i.plugin.(sdk.ModelWithCheckpoints); ok {
		caps = append(caps, pluginclient.CapModelWithCheckpoints)
	}
	return caps
}

// TestShippedExperimentsValidate is `lathe validate` over every file in
// experiments/, against the built-in plugins' real schemas and capabilities.
func TestShippedExperimentsValidate(t *testing.T) {
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
			exp, file, diags := runner.Load(context.Background(), f, src, nil, stages.Kinds(), inProcessHost{})
			if diags.HasErrors() {
				var buf bytes.Buffer
				_ = experiment.WriteDiagnostics(&buf, file.Files(), diags, 0)
				t.Fatalf("diagnostics:\n%s", buf.String())
			}
			if !exp.Planned || len(exp.Stages) == 0 {
				t.Errorf("planned=%v with %d stages", exp.Planned, len(exp.Stages))
			}
		})
	}
}
