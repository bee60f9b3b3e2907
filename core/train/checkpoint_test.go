package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

// saveSteps saves a foldModel checkpoint at each step into dir.
func saveSteps(t *testing.T, dir string, steps ...int) {
	t.Helper()
	for _, s := range steps {
		m := &foldModel{state: uint64(1000 + s)}
		if _, err := SaveCheckpoint(context.Background(), m, dir, Cursor{Stage: "sft", Step: s}); err != nil {
			t.Fatal(err)
		}
	}
}

func rewrite(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// damages are the ways a checkpoint's files go bad on disk; each names the
// file whose path the error must carry.
var damages = []struct {
	name   string
	file   string // inside the checkpoint
	damage func(t *testing.T, ck string)
	want   string
}{
	{"model file truncated", "w", func(t *testing.T, ck string) {
		rewrite(t, filepath.Join(ck, "w"), func(b []byte) []byte { return b[:2] })
	}, "2 bytes, but 4 were saved"},
	// "1006" -> "1007": still a number the model would load.
	{"model file byte flipped", "w", func(t *testing.T, ck string) {
		rewrite(t, filepath.Join(ck, "w"), func(b []byte) []byte { b[3] ^= 1; return b })
	}, "SHA-256"},
	{"model file deleted", "w", func(t *testing.T, ck string) {
		if err := os.Remove(filepath.Join(ck, "w")); err != nil {
			t.Fatal(err)
		}
	}, "unreadable"},
	{"cursor truncated", cursorFile, func(t *testing.T, ck string) {
		rewrite(t, filepath.Join(ck, cursorFile), func(b []byte) []byte { return b[:len(b)/2] })
	}, "were written"},
	{"cursor step altered", cursorFile, func(t *testing.T, ck string) {
		rewrite(t, filepath.Join(ck, cursorFile), func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"step": 6`, `"step": 9`, 1))
		})
	}, "SHA-256"},
	{"cursor from a newer Lathe", cursorFile, func(t *testing.T, ck string) {
		rewrite(t, filepath.Join(ck, cursorFile+atomicfile.SumSuffix), func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"version":1`, `"version":7`, 1))
		})
	}, "lathe-checkpoint version 7; this build reads up to version 1"},
	{"cursor checksum file truncated", cursorFile + atomicfile.SumSuffix, func(t *testing.T, ck string) {
		rewrite(t, filepath.Join(ck, cursorFile+atomicfile.SumSuffix), func(b []byte) []byte { return b[:9] })
	}, "not a checksum file"},
}

// TestLatestCheckpointDamaged damages the newest of three checkpoints and
// expects LatestCheckpoint to refuse it, naming the damaged file and the
// last good checkpoint, rather than resume from it or, silently, from an
// earlier step.
func TestLatestCheckpointDamaged(t *testing.T) {
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			saveSteps(t, dir, 2, 4, 6)
			newest := filepath.Join(dir, "step-000006")
			tc.damage(t, newest)

			p, _, ok, err := LatestCheckpoint(dir)
			var de *DamagedError
			if !errors.As(err, &de) {
				t.Fatalf("LatestCheckpoint = %s ok=%v err=%v, want a *DamagedError", p, ok, err)
			}
			if ok || p != "" {
				t.Errorf("returned %s ok=%v with the error", p, ok)
			}
			if de.Checkpoint != newest || de.LastGood != filepath.Join(dir, "step-000004") {
				t.Errorf("damaged %s, last good %s; want step-000006 and step-000004", de.Checkpoint, de.LastGood)
			}
			msg := err.Error()
			t.Log(msg) // what a resume over it prints
			for _, s := range []string{filepath.Join(newest, tc.file), tc.want, "the last good checkpoint is " + de.LastGood} {
				if !strings.Contains(msg, s) {
					t.Errorf("err = %v\nwant it to say %q", msg, s)
				}
			}
			// The checkpoint named directly is refused the same way.
			if _, _, err := ResolveCheckpoint(newest); !errors.As(err, &de) || !strings.Contains(err.Error(), filepath.Join(newest, tc.file)) {
				t.Errorf("ResolveCheckpoint(%s) err = %v, want the damage named", newest, err)
			}
		})
	}
}

func TestLatestCheckpointAllDamaged(t *testing.T) {
	dir := t.TempDir()
	saveSteps(t, dir, 1, 2)
	for _, s := range []string{"step-000001", "step-000002"} {
		rewrite(t, filepath.Join(dir, s, "w"), func(b []byte) []byte { return append(b, '0') })
	}
	_, _, _, err := LatestCheckpoint(dir)
	var de *DamagedError
	if !errors.As(err, &de) || de.LastGood != "" || !strings.Contains(err.Error(), "no earlier checkpoint in "+dir+" is intact") {
		t.Errorf("err = %v, want the newest named damaged and no last good one", err)
	}
}

// TestResumeFromLastGoodCheckpoint: a run whose newest checkpoint was
// damaged stops with an error instead of training on, and once the damaged
// directory is moved aside, as the error says, resumes from the last good
// checkpoint and ends where an uninterrupted run ends.
func TestResumeFromLastGoodCheckpoint(t *testing.T) {
	ex := examples(13)
	cfg := func(dir string) SFTConfig {
		return SFTConfig{BatchSize: 4, Common: Common{Stage: "sft", Steps: 9, CheckpointEvery: 2, Seed: 5, CheckpointDir: dir}}
	}
	whole := &foldModel{}
	if _, err := SFT(context.Background(), whole, ex, cfg(t.TempDir())); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	c := cfg(dir)
	c.Metrics = func(step int, _ map[string]float64) error {
		if step == 7 {
			cancel()
		}
		return nil
	}
	if _, err := SFT(ctx, &foldModel{}, ex, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v", err)
	}
	newest := filepath.Join(dir, "step-000006")
	rewrite(t, filepath.Join(newest, "w"), func(b []byte) []byte { b[0] ^= 1; return b })

	m := &foldModel{}
	_, err := SFT(context.Background(), m, ex, cfg(dir))
	var de *DamagedError
	if !errors.As(err, &de) || de.Checkpoint != newest {
		t.Fatalf("resume over a damaged checkpoint: err = %v, want it named", err)
	}
	if m.steps != 0 || m.state != 0 {
		t.Errorf("the model trained %d steps (state %d) before the damage was reported", m.steps, m.state)
	}
	if err := os.Rename(newest, filepath.Join(t.TempDir(), "damaged")); err != nil {
		t.Fatal(err)
	}
	resumed := &foldModel{}
	if _, err := SFT(context.Background(), resumed, ex, cfg(dir)); err != nil {
		t.Fatal(err)
	}
	if resumed.steps != 5 || resumed.state != whole.state {
		t.Errorf("resumed from %s: trained %d steps (want 5, from step 4), state %d (uninterrupted %d)",
			de.LastGood, resumed.steps, resumed.state, whole.state)
	}
}

// TestSaveCheckpointListsFiles: the cursor vouches for every file the model
// wrote, nested ones included, and for nothing a writer left half-done.
func TestSaveCheckpointListsFiles(t *testing.T) {
	dir := t.TempDir()
	m := &nestedModel{}
	ck, err := SaveCheckpoint(context.Background(), m, dir, Cursor{Stage: "s", Step: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadCursor(ck)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]atomicfile.Digest{
		"top":        atomicfile.DigestBytes([]byte("a")),
		"sub/nested": atomicfile.DigestBytes([]byte("bc")),
	}
	if len(c.Files) != len(want) {
		t.Errorf("files %v, want %v", c.Files, want)
	}
	for name, d := range want {
		if c.Files[name] != d {
			t.Errorf("%s: %+v, want %+v", name, c.Files[name], d)
		}
	}
	rewrite(t, filepath.Join(ck, "sub", "nested"), func(b []byte) []byte { return []byte("bd") })
	if _, err := ReadCursor(ck); err == nil || !strings.Contains(err.Error(), filepath.Join(ck, "sub", "nested")) {
		t.Errorf("altered nested file: err = %v", err)
	}
}

// TestLegacyCursorIsRead: a checkpoint saved before cursors were checked
// (no checksum file, no file list) still loads.
func TestLegacyCursorIsRead(t *testing.T) {
	ck := filepath.Join(t.TempDir(), "step-000003")
	if err := os.MkdirAll(ck, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ck, cursorFile), []byte(`{"stage":"sft","step":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, c, ok, err := LatestCheckpoint(filepath.Dir(ck))
	if err != nil || !ok || p != ck || c.Step != 3 {
		t.Errorf("LatestCheckpoint = %s %+v %v %v", p, c, ok, err)
	}
}

// nestedModel saves a file and one in a subdirectory, and leaves a
// writer's hidden temporary file behind.
type nestedModel struct{ foldModel }

func (nestedModel) Save(_ context.Context, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		return err
	}
	for name, s := range map[string]string{"top": "a", "sub/nested": "bc", ".top.tmp123": "half"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// failingModel saves part of its weights and then fails, as a full disk
// makes a model's Save fail.
type failingModel struct{ foldModel }

func (*failingModel) Save(_ context.Context, dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "w"), []byte("10"), 0o644); err != nil {
		return err
	}
	return errors.New("write w: no space left on device")
}

// TestSaveCheckpointFailure: a save that fails halfway returns the error,
// leaves no cursor, and so no checkpoint: the next resume starts from the
// one before, whose files are intact.
func TestSaveCheckpointFailure(t *testing.T) {
	dir := t.TempDir()
	saveSteps(t, dir, 2)
	_, err := SaveCheckpoint(context.Background(), &failingModel{}, dir, Cursor{Stage: "sft", Step: 4})
	if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), filepath.Join(dir, "step-000004")) {
		t.Fatalf("err = %v, want the model's error naming the checkpoint", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "step-000004", cursorFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed save left a cursor: %v", err)
	}
	p, c, ok, err := LatestCheckpoint(dir)
	if err != nil || !ok || c.Step != 2 || filepath.Base(p) != "step-000002" {
		t.Errorf("LatestCheckpoint = %s step %d ok=%v err=%v, want step-000002", p, c.Step, ok, err)
	}
	// Saved again over the half-written directory, the checkpoint is whole.
	if _, err := SaveCheckpoint(context.Background(), &foldModel{state: 4}, dir, Cursor{Stage: "sft", Step: 4}); err != nil {
		t.Fatal(err)
	}
	if _, c, ok, err := LatestCheckpoint(dir); err != nil || !ok || c.Step != 4 {
		t.Errorf("after a second save: step %d ok=%v err=%v", c.Step, ok, err)
	}
}
