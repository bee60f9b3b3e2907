package transformer

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestLogitsMatchIndependentImplementation holds the network's forward pass
// (model.forward, which Logprobs, the training losses and Generate's
// prefill all go through) to testdata/reference_forward.py, a float64
// implementation written from the architecture in plain Python that reads
// the checkpoint Save writes. The gradient checks compare backward with
// forward, so they cannot see a mistake the two share (a wrong attention
// scale, a misplaced head, a position off by one, a wrong GELU); only a
// second implementation can. Every parameter is perturbed far from its
// initial value (gains away from 1, biases away from 0, attention far
// from uniform), so a parameter read from the wrong place or not at all
// changes the output.
func TestLogitsMatchIndependentImplementation(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH: the reference implementation cannot run")
	}
	for _, tc := range []struct {
		name                           string
		layers, dModel, context, vocab int
		position                       string
		copyHead                       bool
		T                              int // tokens per sequence; two sequences per case
	}{
		// vocab 256 is exactly the bytes-only tokenizer; 300 leaves ids
		// 256..299 dead (-inf), so masking is checked too.
		{"learned/1layer", 1, 16, 16, 256, "learned", false, 12},
		{"rope/2layers", 2, 32, 16, 300, "rope", false, 12},
		{"rope/copy/2layers", 2, 32, 16, 300, "rope", true, 12},
		{"learned/copy/1layer", 1, 16, 16, 256, "learned", true, 12},
		// 70 tokens cross the 64-row block of the fused attention kernel.
		{"rope/copy/70tokens", 1, 16, 80, 260, "rope", true, 70},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyModel(t, map[string]any{
				"layers": float64(tc.layers), "d_model": float64(tc.dModel), "heads": 2.0,
				"context": float64(tc.context), "vocab": float64(tc.vocab),
				"position": tc.position, "copy": tc.copyHead, "seed": 3.0,
			})
			rng := rand.New(rand.NewPCG(11, 12))
			for i := range m.net.p.data {
				m.net.p.data[i] += float32(rng.NormFloat64() * 0.3)
			}
			dir := filepath.Join(t.TempDir(), "ckpt")
			if err := m.Save(context.Background(), dir); err != nil {
				t.Fatal(err)
			}

			// Two sequences in one batch, so the batch offsets are checked as
			// well; tokens drawn from a small alphabet repeat, which gives the
			// copy head repeated successors to sum over.
			const B = 2
			seqs := make([][]int32, B)
			tokens := make([]int32, 0, B*tc.T)
			for b := range seqs {
				for range tc.T {
					seqs[b] = append(seqs[b], int32(97+rng.IntN(8)))
				}
				tokens = append(tokens, seqs[b]...)
			}
			rows := make([]int32, B*tc.T)
			for i := range rows {
				rows[i] = int32(i)
			}
			if err := m.net.forward(tokens, B, tc.T, rows, nil); err != nil {
				t.Fatal(err)
			}
			got := m.net.a.logits

			ref := runReference(t, python, dir, seqs)
			V := tc.vocab
			if len(ref) != B {
				t.Fatalf("reference returned %d sequences, want %d", len(ref), B)
			}
			scale, maxDiff := 1.0, 0.0
			for b := range ref {
				if len(ref[b]) != tc.T {
					t.Fatalf("sequence %d: reference returned %d rows, want %d", b, len(ref[b]), tc.T)
				}
				for pos, row := range ref[b] {
					if len(row) != V {
						t.Fatalf("sequence %d position %d: reference returned %d values, want %d", b, pos, len(row), V)
					}
					for _, v := range row {
						if v != nil {
							scale = max(scale, math.Abs(*v))
						}
					}
				}
			}
			// float32 against float64 with fast exponentials differs by
			// about 5e-7 of the output's scale here; 2e-5 leaves 40x margin
			// and still fails on the erf form of GELU instead of the tanh
			// form (1.5e-4 of the scale).
			tol := 2e-5 * scale
			for b := range ref {
				for pos, row := range ref[b] {
					goRow := got[(b*tc.T+pos)*V : (b*tc.T+pos+1)*V]
					for w, v := range row {
						g := float64(goRow[w])
						if v == nil { // -inf: an id the tokenizer lacks
							if !math.IsInf(g, -1) {
								t.Fatalf("sequence %d position %d id %d: Go %g, reference -inf", b, pos, w, g)
							}
							continue
						}
						d := math.Abs(g - *v)
						if math.IsNaN(d) || d > tol {
							t.Fatalf("sequence %d position %d id %d: Go %.6f, reference %.6f (diff %.3g > %.3g)", b, pos, w, g, *v, d, tol)
						}
						maxDiff = max(maxDiff, d)
					}
				}
			}
			t.Logf("max |Go - reference| %.3g over %d outputs of scale %.3g (tolerance %.3g)", maxDiff, B*tc.T*V, scale, tol)
		})
	}
}

// runReference runs testdata/reference_forward.py on the checkpoint in dir
// and returns its output per sequence, position and id; nil stands for -inf.
func runReference(t *testing.T, python, dir string, seqs [][]int32) [][][]*float64 {
	t.Helper()
	in, err := json.Marshal(seqs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "reference_forward.py"), dir)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference_forward.py: %v\n%s", err, stderr.Bytes())
	}
	var ref [][][]*float64
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("reference_forward.py output: %v", err)
	}
	return ref
}
