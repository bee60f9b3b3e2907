// Package train holds the training loops that the sft and grpo stages run:
// deterministic batching by (seed, step), periodic checkpoints that record
// the data cursor beside the model's own state, and resumption from the
// last complete checkpoint. The model plugin owns weights, optimizer and
// RNG; this package owns where the data stands.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/sdk"
)

// cursorFile marks a checkpoint as complete: it is written, atomically,
// only after the model has saved, so a checkpoint without it is ignored. It
// lists the size and SHA-256 of every file the model wrote, and its own
// checksum file (atomicfile.WriteChecked) covers it, so a checkpoint damaged
// on disk is found before a model plugin reads any of it, whatever the
// plugin's format.
const cursorFile = "lathe-cursor.json"

// cursorFormat is the format of cursorFile. Version 1 added Files; a cursor
// written before has neither Files nor a checksum file and is read
// unchecked.
var cursorFormat = atomicfile.Format{Name: "lathe-checkpoint", Version: 1}

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
	// Files are the model's files in the checkpoint directory (slash
	// paths relative to it), set by SaveCheckpoint.
	Files map[string]atomicfile.Digest `json:"files,omitempty"`
}

// DamagedError reports a checkpoint whose files are not what was saved.
// LastGood is the newest older checkpoint of the same directory that is
// intact, "" when there is none.
type DamagedError struct {
	Checkpoint string
	LastGood   string
	Err        error
}

func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("train: checkpoint %s: %v", e.Checkpoint, e.Err)
	if e.LastGood == "" {
		return msg + "; no earlier checkpoint in " + filepath.Dir(e.Checkpoint) + " is intact"
	}
	return msg + "; the last good checkpoint is " + e.LastGood + " (move " + e.Checkpoint + " aside to resume from it)"
}

func (e *DamagedError) Unwrap() error { return e.Err }

// ReadCursor reads the cursor of the checkpoint in dir and verifies every
// file it lists; damage is a *DamagedError (without LastGood).
func ReadCursor(dir string) (Cursor, error) {
	var c Cursor
	p := filepath.Join(dir, cursorFile)
	b, err := atomicfile.ReadChecked(p, cursorFormat)
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("train: %s is not a complete Lathe checkpoint: %w", dir, err)
	}
	if err != nil {
		return c, &DamagedError{Checkpoint: dir, Err: err}
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, &DamagedError{Checkpoint: dir, Err: fmt.Errorf("%s is damaged: %w", p, err)}
	}
	names := make([]string, 0, len(c.Files))
	for name := range c.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := c.Files[name]
		fp := filepath.Join(dir, filepath.FromSlash(name))
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return c, &DamagedError{Checkpoint: dir, Err: fmt.Errorf("%s is damaged: it lists %q, outside the checkpoint", p, name)}
		}
		got, err := atomicfile.DigestFile(fp)
		switch {
		case err != nil:
			return c, &DamagedError{Checkpoint: dir, Err: fmt.Errorf("%s is damaged: unreadable: %w", fp, err)}
		case got.Bytes != want.Bytes:
			return c, &DamagedError{Checkpoint: dir, Err: fmt.Errorf("%s is damaged: %d bytes, but %d were saved", fp, got.Bytes, want.Bytes)}
		case got.SHA256 != want.SHA256:
			return c, &DamagedError{Checkpoint: dir, Err: fmt.Errorf("%s is damaged: its SHA-256 is %.12s..., but %.12s... was saved", fp, got.SHA256, want.SHA256)}
		}
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
	// A cursor left from an earlier save of this step would vouch for the
	// files while the model replaces them; without it, a crash during the
	// save leaves an incomplete checkpoint, which is skipped.
	for _, name := range []string{cursorFile, cursorFile + atomicfile.SumSuffix} {
		if err := os.Remove(filepath.Join(ck, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("train: checkpoint: %w", err)
		}
	}
	if err := m.Save(ctx, ck); err != nil {
		return "", fmt.Errorf("train: save model to %s: %w", ck, err)
	}
	files, err := digestFiles(ck)
	if err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	c.Files = files
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteCheckedBytes(filepath.Join(ck, cursorFile), cursorFormat, b); err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	return ck, nil
}

// digestFiles digests every regular file under dir but the cursor's own
// and hidden ones (temporary files of a writer).
func digestFiles(dir string) (map[string]atomicfile.Digest, error) {
	files := map[string]atomicfile.Digest{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || p == filepath.Join(dir, cursorFile) || p == filepath.Join(dir, cursorFile+atomicfile.SumSuffix) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		dg, err := atomicfile.DigestFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = dg
		return nil
	})
	return files, err
}

// LatestCheckpoint returns the complete checkpoint with the most steps in
// dir, or ok=false when there is none. A step directory without a cursor
// (interrupted while saving) is skipped; a complete one whose files are
// damaged is not: the error is a *DamagedError naming it and the last good
// checkpoint, so a run never resumes silently from an earlier step than it
// reached, nor from a damaged one.
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
	var damaged *DamagedError
	for _, s := range steps {
		p := filepath.Join(dir, s.name)
		if _, serr := os.Stat(filepath.Join(p, cursorFile)); serr != nil {
			continue // interrupted while saving: not a checkpoint
		}
		c, rerr := ReadCursor(p)
		if rerr == nil && damaged == nil {
			return p, c, true, nil
		}
		if rerr == nil {
			damaged.LastGood = p
			return "", Cursor{}, false, damaged
		}
		var de *DamagedError
		if !errors.As(rerr, &de) {
			return "", Cursor{}, false, rerr
		}
		if damaged == nil {
			damaged = de
		}
	}
	if damaged != nil {
		return "", Cursor{}, false, damaged
	}
	return "", Cursor{}, false, nil
}

// ResolveCheckpoint finds the checkpoint a path names: a checkpoint
// directory itself, the latest complete checkpoint in a directory of them
// (a stage's checkpoints/), or in a stage directory's checkpoints/ (a
// finished stage of another run, stages/<label>).
func ResolveCheckpoint(path string) (string, Cursor, error) {
	if _, err := os.Stat(filepath.Join(path, cursorFile)); err == nil {
		c, err := ReadCursor(path)
		if err != nil {
			return "", Cursor{}, err
		}
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
