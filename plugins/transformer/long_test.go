package transformer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/sdk"
)

// TestSFTMBPPLong trains the default configuration on MBPP (problem text ->
// code) for LATHE_SFT_STEPS steps (default 100) of 8 examples and requires
// the loss to fall by a third. Slow: run with
//
//	LATHE_LONG=1 go test -tags openblas -run SFTMBPPLong -v ./plugins/transformer/
func TestSFTMBPPLong(t *testing.T) {
	if os.Getenv("LATHE_LONG") == "" {
		t.Skip("set LATHE_LONG=1 to run")
	}
	path := filepath.Join("..", "..", "..", "shared", "datasets", "mbpp", "mbpp.jsonl")
	if d := os.Getenv("LATHE_DATASETS"); d != "" {
		path = filepath.Join(d, "mbpp", "mbpp.jsonl")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("MBPP not found at %s (set LATHE_DATASETS): %v", path, err)
	}
	defer f.Close()
	var ex []sdk.SupervisedExample
	var corpus []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Text, Code string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ex = append(ex, sdk.SupervisedExample{Context: "# " + rec.Text + "\n", Target: rec.Code + "\n"})
		corpus = append(corpus, ex[len(ex)-1].Context+ex[len(ex)-1].Target)
	}
	steps := 100
	if s := os.Getenv("LATHE_SFT_STEPS"); s != "" {
		if _, err := fmt.Sscan(s, &steps); err != nil {
			t.Fatal(err)
		}
	}
	m := New()
	cfg, _ := sdk.ConfigFrom(map[string]any{})
	ctx := context.Background()
	if err := m.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.FitTokenizer(ctx, corpus); err != nil {
		t.Fatal(err)
	}
	t.Logf("tokenizer: %v", time.Since(start))
	start = time.Now()
	var first, last float64
	for s := range steps {
		batch := sdk.SupervisedBatch{Step: s, TotalSteps: steps}
		for j := range 8 {
			batch.Examples = append(batch.Examples, ex[(s*8+j)%len(ex)])
		}
		st, err := m.TrainSupervised(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if s < 5 {
			first += st.Loss / 5
		}
		if s >= steps-10 {
			last += st.Loss / 10
		}
		if s%20 == 0 || s == steps-1 {
			t.Logf("step %d loss %.3f tokens %d lr %.2g (%.2f s/step)", s, st.Loss, st.Tokens, st.Metrics["lr"], time.Since(start).Seconds()/float64(s+1))
		}
	}
	t.Logf("%d steps in %v, loss %.3f -> %.3f, backend %s", steps, time.Since(start), first, last, Backend())
	if last > first*2/3 {
		t.Fatalf("loss fell only from %.3f to %.3f", first, last)
	}
}
