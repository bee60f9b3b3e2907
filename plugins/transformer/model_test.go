package transformer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/sdk"
)

// tinyModel returns a configured plugin instance small enough for tests.
func tinyModel(t *testing.T, opts map[string]any) *Model {
	t.Helper()
	base := map[string]any{"layers": 2.0, "d_model": 32.0, "heads": 4.0, "context": 64.0, "vocab": 300.0, "lr": 1e-2, "warmup": 5.0}
	for k, v := range opts {
		base[k] = v
	}
	cfg, err := sdk.ConfigFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	if err := m.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestModelGradient compares the whole network's backward pass with central
// finite differences (float64 loss sum, eps 1e-2) on sampled parameters of
// every tensor; tolerance 3e-2 relative (float32 activations).
func TestModelGradient(t *testing.T) {
	for _, a := range []arch{
		{Layers: 2, DModel: 16, Heads: 2, Context: 70, Vocab: 50},
		{Layers: 2, DModel: 16, Heads: 2, Context: 70, Vocab: 50, Rope: true},
		{Layers: 2, DModel: 16, Heads: 2, Context: 70, Vocab: 50, Rope: true, Copy: true},
	} {
		t.Run(fmt.Sprintf("rope=%v,copy=%v", a.Rope, a.Copy), func(t *testing.T) { checkGradient(t, a) })
	}
}

func checkGradient(t *testing.T, a arch) {
	rope := a.Rope
	m := newModel(a, gonum.Implementation{})
	rng := rand.New(rand.NewPCG(7, 8))
	initParams(a, m.p, rng)
	for i := range m.p.data { // larger weights so gradients are not tiny
		m.p.data[i] += float32(rng.NormFloat64() * 0.2)
	}
	B, T := 2, 70 // T crosses the 64-row attention block
	tokens := make([]int32, B*T)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(a.Vocab))
	}
	// Row 70 is the first position of the second sequence (nothing to
	// copy); rows 60 and 139 predict tokens their sequences hold, so the
	// copy head's gradient is not only that of the mass it takes away.
	rows := []int32{3, 60, 69, 70, 75, 139}
	targets := []int32{1, tokens[20], 3, 4, 5, tokens[100]}
	loss := func() float64 {
		if err := m.forward(tokens, B, T, rows, nil); err != nil {
			t.Fatal(err)
		}
		lp, ent := make([]float32, len(rows)), make([]float32, len(rows))
		softmaxXent(m.a.logits, targets, lp, ent, len(rows), a.Vocab)
		var s float64
		for _, v := range lp {
			s -= float64(v)
		}
		return s
	}
	loss()
	g := make([]float32, len(rows))
	for i := range g {
		g[i] = -1
	}
	xentBackward(m.a.logits, targets, g, len(rows), a.Vocab)
	clear(m.g.data)
	m.backward()
	grad := slices.Clone(m.g.data)
	for _, sp := range a.specs() {
		if rope && sp.Name == "wpe" {
			continue // unused with rotary positions
		}
		t.Run(sp.Name, func(t *testing.T) {
			for k := range 4 {
				i := sp.off + rng.IntN(sp.size())
				if k == 0 && (sp.Name == "wte" || sp.Name == "wpe") {
					// pick an element that certainly has a gradient
					i = sp.off + int(tokens[0])*a.DModel*boolInt(sp.Name == "wte") + 1
				}
				const eps = 1e-2
				old := m.p.data[i]
				m.p.data[i] = old + eps
				up := loss()
				m.p.data[i] = old - eps
				down := loss()
				m.p.data[i] = old
				num := (up - down) / (2 * eps)
				if d := math.Abs(float64(grad[i]) - num); d > 3e-2*math.Max(1, math.Abs(num)) {
					t.Fatalf("element %d: backward %.5f, finite difference %.5f", i-sp.off, grad[i], num)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOverfit trains on four short pairs until the mean target loss is
// near zero: the whole training path (masking, AdamW, schedule) must work.
func TestOverfit(t *testing.T) {
	for _, copyHead := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%v", copyHead), func(t *testing.T) { checkOverfit(t, copyHead) })
	}
}

func checkOverfit(t *testing.T, copyHead bool) {
	m := tinyModel(t, map[string]any{"lr": 1e-2, "warmup": 10.0, "copy": copyHead})
	ctx := context.Background()
	ex := []sdk.SupervisedExample{
		{Context: "L 1 def f(x):\nL 2     retrun x\n***\nSyntaxError\n> ", Target: "REPL 2 >>>    return x\n"},
		{Context: "L 1 def g(a, b):\nL 2     return a - b\n***\nassert g(1, 2) == 3\n> ", Target: "REPW 2 >>>- >>>+\n"},
		{Context: "L 1 x = 1\n***\nAll 3 tests passed.\n> ", Target: "EXIT\n"},
		{Context: "L 1 def h():\nL 2     pass\nL 3 pass\n***\nIndentationError\n> ", Target: "DELL 3\n"},
	}
	var corpus []string
	for _, e := range ex {
		corpus = append(corpus, e.Context+e.Target)
	}
	if err := m.FitTokenizer(ctx, corpus); err != nil {
		t.Fatal(err)
	}
	var st sdk.TrainStats
	var err error
	for step := range 150 {
		st, err = m.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: ex, Step: step, TotalSteps: 150})
		if err != nil {
			t.Fatal(err)
		}
	}
	if st.Loss > 0.05 {
		t.Fatalf("loss after 150 steps = %.4f, want < 0.05", st.Loss)
	}
	// Greedy decoding now reproduces the targets.
	resp, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: []string{ex[0].Context, ex[2].Context}, Sampling: sdk.Sampling{MaxTokens: 30, Stop: []string{"\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{ex[0].Target, ex[2].Target} {
		if c := resp.Completions[i]; c.Text != want || c.StopReason != "stop" {
			t.Errorf("completion %d = %q (%s), want %q", i, c.Text, c.StopReason, want)
		}
	}
}

// TestKVCacheMatchesFullForward: cached greedy decoding must pick the same
// tokens as recomputing the whole sequence, and its logprobs must match
// Logprobs on the same completion.
func TestKVCacheMatchesFullForward(t *testing.T) {
	for _, opts := range []map[string]any{nil, {"copy": true}} {
		t.Run(fmt.Sprint(opts), func(t *testing.T) { checkKVCache(t, opts) })
	}
}

func checkKVCache(t *testing.T, opts map[string]any) {
	m := tinyModel(t, opts)
	ctx := context.Background()
	prompts := []string{"def f(x):\n    return", "x", "a longer prompt, ragged batch"}
	resp, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: prompts, Sampling: sdk.Sampling{MaxTokens: 20}})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		c := resp.Completions[i]
		want, err := m.net.generateUncached(m.tok.Encode(p), 20)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Tokens, want) || c.StopReason != "length" {
			t.Fatalf("prompt %d: cached %v (%s), uncached %v", i, c.Tokens, c.StopReason, want)
		}
		lp, err := m.Logprobs(ctx, sdk.LogprobsRequest{Examples: []sdk.PolicyExample{{Context: p, Tokens: c.Tokens}}})
		if err != nil {
			t.Fatal(err)
		}
		for j := range c.Logprobs {
			if math.Abs(c.Logprobs[j]-lp.Logprobs[0][j]) > 1e-3 {
				t.Fatalf("prompt %d token %d: generate logprob %.5f, Logprobs %.5f", i, j, c.Logprobs[j], lp.Logprobs[0][j])
			}
		}
	}
}

func TestSamplingDeterministic(t *testing.T) {
	m := tinyModel(t, nil)
	ctx := context.Background()
	req := sdk.GenerateRequest{Contexts: []string{"hello", "world"}, Sampling: sdk.Sampling{Temperature: 1, TopP: 0.9, MaxTokens: 25, Seed: 42}}
	a, err := m.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	req.Sampling.Seed = 43
	c, err := m.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Completions {
		if a.Completions[i].Text != b.Completions[i].Text {
			t.Fatalf("same seed, different text: %q vs %q", a.Completions[i].Text, b.Completions[i].Text)
		}
	}
	if a.Completions[0].Text == c.Completions[0].Text && a.Completions[1].Text == c.Completions[1].Text {
		t.Fatalf("seeds 42 and 43 gave identical samples %q", a.Completions[0].Text)
	}
}

func TestContextStop(t *testing.T) {
	m := tinyModel(t, nil) // context 64
	resp, err := m.Generate(context.Background(), sdk.GenerateRequest{Contexts: []string{strings.Repeat("ab", 40)}, Sampling: sdk.Sampling{MaxTokens: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	c := resp.Completions[0]
	if c.StopReason != "context" || len(c.Tokens) == 0 {
		t.Fatalf("stop reason %q after %d tokens, want context", c.StopReason, len(c.Tokens))
	}
}

// TestSaveLoad: a trained model saved and loaded into a fresh instance
// gives bit-identical logprobs and continues training identically.
func TestSaveLoad(t *testing.T) {
	for _, copyHead := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%v", copyHead), func(t *testing.T) { checkSaveLoad(t, copyHead) })
	}
}

func checkSaveLoad(t *testing.T, copyHead bool) {
	ctx := context.Background()
	m := tinyModel(t, map[string]any{"dropout": 0.1, "copy": copyHead})
	if err := m.FitTokenizer(ctx, []string{"def f(x): return x + 1\n", "def g(y): return y * 2\n"}); err != nil {
		t.Fatal(err)
	}
	batch := sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{{Context: "def f(x):", Target: " return x + 1\n"}}, TotalSteps: 10}
	for s := range 3 {
		batch.Step = s
		if _, err := m.TrainSupervised(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(ctx, dir); err != nil {
		t.Fatal(err)
	}
	m2 := New()
	if err := m2.Load(ctx, dir); err != nil {
		t.Fatal(err)
	}
	req := sdk.LogprobsRequest{Examples: []sdk.PolicyExample{{Context: "def g(y):", Completion: " return y * 2\n"}}}
	a, err := m.Logprobs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m2.Logprobs(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Logprobs[0], b.Logprobs[0]) {
		t.Fatalf("logprobs differ after load:\n%v\n%v", a.Logprobs[0], b.Logprobs[0])
	}
	// Resuming continues the same curve (dropout RNG and AdamW state saved).
	batch.Step = 3
	s1, err := m.TrainSupervised(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := m2.TrainSupervised(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Loss != s2.Loss || !slices.Equal(m.net.p.data, m2.net.p.data) {
		t.Fatalf("resumed step differs: loss %v vs %v", s1.Loss, s2.Loss)
	}
}

// TestPolicyGradientDirection: a positive advantage raises the completion's
// log-prob, a negative one lowers it; metrics are reported.
func TestPolicyGradientDirection(t *testing.T) {
	ctx := context.Background()
	for _, adv := range []float64{1, -1} {
		m := tinyModel(t, map[string]any{"lr": 3e-3, "warmup": 0.0})
		ex := sdk.PolicyExample{Context: "fix: ", Completion: "EXIT\n", Advantage: adv}
		before, err := m.Logprobs(ctx, sdk.LogprobsRequest{Examples: []sdk.PolicyExample{ex}})
		if err != nil {
			t.Fatal(err)
		}
		ex.OldLogprobs, ex.RefLogprobs = before.Logprobs[0], before.Logprobs[0]
		var st sdk.TrainStats
		for s := range 3 {
			st, err = m.TrainPolicy(ctx, sdk.PolicyBatch{Examples: []sdk.PolicyExample{ex}, ClipEps: 0.2, KLCoef: 0.01, Step: s})
			if err != nil {
				t.Fatal(err)
			}
		}
		after, err := m.Logprobs(ctx, sdk.LogprobsRequest{Examples: []sdk.PolicyExample{ex}})
		if err != nil {
			t.Fatal(err)
		}
		var d float64
		for j := range after.Logprobs[0] {
			d += after.Logprobs[0][j] - before.Logprobs[0][j]
		}
		if d*adv <= 0 {
			t.Fatalf("advantage %v changed the log-prob by %v", adv, d)
		}
		for _, k := range []string{"loss", "kl", "clip_frac", "entropy"} {
			if _, ok := st.Metrics[k]; !ok {
				t.Fatalf("metric %q missing from %v", k, st.Metrics)
			}
		}
		if st.Metrics["kl"] <= 0 {
			t.Fatalf("kl = %v after moving away from the reference", st.Metrics["kl"])
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]any
		attr string // the attribute ValidateConfig blames; "" for a decoding error
		want string
	}{
		{"cuda", map[string]any{"device": "cuda"}, "device", `use device = "cpu"`},
		{"heads", map[string]any{"d_model": 30.0, "heads": 4.0}, "heads", "must divide d_model (30), got 4"},
		{"whole", map[string]any{"layers": 2.5}, "", "whole number"},
		{"unknown", map[string]any{"layer": 2.0}, "", `unknown option "layer"`},
		{"vocab", map[string]any{"vocab": 100.0}, "vocab", "at least 256"},
		{"position", map[string]any{"position": "absolute"}, "position", `position must be "rope" or "learned"`},
		{"odd head size", map[string]any{"d_model": 36.0, "heads": 4.0}, "position", "even head size"},
		{"position type", map[string]any{"position": 1.0}, "", "position must be a string"},
		{"reserve", map[string]any{"context": 64.0, "reserve": 64.0}, "reserve", "must be in [0, context = 64), got 64"},
		{"lr", map[string]any{"lr": 0.0}, "lr", "must be positive, got 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := sdk.ConfigFrom(tc.opts)
			err := New().Configure(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
			errs, err := New().ValidateConfig(context.Background(), cfg)
			if err != nil || len(errs) != 1 || errs[0].Attribute != tc.attr || !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("ValidateConfig = %+v, %v; want one error on %q mentioning %q", errs, err, tc.attr, tc.want)
			}
		})
	}
	if errs, err := New().ValidateConfig(context.Background(), nil); err != nil || len(errs) != 0 {
		t.Fatalf("defaults: ValidateConfig = %v, %v", errs, err)
	}
}

// TestDuplicatePrompts: prompts prefilled once and copied must decode
// exactly as when each is generated alone.
func TestDuplicatePrompts(t *testing.T) {
	m := tinyModel(t, nil)
	ctx := context.Background()
	prompts := []string{"def f(x):", "other prompt", "def f(x):", "def f(x):"}
	S := sdk.Sampling{Temperature: 0.8, MaxTokens: 15, Seed: 3}
	all, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: prompts, Sampling: S})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		// Context i samples with generator (Seed, i); reproduce it alone by
		// padding the request with distinct prompts before it.
		ctxs := make([]string, i+1)
		for j := range i {
			ctxs[j] = fmt.Sprintf("pad %d", j)
		}
		ctxs[i] = p
		one, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: ctxs, Sampling: S})
		if err != nil {
			t.Fatal(err)
		}
		got, want := all.Completions[i], one.Completions[i]
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Fatalf("prompt %d: batched %v, alone %v", i, got.Tokens, want.Tokens)
		}
		// OpenBLAS rounds differently for different batch sizes, so the
		// log-probs agree to float32 noise rather than bit for bit.
		for j := range got.Logprobs {
			if math.Abs(got.Logprobs[j]-want.Logprobs[j]) > 1e-4 {
				t.Fatalf("prompt %d token %d: batched logprob %v, alone %v", i, j, got.Logprobs[j], want.Logprobs[j])
			}
		}
	}
}

// TestLongContextScoredAsSampled: a prompt longer than the window is cut the
// same way by Generate and by Logprobs/TrainPolicy, so the log-probs a
// completion was sampled with are the ones training sees (the PPO ratio
// starts at 1).
func TestLongContextScoredAsSampled(t *testing.T) {
	m := tinyModel(t, nil) // context 64, reserve 16
	ctx := context.Background()
	prompt := strings.Repeat("x = y + 1\n", 20) // 200 byte tokens
	resp, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: []string{prompt}, Sampling: sdk.Sampling{Temperature: 1, MaxTokens: 30, Seed: 5}})
	if err != nil {
		t.Fatal(err)
	}
	// The last 48 (context - reserve) of the 200 tokens start mid-line; the
	// cut moves on to the next line, keeping 40, so 24 tokens fill the window.
	c := resp.Completions[0]
	if c.StopReason != "context" || len(c.Tokens) != 24 {
		t.Fatalf("stop %q after %d tokens, want context after 24", c.StopReason, len(c.Tokens))
	}
	lp, err := m.Logprobs(ctx, sdk.LogprobsRequest{Examples: []sdk.PolicyExample{{Context: prompt, Tokens: c.Tokens}}})
	if err != nil {
		t.Fatal(err)
	}
	for j := range c.Logprobs {
		if math.Abs(c.Logprobs[j]-lp.Logprobs[0][j]) > 1e-4 {
			t.Fatalf("token %d: sampled with logprob %.5f, scored %.5f", j, c.Logprobs[j], lp.Logprobs[0][j])
		}
	}
	st, err := m.TrainPolicy(ctx, sdk.PolicyBatch{Examples: []sdk.PolicyExample{{Context: prompt, Tokens: c.Tokens, Advantage: 1, OldLogprobs: c.Logprobs}}, ClipEps: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if st.Metrics["clip_frac"] != 0 || st.Metrics["truncated"] != 1 {
		t.Fatalf("metrics %v, want clip_frac 0 and one truncation", st.Metrics)
	}
}

func TestTailStartsAtALine(t *testing.T) {
	m := tinyModel(t, nil)
	tests := []struct {
		name, text string
		n          int
		want       string
	}{
		{"fits", "L 1 x = 1\n$ EXIT\n", 100, "L 1 x = 1\n$ EXIT\n"},
		{"cut mid-line moves to the next line", "L 1 x = 1\n$ REPL 1 >>>x = 2\nL 1 x = 2\n", 14, "L 1 x = 2\n"},
		{"cut right after a newline keeps the line", "ab\ncd\nef\n", 6, "cd\nef\n"},
		{"no newline within reach keeps the plain cut", strings.Repeat("x", 100) + "\n", 90, strings.Repeat("x", 89) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.tok.Decode(m.tail(m.tok.Encode(tt.text), tt.n))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("tail(%q, %d) = %q, want %q", tt.text, tt.n, got, tt.want)
			}
		})
	}
}

// TestLoadCheckpointWithoutPosition: a checkpoint saved before the position
// option existed has learned positions, and loads with them.
func TestLoadCheckpointWithoutPosition(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, map[string]any{"position": "learned"})
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(ctx, dir); err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, "manifest.json")
	b, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), `"position": "learned",`, "", 1)
	if old == string(b) {
		t.Fatalf("manifest has no position to remove:\n%s", b)
	}
	if err := os.WriteFile(mpath, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	// Checkpoints of that time had no checksum file for the manifest.
	if err := os.Remove(mpath + atomicfile.SumSuffix); err != nil {
		t.Fatal(err)
	}
	for _, into := range []*Model{New(), tinyModel(t, nil)} { // fresh, and configured with rope
		if err := into.Load(ctx, dir); err != nil {
			t.Fatal(err)
		}
		if into.cfg.Position != "learned" || into.net.rope != nil {
			t.Errorf("loaded with position %q (rope table %v), want learned", into.cfg.Position, into.net.rope != nil)
		}
	}
}

// TestLoadAddsCopyHead: a checkpoint without a copy head loaded into a
// model configured with one keeps every saved parameter and gains the
// head; loaded on its own it stays without.
func TestLoadAddsCopyHead(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, nil)
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := m.Save(ctx, dir); err != nil {
		t.Fatal(err)
	}
	plain := New()
	if err := plain.Load(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if plain.cfg.Copy {
		t.Fatal("a fresh model loading a checkpoint without a copy head has one")
	}
	grown := tinyModel(t, map[string]any{"copy": true})
	if err := grown.Load(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if !grown.cfg.Copy || grown.net.p.cq == nil {
		t.Fatal("configured copy = true, loaded network has no copy head")
	}
	n := len(m.net.p.data)
	if !slices.Equal(grown.net.p.data[:n], m.net.p.data) {
		t.Fatal("saved parameters changed when the copy head was added")
	}
	if len(grown.net.p.data) != n+2*32*32+32+1 {
		t.Fatalf("grown slab has %d floats, want %d", len(grown.net.p.data), n+2*32*32+32+1)
	}
	// It trains and saves as a copy model.
	if _, err := grown.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{{Context: "a b a", Target: " b\n"}}, TotalSteps: 1}); err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), "ckpt2")
	if err := grown.Save(ctx, dir2); err != nil {
		t.Fatal(err)
	}
	again := New()
	if err := again.Load(ctx, dir2); err != nil {
		t.Fatal(err)
	}
	if !again.cfg.Copy || !slices.Equal(again.net.p.data, grown.net.p.data) {
		t.Fatal("reloaded copy model differs")
	}
}

// TestCopyHeadCopiesUnseenText: after the same short training on "repeat
// this random word" examples, the model with a copy head repeats words it
// has never seen far better than the model without one, which can only
// learn the letters' frequencies in that time. This is the skill a repair
// command needs (REPW 5 >>>chukn >>>chunk copies from the program).
func TestCopyHeadCopiesUnseenText(t *testing.T) {
	ctx := context.Background()
	word := func(rng *rand.Rand) string {
		b := make([]byte, 6)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	examples := func(seed uint64, n int) []sdk.SupervisedExample {
		rng := rand.New(rand.NewPCG(seed, 1))
		var out []sdk.SupervisedExample
		for range n {
			w := word(rng)
			out = append(out, sdk.SupervisedExample{Context: "say " + w + " again: ", Target: w + "\n"})
		}
		return out
	}
	heldout := examples(99, 32)
	loss := map[bool]float64{}
	for _, copyHead := range []bool{false, true} {
		m := tinyModel(t, map[string]any{"copy": copyHead, "lr": 1e-2, "warmup": 10.0})
		for step := range 120 {
			if _, err := m.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: examples(uint64(step), 16), Step: step, TotalSteps: 120}); err != nil {
				t.Fatal(err)
			}
		}
		var sum float64
		var n int
		for _, ex := range heldout {
			lp, err := m.Logprobs(ctx, sdk.LogprobsRequest{Examples: []sdk.PolicyExample{{Context: ex.Context, Completion: ex.Target}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range lp.Logprobs[0] {
				sum -= v
				n++
			}
		}
		loss[copyHead] = sum / float64(n)
	}
	t.Logf("held-out loss per token: without copy head %.3f, with %.3f", loss[false], loss[true])
	if loss[true] > 0.5*loss[false] {
		t.Fatalf("copy head does not copy: held-out loss %.3f with it, %.3f without", loss[true], loss[false])
	}
}
