package stages

import (
	"context"
	"fmt"
	"math"
	"path/filepath"

	"github.com/lathe-ml/lathe/core/corpus"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
)

// tokenizerBytes caps the corpus text a tokenizer is fitted on: BPE
// merges settle long before a 12 MB standard library is read.
const tokenizerBytes = 2 << 20

// PretrainAttrs are the attributes of a pretrain stage.
type PretrainAttrs struct {
	Model experiment.Ref `attr:"model,required" ref:"model"`
	// Corpus: "builtin:python-stdlib" or "files:DIR[:DIR...]".
	Corpus          string         `attr:"corpus,required"`
	Init            experiment.Ref `attr:"init,path" ref:"stage" output:"checkpoint"`
	Steps           int            `attr:"steps" default:"1000"`
	BatchSize       int            `attr:"batch_size" default:"16"`
	Heldout         float64        `attr:"heldout" default:"0.02"`
	MaxFiles        int            `attr:"max_files" default:"0"` // 0: all
	CheckpointEvery int            `attr:"checkpoint_every" default:"100"`
	LR              float64        `attr:"lr" default:"0"` // peak learning rate; 0: the model's own
	Seed            int            `attr:"seed" default:"experiment.seed"`
}

var pretrainKind = runner.Kind[PretrainAttrs]{
	Name:       "pretrain",
	Checkpoint: true,
	Needs:      func(a *PretrainAttrs) []runner.Need { return trainsModel(a.Model) },
	Run:        pretrain,
}

// pretrain is next-token language modelling on a corpus of source files:
// the corpus is read (corpus.Load), checked against every program the
// experiment evaluates on, split into training and held-out files by a hash
// of their text, cut into window-sized chunks at line boundaries, and
// trained on with the loss on every token. The model's tokenizer is fitted
// on the corpus, so every stage that starts from this checkpoint keeps it.
// Held-out loss and bits per byte are logged at every checkpoint.
func pretrain(ctx context.Context, env *runner.StageEnv, a *PretrainAttrs) (runner.Outputs, error) {
	frac, err := heldoutFraction(env, a.Heldout)
	if err != nil {
		return nil, err
	}
	docs, st, err := corpus.Load(ctx, a.Corpus)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env.Stage.ID(), err)
	}
	if n := a.MaxFiles; n > 0 && len(docs) > n {
		docs = docs[:n]
	}
	if err := refuseLeaks(ctx, env, docs, "corpus files"); err != nil {
		return nil, err
	}
	var trainDocs, heldDocs []corpus.Document
	for _, d := range docs {
		if frac > 0 && tasks.HashSplit(env.Seed, "pretrain\x00"+d.Text, frac, 0) == tasks.SplitTest {
			heldDocs = append(heldDocs, d)
		} else {
			trainDocs = append(trainDocs, d)
		}
	}
	if len(trainDocs) == 0 {
		return nil, fmt.Errorf("%s: heldout = %g leaves no file to train on", env.Stage.ID(), frac)
	}

	m, b, cfg, err := trainable(ctx, env, a.Model)
	if err != nil {
		return nil, err
	}
	ckDir := filepath.Join(env.Dir, "checkpoints")
	if err := prepareModel(ctx, env, m, a.Init, ckDir, func() []string { return capText(trainDocs, tokenizerBytes) }); err != nil {
		return nil, err
	}
	info, err := m.Info(ctx)
	if err != nil {
		return nil, err
	}
	bpt, err := bytesPerToken(ctx, m, trainDocs, info.Context)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env.Stage.ID(), err)
	}
	// Chunks a little shorter than the window, so few are cut.
	chunkBytes := max(64, int(0.9*float64(info.Context)*bpt))
	examples := targets(corpus.Chunks(trainDocs, chunkBytes))
	heldout := targets(corpus.Chunks(heldDocs, chunkBytes))
	if len(heldout) > maxHeldout {
		heldout = heldout[:maxHeldout]
	}
	env.Logger.Info("pretrain", "stage", env.Stage.Label, "corpus", a.Corpus, "files", st.Files,
		"bytes", st.Bytes, "duplicates", st.Duplicates, "train_files", len(trainDocs), "heldout_files", len(heldDocs),
		"chunks", len(examples), "chunk_bytes", chunkBytes, "bytes_per_token", fmt.Sprintf("%.2f", bpt),
		"params", info.Parameters, "backend", info.Backend)
	fmt.Fprintf(env.Progress, "%-12s %d files (%.1f MB), %d of them held out; %d training chunks of up to %d bytes\n",
		env.Stage.Label, len(docs), float64(st.Bytes)/(1<<20), len(heldDocs), len(examples), chunkBytes)
	bar := newProgress(env, a.Steps, "pretrain", func(v map[string]float64) string {
		return fmt.Sprintf("loss %.3f", v["loss"])
	})
	final, err := train.SFT(ctx, m, examples, train.SFTConfig{
		Common:    common(env, schedule{a.Steps, a.CheckpointEvery, a.LR}, ckDir, b.Plugin, cfg, bar),
		BatchSize: a.BatchSize,
		Heldout:   heldout,
	})
	if err != nil {
		return nil, err
	}
	drawCurves(env)
	return runner.Outputs{outCheckpoint: final}, nil
}

// targets makes each text an example whose every token is trained on.
func targets(texts []string) []sdk.SupervisedExample {
	out := make([]sdk.SupervisedExample, len(texts))
	for i, t := range texts {
		out[i] = sdk.SupervisedExample{Target: t}
	}
	return out
}

// capText returns the documents' texts, in order, up to about limit bytes.
func capText(docs []corpus.Document, limit int) []string {
	var out []string
	n := 0
	for _, d := range docs {
		if n >= limit {
			break
		}
		out = append(out, d.Text)
		n += len(d.Text)
	}
	return out
}

// bytesPerToken measures how many bytes of the corpus a token of m's
// tokenizer covers, on a sample of chunks short enough not to be cut.
func bytesPerToken(ctx context.Context, m sdk.ModelWithTraining, docs []corpus.Document, window int) (float64, error) {
	sample := corpus.Chunks(docs, max(16, min(1024, window)))
	step := max(1, len(sample)/32)
	req := sdk.LogprobsRequest{}
	bytes := 0
	for i := 0; i < len(sample) && len(req.Examples) < 32; i += step {
		req.Examples = append(req.Examples, sdk.PolicyExample{Completion: sample[i]})
		bytes += len(sample[i])
	}
	resp, err := m.Logprobs(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("measuring the tokenizer: %w", err)
	}
	tokens := 0
	for _, lp := range resp.Logprobs {
		tokens += len(lp)
	}
	if tokens == 0 {
		return 0, fmt.Errorf("measuring the tokenizer: the model scored no tokens of %d sample chunks", len(req.Examples))
	}
	return math.Max(1, float64(bytes)/float64(tokens)), nil
}
