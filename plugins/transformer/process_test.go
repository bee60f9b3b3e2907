package transformer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/core/pluginhost"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
	"github.com/lathe-ml/lathe/sdk/serve"
)

// The test binary doubles as the lathe binary: the plugin host re-executes
// it as `<test binary> plugin serve transformer`, so the model below runs as
// a real go-plugin process over gRPC.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		if os.Args[3] != "transformer" {
			fmt.Fprintf(os.Stderr, "unknown built-in plugin %q\n", os.Args[3])
			os.Exit(1)
		}
		serve.Model(New())
		return
	}
	os.Exit(m.Run())
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestPluginProcess(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := pluginhost.New(pluginhost.Options{Executable: exe, Logger: hclog.New(&hclog.LoggerOptions{Output: logWriter{t}})})
	t.Cleanup(h.Close)
	ctx := context.Background()
	inst, err := h.Start(ctx, sdk.KindModel, "policy", "transformer")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{pluginclient.CapModelWithTraining, pluginclient.CapModelWithCheckpoints} {
		if !inst.Has(c) {
			t.Fatalf("capabilities %v lack %s", inst.Capabilities(), c)
		}
	}
	model := inst.Model()
	schema, err := model.Schema(ctx)
	if err != nil || len(schema.Attributes) == 0 {
		t.Fatalf("schema %v, %v", schema, err)
	}
	cfg, _ := sdk.ConfigFrom(map[string]any{"layers": 1.0, "d_model": 32.0, "heads": 2.0, "context": 64.0, "vocab": 280.0, "lr": 1e-2})
	if err := model.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	tr := model.(sdk.ModelWithTraining)
	if err := tr.FitTokenizer(ctx, []string{"REPL 2 >>>    return x\n", "EXIT\n"}); err != nil {
		t.Fatal(err)
	}
	ex := []sdk.SupervisedExample{{Context: "fix> ", Target: "EXIT\n"}}
	var first, last float64
	for s := range 30 {
		st, err := tr.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: ex, Step: s, TotalSteps: 30})
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = st.Loss
		}
		last = st.Loss
	}
	if last >= first/4 {
		t.Fatalf("loss fell only from %.3f to %.3f over the wire", first, last)
	}
	resp, err := model.Generate(ctx, sdk.GenerateRequest{Contexts: []string{"fix> "}, Sampling: sdk.Sampling{MaxTokens: 10, Stop: []string{"\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Completions[0]; c.Text != "EXIT\n" || len(c.Tokens) != len(c.Logprobs) {
		t.Fatalf("completion %+v", c)
	}
	info, err := model.Info(ctx)
	if err != nil || info.Backend != Backend() || info.Parameters == 0 {
		t.Fatalf("info %+v, %v", info, err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	ck := model.(sdk.ModelWithCheckpoints)
	if err := ck.Save(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := ck.Load(ctx, dir); err != nil {
		t.Fatal(err)
	}
}
