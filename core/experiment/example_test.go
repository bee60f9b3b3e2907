package experiment_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/stages"
)

func ExampleLoad() {
	src := `
experiment "demo" { seed = 3 }
variable "steps" { default = 100 }
dataset "basic" { source = "builtin:basic" }
tool "editor" { plugin = "coedit" }
model "policy" { plugin = "transformer" }
stage "sft" {
  kind  = "sft"
  model = model.policy
  data  = stage.demos
  steps = var.steps
}
stage "demos" {
  kind    = "synthesize"
  tool    = tool.editor
  dataset = dataset.basic
}
`
	// The stage kinds are the built-in ones; a nil SchemaSource stops
	// after Resolve: plugin options stay unchecked.
	kinds := stages.Kinds().Schemas()
	exp, file, diags := experiment.Load(context.Background(), "demo.hcl", []byte(src), []string{"steps=20"}, kinds, nil)
	if diags.HasErrors() {
		experiment.WriteDiagnostics(os.Stdout, file.Files(), diags, 0)
		return
	}
	fmt.Println(strings.Join(exp.Order(), " -> "))
	// The sft kind's attribute struct is its schema and its decoded value.
	var sft stages.SFTAttrs
	if err := exp.Stage("sft").Attrs.Decode(&sft); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sft.Steps, sft.BatchSize, sft.History, sft.Data[0])
	// Output:
	// demos -> sft
	// 20 8 full stage.demos
}
