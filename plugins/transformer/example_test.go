package transformer_test

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/plugins/transformer"
	"github.com/lathe-ml/lathe/sdk"
)

// A model is configured from its HCL block (here a map), fits its
// tokenizer, trains on (context, target) pairs and generates.
func Example() {
	ctx := context.Background()
	m := transformer.New()
	m.SetLogger(hclog.NewNullLogger())
	cfg, _ := sdk.ConfigFrom(map[string]any{"layers": 1.0, "d_model": 32.0, "heads": 2.0, "context": 64.0, "vocab": 300.0, "lr": 1e-2})
	if err := m.Configure(ctx, cfg); err != nil {
		fmt.Println(err)
		return
	}
	pair := sdk.SupervisedExample{Context: "L 1 retrun x\n> ", Target: "REPW 1 >>>retrun >>>return\n"}
	if err := m.FitTokenizer(ctx, []string{pair.Context + pair.Target}); err != nil {
		fmt.Println(err)
		return
	}
	for step := range 60 {
		if _, err := m.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{pair}, Step: step, TotalSteps: 60}); err != nil {
			fmt.Println(err)
			return
		}
	}
	resp, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: []string{pair.Context}, Sampling: sdk.Sampling{MaxTokens: 20, Stop: []string{"\n"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := resp.Completions[0]
	fmt.Printf("%q %s\n", c.Text, c.StopReason)
	// Output: "REPW 1 >>>retrun >>>return\n" stop
}
