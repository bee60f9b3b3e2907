// Package train holds the training loops that the sft and grpo stages run:
// deterministic batching by (seed, step), periodic checkpoints that record
// the data cursor beside the model's own state, and resumption from the
// last complete checkpoint. The model plugin owns weights, optimizer and
// RNG; this package owns where the data stands.
package train

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/sdk"
)

// cursorFile marks a checkpoint as complete: it is written, atomically,
// only after the model has saved, so a checkpoint without it is ignored.
const cursorFile = "lathe-cursor.json"

// Cursor is where a training loop stands.
type Cursor struct {
	Stage string `json:"stage"`
	// StageKind is the kind of the stage that wrote it ("sft", "grpo").
	StageKind string `json:"stage_kind,omitempty"`
	// Step is the number of optimizer steps completed.
	Step int `json:"step"`
	// Metrics holds running values a loop needs to continue exactly.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Plugin and Config say which model plugin, configured how, wrote the
	// checkpoint, so `lathe eval --checkpoint DIR` can start it again.
	Plugin string          `json:"plugin,omitempty"`
	Config json.RawMessage `json:"config,omitempty"`
}

// ReadCursor reads the cursor of the checkpoint in dir.
func ReadCursor(dir string) (Cursor, error) {
	var c Cursor
	b, err := os.ReadFile(filepath.Join(dir, cursorFile))
	if err != nil {
		return c, fmt.Errorf("train: %s is not a complete Lathe checkpoint: %w", dir, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("train: %s: %w", filepath.Join(dir, cursorFile), err)
	}
	return c, nil
}

// SaveCheckpoint saves model and cursor into dir/step-<N> and returns that
// directory.
func SaveCheckpoint(ctx context.Context, m sdk.ModelWithCheckpoints, dir string, c Cursor) (string, error) {
	ck := filepath.Join(dir, fmt.Sprintf("step-%06d", c.Step))
	if err := os.MkdirAll(ck, 0o755); err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	if err := m.Save(ctx, ck); err != nil {
		return "", fmt.Errorf("train: save model to %s: %w", ck, err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(ck, cursorFile), b); err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	return ck, nil
}

// LatestCheckpoint returns the complete checkpoint with the most steps in
// dir, or ok=false when there is none.
func LatestCheckpoint(dir string) (path string, c Cursor, ok bool, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return "", Cursor{}, false, nil
	}
	if err != nil {
		return "", Cursor{}, false, fmt.Errorf("train: %w", err)
	}
	type found struct {
		step int
		name string
	}
	var steps []found
	for _, e := range entries {
		n, perr := strconv.Atoi(strings.TrimPrefix(e.Name(), "step-"))
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") && perr == nil {
			steps = append(steps, found{n, e.Name()})
		}
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].step > steps[j].step })
	for _, s := range steps {
		p := filepath.Join(dir, s.name)
		b, rerr := os.ReadFile(filepath.Join(p, cursorFile))
		if rerr != nil {
			continue // interrupted while saving: not a checkpoint
		}
		if jerr := json.Unmarshal(b, &c); jerr != nil {
			return "", Cursor{}, false, fmt.Errorf("train: %s: %w", filepath.Join(p, cursorFile), jerr)
		}
		return p, c, true, nil
	}
	return "", Cursor{}, false, nil
}

// ResolveCheckpoint finds the checkpoint a path names: a checkpoint
// directory itself, the latest complete checkpoint in a directory of them
// (a stage's checkpoints/), or in a stage directory's checkpoints/ (a
// finished stage of another run, stages/<label>).
func ResolveCheckpoint(path string) (string, Cursor, error) {
	if c, err := ReadCursor(path); err == nil {
		return path, c, nil
	}
	if st, err := os.Stat(path); err != nil {
		return "", Cursor{}, fmt.Errorf("train: checkpoint %s: %w", path, err)
	} else if !st.IsDir() {
		return "", Cursor{}, fmt.Errorf("train: checkpoint %s is not a directory", path)
	}
	for _, dir := range []string{path, filepath.Join(path, "checkpoints")} {
		p, c, ok, err := LatestCheckpoint(dir)
		if err != nil {
			return "", Cursor{}, err
		}
		if ok {
			return p, c, nil
		}
	}
	return "", Cursor{}, fmt.Errorf("train: %s holds no complete Lathe checkpoint (a step-N directory with %s)", path, cursorFile)
}
