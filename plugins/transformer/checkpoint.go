package transformer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

// A checkpoint is a directory with two files:
//
//	weights.bin    parameters, then AdamW first and second moments, each the
//	               full parameter slab as little-endian float32 in the order
//	               the manifest lists the parameters
//	manifest.json  version, config, parameter names and shapes, tokenizer
//	               merges, optimizer step, RNG state, weights.bin's SHA-256
//	manifest.json.sum  the manifest's own size and SHA-256 (atomicfile)
//
// Each file is written to a temporary name and renamed into place, manifest
// last, so a crash leaves either the old checkpoint or the new one. Load
// checks both files before it changes anything, so a damaged checkpoint is
// an error naming the file and the model is left as it was.

const checkpointVersion = 1

// manifestFormat is what manifest.json.sum says the manifest is. A manifest
// saved before it existed has no checksum file and is read unchecked; its
// weights are still checked against weights_sha256.
var manifestFormat = atomicfile.Format{Name: "lathe-transformer-manifest", Version: checkpointVersion}

type manifest struct {
	Version     int         `json:"version"`
	Config      Config      `json:"config"`
	Params      []paramSpec `json:"params"`
	Merges      [][2]int32  `json:"merges"`
	Fitted      bool        `json:"tokenizer_fitted"`
	Step        int         `json:"step"`
	AdamT       int         `json:"adam_t"`
	Truncations int         `json:"truncations"`
	RNG         []byte      `json:"rng"`
	WeightsHash string      `json:"weights_sha256"`
}

// Save implements sdk.ModelWithCheckpoints.
func (m *Model) Save(_ context.Context, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("transformer: save: %w", err)
	}
	n := len(m.net.p.data)
	buf := make([]byte, 3*4*n)
	for k, slab := range [][]float32{m.net.p.data, m.opt.M, m.opt.V} {
		for i, v := range slab {
			binary.LittleEndian.PutUint32(buf[(k*n+i)*4:], math.Float32bits(v))
		}
	}
	sum := sha256.Sum256(buf)
	rng, err := m.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("transformer: save rng: %w", err)
	}
	man := manifest{
		Version: checkpointVersion, Config: m.cfg, Params: m.cfg.arch().specs(), Merges: m.tok.Merges,
		Fitted: m.fitted, Step: m.step, AdamT: m.opt.T, Truncations: m.truncations, RNG: rng,
		WeightsHash: hex.EncodeToString(sum[:]),
	}
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("transformer: save: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "weights.bin"), buf); err != nil {
		return err
	}
	return atomicfile.WriteCheckedBytes(filepath.Join(dir, "manifest.json"), manifestFormat, js)
}

func withCopy(a arch) arch {
	a.Copy = true
	return a
}

// Load implements sdk.ModelWithCheckpoints. The checkpoint's architecture
// and tokenizer replace the configured ones; on a configured model the
// training options (lr, schedule, dropout, batch_tokens, ...) stay as
// configured, so an experiment can change them for a later stage.
func (m *Model) Load(_ context.Context, dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mpath := filepath.Join(dir, "manifest.json")
	js, err := atomicfile.ReadChecked(mpath, manifestFormat)
	if err != nil {
		return fmt.Errorf("transformer: load: %w", err)
	}
	var man manifest
	if err := json.Unmarshal(js, &man); err != nil {
		return fmt.Errorf("transformer: load %s: %w", mpath, err)
	}
	if man.Version != checkpointVersion {
		return fmt.Errorf("transformer: load %s: checkpoint version %d, this build reads %d", mpath, man.Version, checkpointVersion)
	}
	if man.Config.Position == "" {
		man.Config.Position = "learned" // saved before the option existed
	}
	var keys struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if json.Unmarshal(js, &keys) == nil {
		if _, ok := keys.Config["prefix_cache_mb"]; !ok {
			man.Config.PrefixCacheMB = DefaultPrefixCacheMB // saved before the option existed
		}
	}
	if err := man.Config.validate(); err != nil {
		return fmt.Errorf("transformer: load %s: %w", mpath, err)
	}
	want := man.Config.arch().specs()
	if len(want) != len(man.Params) {
		return fmt.Errorf("transformer: load %s: %d parameters listed, config implies %d", mpath, len(man.Params), len(want))
	}
	for i, p := range man.Params {
		if p.Name != want[i].Name || fmt.Sprint(p.Shape) != fmt.Sprint(want[i].Shape) {
			return fmt.Errorf("transformer: load %s: parameter %d is %s %v, config implies %s %v", mpath, i, p.Name, p.Shape, want[i].Name, want[i].Shape)
		}
	}
	wpath := filepath.Join(dir, "weights.bin")
	buf, err := os.ReadFile(wpath)
	if err != nil {
		return fmt.Errorf("transformer: load: %w", err)
	}
	if sum := sha256.Sum256(buf); hex.EncodeToString(sum[:]) != man.WeightsHash {
		return fmt.Errorf("transformer: load %s: SHA-256 does not match the manifest (corrupt or from another save)", wpath)
	}
	n := man.Config.arch().numParams()
	if len(buf) != 3*4*n {
		return fmt.Errorf("transformer: load %s: %d bytes, want %d", wpath, len(buf), 3*4*n)
	}
	tok := &Tokenizer{Merges: man.Merges, SpaceTokens: man.Config.SpaceTokens}
	if err := tok.validate(); err != nil {
		return fmt.Errorf("transformer: load %s: %w", mpath, err)
	}
	if tok.Size() > man.Config.Vocab {
		return fmt.Errorf("transformer: load %s: tokenizer has %d ids, vocab is %d", mpath, tok.Size(), man.Config.Vocab)
	}
	tok.build()
	// The RNG state is checked here, before setup replaces the network: a
	// failed load leaves the model as it was.
	var probe rand.PCG
	if err := probe.UnmarshalBinary(man.RNG); err != nil {
		return fmt.Errorf("transformer: load %s: rng: %w", mpath, err)
	}
	cfg := man.Config
	// A configured copy head is added to a checkpoint without one (a
	// pretrained language model starting SFT): its parameters sit at the
	// end of the slab, so the checkpoint's fill the slab's beginning and
	// the head keeps its fresh initialisation.
	grown := m.net != nil && m.cfg.Copy && !cfg.Copy
	if m.net != nil {
		// Configured first: the architecture must come from the checkpoint,
		// but the training options are the experiment's current ones.
		if want := m.cfg.arch(); cfg.arch() != want && !(grown && withCopy(cfg.arch()) == want) {
			m.log.Warn("checkpoint architecture differs from the configured one; using the checkpoint's",
				"checkpoint", fmt.Sprintf("%+v", cfg.arch()), "configured", fmt.Sprintf("%+v", m.cfg.arch()))
		}
		a := cfg.arch()
		cfg = m.cfg
		cfg.Layers, cfg.DModel, cfg.Heads, cfg.Context, cfg.Vocab = a.Layers, a.DModel, a.Heads, a.Context, a.Vocab
		cfg.Position, cfg.SpaceTokens = man.Config.Position, man.Config.SpaceTokens
		cfg.Copy = man.Config.Copy || grown
	}
	m.setup(cfg)
	for k, slab := range [][]float32{m.net.p.data, m.opt.M, m.opt.V} {
		for i := range n {
			slab[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[(k*n+i)*4:]))
		}
	}
	if grown {
		m.log.Info("added a copy head to the checkpoint's network", "params", m.cfg.arch().numParams()-n)
	}
	*m.pcg = probe // m.rng draws from m.pcg
	m.setTokenizer(tok)
	m.fitted = true
	m.step, m.opt.T, m.truncations = man.Step, man.AdamT, man.Truncations
	m.log.Info("checkpoint loaded", "dir", dir, "step", m.step, "params", n, "backend", m.backend)
	return nil
}
