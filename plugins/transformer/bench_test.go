package transformer

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"gonum.org/v1/gonum/blas"

	"github.com/lathe-ml/lathe/sdk"
)

// The benchmarks of issue 5. Run them with
//
//	go test -run '^$' -bench . -benchtime 3x ./plugins/transformer/
//	go test -tags openblas -run '^$' -bench . -benchtime 3x ./plugins/transformer/
//
// BenchmarkTrainStep and BenchmarkSGEMM report GFLOP/s in the same run so
// their ratio is the fraction of peak matmul speed the trainer reaches.

var benchArch = arch{Layers: 4, DModel: 256, Heads: 4, Context: 512, Vocab: 1024}

const benchBatch = 8

// trainFLOPs counts the floating-point operations of one training step on
// B*T tokens with every position scored: matmuls (2 per multiply-add),
// causal attention (QK^T and AV over the visible keys) and the output head;
// backward costs twice the forward. Elementwise ops are not counted.
func trainFLOPs(a arch, B, T int) float64 {
	C, L, V := float64(a.DModel), float64(a.Layers), float64(a.Vocab)
	tok := float64(B * T)
	perTok := 2*12*C*C*L + 2*C*V
	attn := L * float64(B) * 4 * C * float64(T) * float64(T+1) / 2
	return 3 * (tok*perTok + attn)
}

func BenchmarkTrainStep(b *testing.B) {
	bl, name := defaultBLAS()
	m := newModel(benchArch, bl)
	rng := rand.New(rand.NewPCG(1, 1))
	initParams(benchArch, m.p, rng)
	T := benchArch.Context
	seqs := make([]sequence, benchBatch)
	for i := range seqs {
		toks := make([]int32, T+1)
		for j := range toks {
			toks[j] = int32(rng.IntN(benchArch.Vocab))
		}
		seqs[i] = layout(i, toks[:1], toks[1:], T, T, nil)
	}
	n := benchArch.numParams()
	opt := adamW{M: make([]float32, n), V: make([]float32, n)}
	h := DefaultConfig().hyper()
	g := make([]float32, benchBatch*T)
	for i := range g {
		g[i] = -1 / float32(len(g))
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuSeconds()
	for range b.N {
		s, err := m.score(seqs, nil)
		if err != nil {
			b.Fatal(err)
		}
		xentBackward(m.a.logits, s.targets, g, len(g), benchArch.Vocab)
		m.backward()
		opt.update(m, h, 1e-3)
	}
	sec, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
	b.StopTimer()
	gflops := float64(b.N) * trainFLOPs(benchArch, benchBatch, T) / sec / 1e9
	// Per CPU-second, the rate does not depend on what else the machine runs.
	gflopsCPU := float64(b.N) * trainFLOPs(benchArch, benchBatch, T) / cpu / 1e9
	b.ReportMetric(float64(b.N*benchBatch*T)/sec, "tok/s")
	b.ReportMetric(gflops, "GFLOP/s")
	b.ReportMetric(peakRSSMiB(), "peakRSS_MiB")
	// The largest product's speed, measured right after the steps so that
	// the ratio holds on a machine whose load drifts.
	sg, sgCPU := sgemmGFLOPs(bl, 5)
	b.ReportMetric(sg, "sgemm_GFLOP/s")
	b.ReportMetric(100*gflops/sg, "pct_of_sgemm")
	b.ReportMetric(gflopsCPU, "GFLOP/cpu-s")
	b.ReportMetric(100*gflopsCPU/sgCPU, "pct_of_sgemm_cpu")
	b.Logf("backend %s, %d params", name, n)
}

// sgemmGFLOPs times reps of the model's largest product as the model calls
// it (rows split across cores), per wall second and per CPU second.
func sgemmGFLOPs(bl blas.Float32, reps int) (float64, float64) {
	M, N, K := benchBatch*benchArch.Context, 4*benchArch.DModel, benchArch.DModel
	x, w, y := make([]float32, M*K), make([]float32, N*K), make([]float32, M*N)
	for i := range x {
		x[i] = float32(i%7) * 0.1
	}
	for i := range w {
		w[i] = float32(i%5) * 0.1
	}
	start, cpu0 := time.Now(), cpuSeconds()
	for range reps {
		parSgemm(bl, blas.NoTrans, blas.Trans, M, N, K, 1, x, K, w, K, 0, y, N)
	}
	flop := float64(reps) * 2 * float64(M*N*K)
	return flop / time.Since(start).Seconds() / 1e9, flop / (cpuSeconds() - cpu0) / 1e9
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkSGEMM times the model's largest matrix product: the MLP's
// [B*T, C] x [C, 4C] (the same shape as the output head's, V = 4C here).
func BenchmarkSGEMM(b *testing.B) {
	bl, name := defaultBLAS()
	M, N, K := benchBatch*benchArch.Context, 4*benchArch.DModel, benchArch.DModel
	rng := rand.New(rand.NewPCG(2, 2))
	x, w, y := make([]float32, M*K), make([]float32, N*K), make([]float32, M*N)
	for i := range x {
		x[i] = rng.Float32()
	}
	for i := range w {
		w[i] = rng.Float32()
	}
	// "split" is how the model calls BLAS (rows split across cores, one
	// BLAS thread each); "single" is one plain call.
	for _, mode := range []string{"split", "single"} {
		b.Run(mode, func(b *testing.B) {
			start := time.Now()
			for range b.N {
				if mode == "split" {
					parSgemm(bl, blas.NoTrans, blas.Trans, M, N, K, 1, x, K, w, K, 0, y, N)
				} else {
					bl.Sgemm(blas.NoTrans, blas.Trans, M, N, K, 1, x, K, w, K, 0, y, N)
				}
			}
			sec := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)*2*float64(M*N*K)/sec/1e9, "GFLOP/s")
			b.Logf("backend %s, %dx%dx%d", name, M, N, K)
		})
	}
}

// BenchmarkSample generates 512 tokens greedily after an 8-token prompt
// with the default model shape (2 layers, d_model 128, context 1024 so 512
// new tokens fit), with and without the KV cache.
func BenchmarkSample(b *testing.B) {
	cfg := DefaultConfig()
	a := cfg.arch()
	a.Context = 1024
	bl, _ := defaultBLAS()
	m := newModel(a, bl)
	initParams(a, m.p, rand.New(rand.NewPCG(3, 3)))
	prompt := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	const n = 512
	b.Run("kv-cache", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			cache := newKVCache(a, []int{len(prompt) + n})
			logits, err := m.prefill([][]int32{prompt}, cache, []int{0}, 4096)
			if err != nil {
				b.Fatal(err)
			}
			var buf decodeBuf
			pos := len(prompt)
			for range n {
				tok := argmax(logits[:a.Vocab])
				logits = m.step(&buf, cache, []int32{tok}, []int{pos}, []int{0}, nil)
				pos++
			}
		}
		b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "tok/s")
	})
	b.Run("no-cache", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			if _, err := m.generateUncached(prompt, n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "tok/s")
	})
}

func argmax(x []float32) int32 {
	best := 0
	for j, v := range x {
		if v > x[best] {
			best = j
		}
	}
	return int32(best)
}

// peakRSSMiB reads the process's high-water resident set from /proc.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkSupervisedDefault is one TrainSupervised call with the default
// configuration on a quickstart-like batch: 16 examples of ~450-token
// contexts (instruction + numbered code + feedback) and short targets;
// copy=on adds the copy head (its cost is the ratio of the two).
func BenchmarkSupervisedDefault(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(onOff("copy", on), func(b *testing.B) { benchSupervised(b, on) })
	}
}

func onOff(name string, on bool) string {
	if on {
		return name + "=on"
	}
	return name + "=off"
}

// benchModel is the default configuration, with or without the copy head.
func benchModel(b *testing.B, copyHead bool) *Model {
	m := New()
	m.log = hclog.NewNullLogger() // keep benchmark output parseable
	cfg, _ := sdk.ConfigFrom(map[string]any{"copy": copyHead})
	if err := m.Configure(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	return m
}

func benchSupervised(b *testing.B, copyHead bool) {
	m := benchModel(b, copyHead)
	rng := rand.New(rand.NewPCG(4, 4))
	var batch sdk.SupervisedBatch
	for i := range 16 {
		var sb strings.Builder
		sb.WriteString("Repair the program one command per turn: ADDL, REPL, REPW, DELL, EXIT.\n")
		for l := range 12 + rng.IntN(8) {
			fmt.Fprintf(&sb, "L %d     total = total + values[%d] * %d\n", l+1, rng.IntN(100), rng.IntN(1000))
		}
		sb.WriteString("***\nAssertionError: assert f([1, 2, 3]) == 6\n> ")
		batch.Examples = append(batch.Examples, sdk.SupervisedExample{Context: sb.String(), Target: fmt.Sprintf("REPL %d >>>    return total\n", i)})
	}
	b.ResetTimer()
	start := time.Now()
	var toks int
	for i := range b.N {
		batch.Step = i
		st, err := m.TrainSupervised(context.Background(), batch)
		if err != nil {
			b.Fatal(err)
		}
		toks = st.Tokens
	}
	sec := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/sec, "steps/s")
	b.ReportMetric(float64(b.N*len(batch.Examples))/sec, "examples/s")
	b.Logf("%d target tokens per step, backend %s", toks, Backend())
}

// BenchmarkGenerateBatch is one Generate call as an evaluation turn makes
// it: 32 contexts of ~450 tokens, 32 new tokens each, default model,
// without and with the copy head.
func BenchmarkGenerateBatch(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(onOff("copy", on), func(b *testing.B) { benchGenerate(b, on) })
	}
}

func benchGenerate(b *testing.B, copyHead bool) {
	m := benchModel(b, copyHead)
	rng := rand.New(rand.NewPCG(5, 5))
	req := sdk.GenerateRequest{Sampling: sdk.Sampling{Temperature: 1, MaxTokens: 32, Seed: 1}}
	if os.Getenv("LATHE_GEN_TOKENS") != "" {
		req.Sampling.MaxTokens, _ = strconv.Atoi(os.Getenv("LATHE_GEN_TOKENS"))
	}
	for range 32 {
		var sb strings.Builder
		for sb.Len() < 450 {
			fmt.Fprintf(&sb, "L %d x%d\n", rng.IntN(30), rng.IntN(100))
		}
		req.Contexts = append(req.Contexts, sb.String())
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuSeconds()
	for range b.N {
		if _, err := m.Generate(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	sec, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
	b.ReportMetric(float64(b.N*32*32)/sec, "new_tok/s")
	b.ReportMetric(float64(b.N*32*450)/sec, "prompt_tok/s")
	b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
}

// BenchmarkGELUKernel is the largest elementwise kernel of a training step
// on 1M elements.
func BenchmarkGELUKernel(b *testing.B) {
	n := 1 << 20
	x, y, th := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(i%1000)/100 - 5
	}
	b.ResetTimer()
	for range b.N {
		geluForward(y, th, x)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds()/1e6, "Melem/s")
}

// BenchmarkSGEMMSubnormal is BenchmarkSGEMM's product with a tenth of the
// left operand's entries tiny: 0 ("zero") or a float32 subnormal, 1e-39
// ("subnormal"), as softmax probabilities far below a row's maximum were
// before expShiftMoment flushed them. The ratio of the two is what the
// flush buys where such entries reach a product.
func BenchmarkSGEMMSubnormal(b *testing.B) {
	bl, name := defaultBLAS()
	M, N, K := benchBatch*benchArch.Context, 4*benchArch.DModel, benchArch.DModel
	for _, tiny := range []struct {
		name string
		v    float32
	}{{"zero", 0}, {"subnormal", 1e-39}} {
		b.Run(tiny.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(2, 2))
			x, w, y := make([]float32, M*K), make([]float32, N*K), make([]float32, M*N)
			for i := range x {
				x[i] = rng.Float32()
				if i%10 == 0 {
					x[i] = tiny.v
				}
			}
			for i := range w {
				w[i] = rng.Float32()
			}
			start := time.Now()
			for range b.N {
				parSgemm(bl, blas.NoTrans, blas.Trans, M, N, K, 1, x, K, w, K, 0, y, N)
			}
			b.ReportMetric(float64(b.N)*2*float64(M*N*K)/time.Since(start).Seconds()/1e9, "GFLOP/s")
			b.Logf("backend %s, %dx%dx%d", name, M, N, K)
		})
	}
}
