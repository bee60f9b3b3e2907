package train

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// foldModel's "weights" are a hash folded over every batch it trained on,
// so two runs end equal only if they saw the same batches in the same order.
type foldModel struct {
	state uint64
	steps int
}

func (m *foldModel) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (m *foldModel) Configure(context.Context, sdk.Config) error { return nil }
func (m *foldModel) Info(context.Context) (sdk.ModelInfo, error) { return sdk.ModelInfo{}, nil }
func (m *foldModel) Generate(context.Context, sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	return sdk.GenerateResponse{}, errors.New("not used")
}
func (m *foldModel) FitTokenizer(context.Context, []string) error { return nil }
func (m *foldModel) fold(s string) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s", m.state, s)
	m.state = h.Sum64()
}
func (m *foldModel) TrainSupervised(_ context.Context, b sdk.SupervisedBatch) (sdk.TrainStats, error) {
	for _, e := range b.Examples {
		m.fold(e.Context + e.Target)
	}
	m.steps++
	return sdk.TrainStats{Loss: float64(m.state%1000) / 1000, Tokens: len(b.Examples)}, nil
}
func (m *foldModel) TrainPolicy(context.Context, sdk.PolicyBatch) (sdk.TrainStats, error) {
	return sdk.TrainStats{}, errors.New("not used")
}
func (m *foldModel) Logprobs(context.Context, sdk.LogprobsRequest) (sdk.LogprobsResponse, error) {
	return sdk.LogprobsResponse{}, errors.New("not used")
}
func (m *foldModel) Save(_ context.Context, dir string) error {
	return os.WriteFile(filepath.Join(dir, "w"), []byte(fmt.Sprint(m.state)), 0o644)
}
func (m *foldModel) Load(_ context.Context, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "w"))
	if err != nil {
		return err
	}
	_, err = fmt.Sscan(string(b), &m.state)
	return err
}

func examples(n int) []sdk.SupervisedExample {
	var out []sdk.SupervisedExample
	for i := 0; i < n; i++ {
		out = append(out, sdk.SupervisedExample{Context: fmt.Sprint("c", i), Target: fmt.Sprint("t", i)})
	}
	return out
}

func TestSFTResumeMatchesUninterruptedRun(t *testing.T) {
	ex := examples(13)
	cfg := func(dir string) SFTConfig {
		return SFTConfig{BatchSize: 4, Common: Common{Stage: "sft", Steps: 9, CheckpointEvery: 2, Seed: 5, CheckpointDir: dir}}
	}

	whole := &foldModel{}
	wantDir, err := SFT(context.Background(), whole, ex, cfg(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}

	// Interrupt after step 5: the last checkpoint is step 4, so step 5 is
	// redone after the resume.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	c := cfg(dir)
	c.Metrics = func(step int, _ map[string]float64) error {
		if step == 5 {
			cancel()
		}
		return nil
	}
	if _, err := SFT(ctx, &foldModel{}, ex, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	if p, cur, ok, _ := LatestCheckpoint(dir); !ok || cur.Step != 4 {
		t.Fatalf("latest checkpoint %s step %d ok=%v, want step 4", p, cur.Step, ok)
	}
	resumed := &foldModel{}
	gotDir, err := SFT(context.Background(), resumed, ex, cfg(dir))
	if err != nil {
		t.Fatal(err)
	}
	if resumed.state != whole.state {
		t.Errorf("resumed state %d, uninterrupted %d", resumed.state, whole.state)
	}
	if resumed.steps != 5 {
		t.Errorf("resumed run trained %d steps, want 5 (steps 5-9)", resumed.steps)
	}
	if filepath.Base(gotDir) != filepath.Base(wantDir) || filepath.Base(gotDir) != "step-000009" {
		t.Errorf("final checkpoints %s and %s, want step-000009", gotDir, wantDir)
	}
	// A finished run resumes to its final checkpoint without training.
	again := &foldModel{}
	if d, err := SFT(context.Background(), again, ex, cfg(dir)); err != nil || again.steps != 0 || d != gotDir {
		t.Errorf("rerun of a finished stage: dir=%s steps=%d err=%v", d, again.steps, err)
	}
}

func TestLatestCheckpointIgnoresIncompleteSaves(t *testing.T) {
	dir := t.TempDir()
	m := &foldModel{state: 42}
	if _, err := SaveCheckpoint(context.Background(), m, dir, Cursor{Stage: "s", Step: 3}); err != nil {
		t.Fatal(err)
	}
	// A save that died before its cursor was written.
	if err := os.MkdirAll(filepath.Join(dir, "step-000007"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, c, ok, err := LatestCheckpoint(dir)
	if err != nil || !ok || c.Step != 3 || filepath.Base(p) != "step-000003" {
		t.Errorf("LatestCheckpoint = %s %+v %v %v, want step-000003", p, c, ok, err)
	}
	if _, _, ok, err := LatestCheckpoint(filepath.Join(dir, "missing")); ok || err != nil {
		t.Errorf("missing dir: ok=%v err=%v", ok, err)
	}
}

func TestResolveCheckpoint(t *testing.T) {
	stage := t.TempDir() // a stage directory of another run: stages/<label>
	ckDir := filepath.Join(stage, "checkpoints")
	m := &foldModel{state: 1}
	for _, step := range []int{5, 10} {
		if _, err := SaveCheckpoint(context.Background(), m, ckDir, Cursor{Stage: "lm", Step: step}); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(stage, "notes.txt")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		wantStep   int
		err        string
	}{
		{"a checkpoint", filepath.Join(ckDir, "step-000005"), 5, ""},
		{"a directory of checkpoints", ckDir, 10, ""},
		{"a stage directory", stage, 10, ""},
		{"missing", filepath.Join(stage, "nope"), 0, "no such file"},
		{"a file", file, 0, "not a directory"},
		{"no checkpoint", t.TempDir(), 0, "holds no complete Lathe checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, err := ResolveCheckpoint(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || c.Step != tt.wantStep {
				t.Fatalf("step %d, err %v; want step %d", c.Step, err, tt.wantStep)
			}
		})
	}
}
