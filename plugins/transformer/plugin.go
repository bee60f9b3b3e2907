// Package transformer is Lathe's built-in language model: a small
// decoder-only transformer (pre-LayerNorm, GELU, causal self-attention,
// rotary or learned positions, tied embeddings, an optional copy head,
// copyhead.go) with its own byte-level BPE tokenizer, trained on CPU
// through the sdk.Model, sdk.ModelWithTraining and sdk.ModelWithCheckpoints
// interfaces. Generation keeps a KV cache per call and, across calls, a
// prefix cache of prompt blocks (prefixcache.go).
//
// The network is written llm.c style: an explicit forward and backward per
// layer over flat float32 slices, with matrix products on gorgonia's BLAS
// interface (gonum's pure-Go BLAS by default, OpenBLAS when built with
// -tags openblas). The tests hold the kernels (LayerNorm, GELU, fused
// causal attention, masked cross-entropy) to gorgonia: each wrapped as a
// gorgonia Op with a symbolic gradient and checked against finite
// differences, and the whole network, built as a gorgonia graph, against
// the hand-written path. It is not a general deep-learning library: it
// holds exactly this architecture.
package transformer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"

	"github.com/hashicorp/go-hclog"
	G "gorgonia.org/gorgonia"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/serve"
)

// Config is the model's HCL block, defaults filled in.
type Config struct {
	Layers      int     `json:"layers"`
	DModel      int     `json:"d_model"`
	Heads       int     `json:"heads"`
	Context     int     `json:"context"`
	Vocab       int     `json:"vocab"`
	Position    string  `json:"position"`
	SpaceTokens bool    `json:"space_tokens"`
	Copy        bool    `json:"copy"`
	Dropout     float64 `json:"dropout"`
	Seed        int64   `json:"seed"`
	Device      string  `json:"device"`
	LR          float64 `json:"lr"`
	MinLRFrac   float64 `json:"min_lr_frac"`
	Warmup      int     `json:"warmup"`
	WeightDecay float64 `json:"weight_decay"`
	GradClip    float64 `json:"grad_clip"`
	BatchTokens int     `json:"batch_tokens"`
	Reserve     int     `json:"reserve"`
	// PrefixCacheMB is the prefix cache's budget (prefixcache.go); 0 turns
	// it off.
	PrefixCacheMB int `json:"prefix_cache_mb"`
}

// DefaultPrefixCacheMB is the prefix cache's default budget: about 40,000
// tokens of the default model, an eval's worth of shared turns.
const DefaultPrefixCacheMB = 256

// DefaultConfig suits a 2-core CPU: a quickstart trains a few hundred SFT
// steps in minutes.
func DefaultConfig() Config {
	return Config{
		Layers: 2, DModel: 128, Heads: 4, Context: 512, Vocab: 1024, Position: "rope", Dropout: 0, Seed: 1,
		Device: "cpu", LR: 3e-3, MinLRFrac: 0.1, Warmup: 20, WeightDecay: 0.01, GradClip: 1,
		BatchTokens: 4096, Reserve: 0, PrefixCacheMB: DefaultPrefixCacheMB,
	}
}

var schema = sdk.Schema{
	Description: "A small decoder-only transformer trained on CPU, with its own byte-level BPE tokenizer.",
	Attributes: []sdk.Attribute{
		{Name: "layers", Type: "number", Description: "Transformer blocks.", Default: 2.0},
		{Name: "d_model", Type: "number", Description: "Width of the residual stream; divisible by heads.", Default: 128.0},
		{Name: "heads", Type: "number", Description: "Attention heads.", Default: 4.0},
		{Name: "context", Type: "number", Description: "Context window in tokens; longer contexts lose their beginning, cut at a line.", Default: 512.0},
		{Name: "vocab", Type: "number", Description: "Tokenizer vocabulary size (256 bytes plus learned merges).", Default: 1024.0},
		{Name: "space_tokens", Type: "bool", Description: "Spaces are tokens of their own instead of joining the word after them: a word is the same token wherever it stands, so a command can copy it from the program (REPW 5 >>>chukn where the line reads \" chukn\"), at about a third more tokens.", Default: false},
		{Name: "copy", Type: "bool", Description: "A copy head: each next token is a learned mixture of the vocabulary and a pointer to the token after an earlier position of the context, so the model can repeat what it reads (a line number, a name, a line) without first learning to; a checkpoint without it gains a freshly initialised one when loaded into a model with copy = true.", Default: false},
		{Name: "position", Type: "string", Description: `How attention knows where tokens are: "rope" (rotary, by distance; copying from the context is learned once for every position) or "learned" (an embedding per absolute position).`, Default: "rope"},
		{Name: "dropout", Type: "number", Description: "Residual dropout during supervised training, in [0,1).", Default: 0.0},
		{Name: "seed", Type: "number", Description: "Seed for initialisation, dropout and data order.", Default: 1.0},
		{Name: "device", Type: "string", Description: `"cpu"; "cuda" is reserved for a CUDA build, which does not exist yet.`, Default: "cpu"},
		{Name: "lr", Type: "number", Description: "Peak AdamW learning rate.", Default: 3e-3},
		{Name: "min_lr_frac", Type: "number", Description: "Cosine schedule floor as a fraction of lr.", Default: 0.1},
		{Name: "warmup", Type: "number", Description: "Linear warmup steps.", Default: 20.0},
		{Name: "weight_decay", Type: "number", Description: "AdamW decoupled weight decay (matrices only).", Default: 0.01},
		{Name: "grad_clip", Type: "number", Description: "Global gradient-norm clip; 0 disables.", Default: 1.0},
		{Name: "batch_tokens", Type: "number", Description: "Tokens per micro-batch (padded B*T); larger batches accumulate gradients.", Default: 4096.0},
		{Name: "prefix_cache_mb", Type: "number", Description: "Memory for keys and values of prompt prefixes kept across Generate calls, so an episode's next turn prefills only its new command and state and episodes share their prompt; 0 turns it off. Results are the same either way; training steps empty it.", Default: float64(DefaultPrefixCacheMB)},
		{Name: "reserve", Type: "number", Description: "Window tokens kept free for the completion: longer contexts keep only their last context-reserve tokens (from the first whole line among them), in training and generation alike; 0 means context/4.", Default: 0.0},
	},
}

// validate checks every value of c; the error wraps sdk.ConfigErrors.
func (c Config) validate() error {
	if errs := c.check(); len(errs) > 0 {
		return fmt.Errorf("transformer: config: %w", errs)
	}
	return nil
}

// check returns one error per invalid value, naming its attribute.
func (c Config) check() sdk.ConfigErrors {
	var errs sdk.ConfigErrors
	bad := errs.Addf
	pos := func(name string, v int) {
		if v <= 0 {
			bad(name, "must be positive, got %d", v)
		}
	}
	pos("layers", c.Layers)
	pos("d_model", c.DModel)
	pos("heads", c.Heads)
	pos("context", c.Context)
	pos("batch_tokens", c.BatchTokens)
	if c.Heads > 0 && c.DModel%c.Heads != 0 {
		bad("heads", "must divide d_model (%d), got %d", c.DModel, c.Heads)
	}
	switch c.Position {
	case "learned":
	case "rope":
		if c.Heads > 0 && c.DModel%c.Heads == 0 && (c.DModel/c.Heads)%2 != 0 {
			bad("position", `"rope" needs an even head size, got d_model/heads = %d`, c.DModel/c.Heads)
		}
	default:
		bad("position", `must be "rope" or "learned", got %q`, c.Position)
	}
	if c.Vocab < 256 {
		bad("vocab", "must be at least 256 (the byte tokens), got %d", c.Vocab)
	}
	if c.PrefixCacheMB < 0 {
		bad("prefix_cache_mb", "must be 0 (off) or more, got %d", c.PrefixCacheMB)
	}
	if c.Reserve < 0 || (c.Context > 0 && c.Reserve >= c.Context) {
		bad("reserve", "must be in [0, context = %d), got %d", c.Context, c.Reserve)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		bad("dropout", "must be in [0,1), got %g", c.Dropout)
	}
	if c.LR <= 0 {
		bad("lr", "must be positive, got %g", c.LR)
	}
	for _, o := range []struct {
		name string
		v    float64
	}{{"warmup", float64(c.Warmup)}, {"weight_decay", c.WeightDecay}, {"grad_clip", c.GradClip}} {
		if o.v < 0 {
			bad(o.name, "must not be negative, got %g", o.v)
		}
	}
	if c.MinLRFrac < 0 || c.MinLRFrac > 1 {
		bad("min_lr_frac", "must be in [0,1], got %g", c.MinLRFrac)
	}
	switch c.Device {
	case "cpu":
	case "cuda":
		bad("device", `"cuda" is not available: the transformer has no CUDA build yet (gorgonia's CUDA support needs cuDNN, which this project cannot install); use device = "cpu"`)
	default:
		bad("device", `must be "cpu" or "cuda", got %q`, c.Device)
	}
	return errs
}

// keep is how many context tokens a prompt or training context keeps.
func (c Config) keep() int {
	r := c.Reserve
	if r == 0 {
		r = c.Context / 4
	}
	return max(1, c.Context-r)
}

func (c Config) arch() arch {
	return arch{Layers: c.Layers, DModel: c.DModel, Heads: c.Heads, Context: c.Context, Vocab: c.Vocab, Rope: c.Position == "rope", Copy: c.Copy}
}

func (c Config) hyper() hyper {
	return hyper{LR: c.LR, MinLRFrac: c.MinLRFrac, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
		WeightDecay: c.WeightDecay, GradClip: c.GradClip, Warmup: c.Warmup}
}

// Model is the transformer plugin. Its methods are safe for concurrent use;
// they run one at a time.
type Model struct {
	mu      sync.Mutex
	log     hclog.Logger
	bl      G.BLAS
	backend string

	cfg Config
	tok *Tokenizer
	net *model
	opt adamW
	pcg *rand.PCG // training randomness (dropout); saved with checkpoints
	rng *rand.Rand
	// step counts optimizer updates; truncations counts examples cut to fit.
	step, truncations int
	fitted            bool
	// prefix caches prompt prefixes across Generate calls (nil: off);
	// version counts weight changes, so it never serves stale blocks.
	prefix  *prefixCache
	version uint64
}

// New returns an unconfigured model using the build's default BLAS. It logs
// through the SDK's plugin logger (JSON lines on stderr for the host).
func New() *Model {
	bl, name := defaultBLAS()
	return &Model{bl: bl, backend: name, log: serve.Logger().Named("transformer")}
}

// SetLogger replaces the model's logger (by default the SDK's plugin
// logger, JSON lines on stderr).
func (m *Model) SetLogger(l hclog.Logger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = l
}

// Backend names the compute backend this binary was built with:
// "gorgonia+openblas" (-tags openblas) or "gorgonia+gonum".
func Backend() string {
	_, name := defaultBLAS()
	return name
}

// Schema implements sdk.Plugin.
func (m *Model) Schema(context.Context) (sdk.Schema, error) { return schema, nil }

// Configure implements sdk.Plugin: it validates the options and builds a
// freshly initialised network with a bytes-only tokenizer (FitTokenizer or
// Load replace it).
func (m *Model) Configure(_ context.Context, raw sdk.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := decodeConfig(raw)
	if err != nil {
		return err
	}
	m.setup(cfg)
	m.log.Info("configured", "params", m.cfg.arch().numParams(), "layers", cfg.Layers, "d_model", cfg.DModel,
		"heads", cfg.Heads, "context", cfg.Context, "vocab", cfg.Vocab, "backend", m.backend)
	return nil
}

// ValidateConfig implements sdk.ConfigValidator with Configure's checks.
func (m *Model) ValidateConfig(_ context.Context, raw sdk.Config) ([]sdk.ConfigError, error) {
	_, err := decodeConfig(raw)
	var errs sdk.ConfigErrors
	switch {
	case errors.As(err, &errs):
		return errs, nil
	case err != nil:
		return []sdk.ConfigError{{Message: err.Error()}}, nil
	}
	return nil, nil
}

// decodeConfig reads the block over the defaults. Numbers arrive as JSON
// floats, so integer options are checked to be whole.
func decodeConfig(raw sdk.Config) (Config, error) {
	var f map[string]any
	if err := raw.Decode(&f); err != nil {
		return Config{}, fmt.Errorf("transformer: %w", err)
	}
	cfg := DefaultConfig()
	var errs []error
	num := func(k string) (float64, bool) {
		v, ok := f[k]
		if !ok || v == nil {
			return 0, false
		}
		x, ok := v.(float64)
		if !ok {
			errs = append(errs, fmt.Errorf("%s must be a number, got %v", k, v))
		}
		return x, ok
	}
	ints := map[string]*int{"layers": &cfg.Layers, "d_model": &cfg.DModel, "heads": &cfg.Heads, "context": &cfg.Context,
		"vocab": &cfg.Vocab, "warmup": &cfg.Warmup, "batch_tokens": &cfg.BatchTokens, "reserve": &cfg.Reserve,
		"prefix_cache_mb": &cfg.PrefixCacheMB}
	for k, p := range ints {
		if x, ok := num(k); ok {
			if x != math.Trunc(x) || math.Abs(x) > 1<<40 {
				errs = append(errs, fmt.Errorf("%s must be a whole number, got %g", k, x))
			}
			*p = int(x)
		}
	}
	floats := map[string]*float64{"dropout": &cfg.Dropout, "lr": &cfg.LR, "min_lr_frac": &cfg.MinLRFrac,
		"weight_decay": &cfg.WeightDecay, "grad_clip": &cfg.GradClip}
	for k, p := range floats {
		if x, ok := num(k); ok {
			*p = x
		}
	}
	if x, ok := num("seed"); ok {
		cfg.Seed = int64(x)
	}
	for k, p := range map[string]*bool{"space_tokens": &cfg.SpaceTokens, "copy": &cfg.Copy} {
		if v, ok := f[k]; ok && v != nil {
			b, ok := v.(bool)
			if !ok {
				errs = append(errs, fmt.Errorf("%s must be a bool, got %v", k, v))
			}
			*p = b
		}
	}
	for k, p := range map[string]*string{"device": &cfg.Device, "position": &cfg.Position} {
		if v, ok := f[k]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				errs = append(errs, fmt.Errorf("%s must be a string, got %v", k, v))
			}
			*p = s
		}
	}
	known := map[string]bool{}
	for _, a := range schema.Attributes {
		known[a.Name] = true
	}
	for k := range f {
		if !known[k] {
			errs = append(errs, fmt.Errorf("unknown option %q", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("transformer: config: %w", err)
	}
	return cfg, cfg.validate()
}

// setup builds a fresh network, optimizer and RNG for cfg.
func (m *Model) setup(cfg Config) {
	m.cfg = cfg
	a := cfg.arch()
	m.net = newModel(a, m.bl)
	m.net.dropout = float32(cfg.Dropout)
	initParams(a, m.net.p, rand.New(rand.NewPCG(uint64(cfg.Seed), 0x1a7e)))
	n := a.numParams()
	m.opt = adamW{M: make([]float32, n), V: make([]float32, n)}
	m.pcg = rand.NewPCG(uint64(cfg.Seed), 0xd20b)
	m.rng = rand.New(m.pcg)
	m.setTokenizer(&Tokenizer{SpaceTokens: cfg.SpaceTokens})
	m.step, m.truncations, m.fitted = 0, 0, false
	m.prefix = newPrefixCache(a, cfg.PrefixCacheMB)
}

// setTokenizer installs t and tells the network which ids are live.
func (m *Model) setTokenizer(t *Tokenizer) {
	if t.rank == nil {
		t.build()
	}
	m.tok = t
	m.net.live = t.Size()
	m.version++
}

func (m *Model) ready() error {
	if m.net == nil {
		return errors.New("transformer: model used before Configure or Load")
	}
	return nil
}

// Info implements sdk.Model.
func (m *Model) Info(context.Context) (sdk.ModelInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(); err != nil {
		return sdk.ModelInfo{}, err
	}
	return sdk.ModelInfo{
		Name: "transformer", Parameters: int64(m.cfg.arch().numParams()), Context: m.cfg.Context,
		Vocab: m.cfg.Vocab, Device: m.cfg.Device, Backend: m.backend, WholeEpisodes: true,
	}, nil
}

// FitTokenizer implements sdk.ModelWithTraining. A model that has already
// trained or was loaded keeps its tokenizer, since its embeddings are tied
// to those ids.
func (m *Model) FitTokenizer(ctx context.Context, corpus []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(); err != nil {
		return err
	}
	if m.fitted || m.step > 0 {
		m.log.Info("tokenizer kept", "reason", "already fitted or trained", "vocab", m.tok.Size())
		return nil
	}
	t, err := TrainTokenizer(corpus, m.cfg.Vocab, m.cfg.SpaceTokens)
	if err != nil {
		return err
	}
	m.setTokenizer(t)
	m.fitted = true
	m.log.Info("tokenizer fitted", "documents", len(corpus), "merges", len(t.Merges), "vocab", t.Size())
	return nil
}

// TrainSupervised implements sdk.ModelWithTraining: mean cross-entropy over
// the target tokens of the batch, contexts masked, plus ContextWeight times
// the mean cross-entropy over the context tokens when it is positive. An
// example with Turns trains as one sequence while it fits (layoutTurns).
func (m *Model) TrainSupervised(ctx context.Context, batch sdk.SupervisedBatch) (sdk.TrainStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(); err != nil {
		return sdk.TrainStats{}, err
	}
	if batch.ContextWeight < 0 || math.IsNaN(batch.ContextWeight) {
		return sdk.TrainStats{}, fmt.Errorf("transformer: context weight must be non-negative, got %g", batch.ContextWeight)
	}
	seqs, trunc := m.supervisedSequences(batch)
	var nTarget, nRead int
	for _, s := range seqs {
		for j := range s.target {
			if s.read != nil && s.read[j] {
				nRead++
			} else {
				nTarget++
			}
		}
	}
	if nTarget == 0 {
		return sdk.TrainStats{}, errors.New("transformer: supervised batch has no target tokens")
	}
	gTarget, gRead := -1/float32(nTarget), float32(0)
	if nRead > 0 {
		gRead = -float32(batch.ContextWeight) / float32(nRead)
	}
	var loss, readLoss, ent float64
	for _, mb := range microBatches(seqs, m.cfg.BatchTokens) {
		if err := ctx.Err(); err != nil {
			return sdk.TrainStats{}, fmt.Errorf("transformer: %w", err)
		}
		s, err := m.net.score(mb, m.rng)
		if err != nil {
			return sdk.TrainStats{}, err
		}
		g := make([]float32, len(s.logp))
		k := 0
		for _, sq := range mb {
			for j := range sq.target {
				if sq.read != nil && sq.read[j] {
					g[k] = gRead
					readLoss -= float64(s.logp[k])
				} else {
					g[k] = gTarget
					loss -= float64(s.logp[k])
					ent += float64(s.ent[k])
				}
				k++
			}
		}
		xentBackward(m.net.a.logits, s.targets, g, len(g), m.net.Vocab)
		m.net.backward()
	}
	lr := m.cfg.hyper().withPeak(batch.LearningRate).lrAt(batch.Step, batch.TotalSteps)
	norm := m.opt.update(m.net, m.cfg.hyper(), lr)
	m.step++
	m.version++ // new weights: cached prefixes are stale
	metrics := map[string]float64{
		"lr": lr, "grad_norm": norm, "entropy": ent / float64(nTarget), "truncated": float64(trunc),
		"sequences": float64(len(seqs)),
	}
	if nRead > 0 {
		metrics["context_loss"] = readLoss / float64(nRead)
	}
	return sdk.TrainStats{Loss: loss / float64(nTarget), Tokens: nTarget, Metrics: metrics}, nil
}

// supervisedSequences lays out a supervised batch: an example with Turns,
// or any example when context tokens are scored, through layoutTurns; a
// plain (context, target) pair through layout.
func (m *Model) supervisedSequences(batch sdk.SupervisedBatch) ([]sequence, int) {
	withContext := batch.ContextWeight > 0
	var seqs []sequence
	trunc := 0
	for i, e := range batch.Examples {
		turns := make([]turn, 0, 1+len(e.Turns))
		turns = append(turns, turn{m.tok.Encode(e.Context), m.tok.Encode(e.Target)})
		for _, t := range e.Turns {
			turns = append(turns, turn{m.tok.Encode(t.Context), m.tok.Encode(t.Target)})
		}
		for _, s := range layoutTurns(i, turns, m.cfg.Context, m.cfg.keep(), withContext, m.tail) {
			if s.truncated {
				trunc++
			}
			seqs = append(seqs, s)
		}
	}
	m.noteTruncations(trunc)
	return seqs, trunc
}

// TrainPolicy implements sdk.ModelWithTraining: the objective of
// sdk.PolicyBatch.TokenLoss (PPO clipped surrogate plus KL to the
// reference) averaged over the batch's completion tokens, its gradient
// entering the network through each token's log-prob. Dropout is off so
// the ratio compares like with like.
func (m *Model) TrainPolicy(ctx context.Context, batch sdk.PolicyBatch) (sdk.TrainStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(); err != nil {
		return sdk.TrainStats{}, err
	}
	seqs, trunc := m.layoutAll(len(batch.Examples), func(i int) (string, string, []int32) {
		e := batch.Examples[i]
		return e.Context, e.Completion, e.Tokens
	})
	for _, s := range seqs {
		e := batch.Examples[s.ex]
		if err := checkLogprobs("old", s.ex, e.OldLogprobs, len(s.target)); err != nil {
			return sdk.TrainStats{}, err
		}
		if err := checkLogprobs("reference", s.ex, e.RefLogprobs, len(s.target)); err != nil {
			return sdk.TrainStats{}, err
		}
	}
	total := countTargets(seqs)
	if total == 0 {
		return sdk.TrainStats{}, errors.New("transformer: policy batch has no completion tokens")
	}
	var loss, kl, ent, clipped float64
	for _, mb := range microBatches(seqs, m.cfg.BatchTokens) {
		if err := ctx.Err(); err != nil {
			return sdk.TrainStats{}, fmt.Errorf("transformer: %w", err)
		}
		s, err := m.net.score(mb, nil)
		if err != nil {
			return sdk.TrainStats{}, err
		}
		g := make([]float32, len(s.logp))
		k := 0
		for _, sq := range mb {
			e := batch.Examples[sq.ex]
			for j := range sq.target {
				tl := batch.TokenLoss(e, j, float64(s.logp[k]))
				if tl.Clipped {
					clipped++
				}
				kl += tl.KL
				loss += tl.Loss
				ent += float64(s.ent[k])
				g[k] = float32(tl.DLogprob / float64(total))
				k++
			}
		}
		xentBackward(m.net.a.logits, s.targets, g, len(g), m.net.Vocab)
		m.net.backward()
	}
	lr := m.cfg.hyper().withPeak(batch.LearningRate).lrAt(batch.Step, batch.TotalSteps)
	norm := m.opt.update(m.net, m.cfg.hyper(), lr)
	m.step++
	m.version++ // new weights: cached prefixes are stale
	n := float64(total)
	return sdk.TrainStats{Loss: loss / n, Tokens: total, Metrics: map[string]float64{
		"loss": loss / n, "kl": kl / n, "clip_frac": clipped / n, "entropy": ent / n,
		"lr": lr, "grad_norm": norm, "truncated": float64(trunc),
	}}, nil
}

// Logprobs implements sdk.ModelWithTraining: the log-probability of each
// completion token after its context (tokens cut to fit the window get none).
func (m *Model) Logprobs(ctx context.Context, req sdk.LogprobsRequest) (sdk.LogprobsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(); err != nil {
		return sdk.LogprobsResponse{}, err
	}
	seqs, _ := m.layoutAll(len(req.Examples), func(i int) (string, string, []int32) {
		e := req.Examples[i]
		return e.Context, e.Completion, e.Tokens
	})
	out, err := m.cachedLogprobs(ctx, seqs)
	if err != nil {
		return sdk.LogprobsResponse{}, err
	}
	return sdk.LogprobsResponse{Logprobs: out}, nil
}

// layoutAll tokenizes n (context, completion, tokens) examples and lays them
// out for the window, counting truncations (also logged in aggregate).
func (m *Model) layoutAll(n int, get func(i int) (string, string, []int32)) ([]sequence, int) {
	seqs := make([]sequence, n)
	trunc := 0
	for i := range seqs {
		c, comp, toks := get(i)
		if len(toks) == 0 {
			toks = m.tok.Encode(comp)
		}
		seqs[i] = layout(i, m.tok.Encode(c), toks, m.cfg.Context, m.cfg.keep(), m.tail)
		if seqs[i].truncated {
			trunc++
		}
	}
	m.noteTruncations(trunc)
	return seqs, trunc
}

// noteTruncations counts examples cut to fit the window, logging the total
// at 1, 2, 4, 8, ... so a long run says it without a line per step.
func (m *Model) noteTruncations(trunc int) {
	if trunc > 0 {
		before := m.truncations
		m.truncations += trunc
		if bits.Len(uint(before)) != bits.Len(uint(m.truncations)) {
			m.log.Info("examples truncated to the context window (the beginning of the context dropped, cut at a line)",
				"total", m.truncations, "context", m.cfg.Context)
		}
	}
}

// lineSlack is how many more tokens tail gives up to start at a line.
const lineSlack = 64

// tail cuts ctx to at most n tokens from its end. The cut moves on past the
// first newline token when one comes within lineSlack tokens (newlines are
// tokens of their own), so a cut context starts with a whole line (a state
// line, a command) rather than in the middle of one. Training and
// generation cut alike.
func (m *Model) tail(ctx []int32, n int) []int32 {
	if len(ctx) <= n {
		return ctx
	}
	cut := len(ctx) - n
	if b := m.tok.tokenBytes(ctx[cut-1]); len(b) > 0 && b[0] == '\n' {
		return ctx[cut:] // already at the start of a line
	}
	for i := cut; i < len(ctx)-1 && i < cut+lineSlack; i++ {
		if b := m.tok.tokenBytes(ctx[i]); len(b) > 0 && b[0] == '\n' {
			return ctx[i+1:]
		}
	}
	return ctx[cut:]
}

func countTargets(seqs []sequence) int {
	n := 0
	for _, s := range seqs {
		n += len(s.target)
	}
	return n
}

var (
	_ sdk.Model                = (*Model)(nil)
	_ sdk.ModelWithTraining    = (*Model)(nil)
	_ sdk.ModelWithCheckpoints = (*Model)(nil)
)
