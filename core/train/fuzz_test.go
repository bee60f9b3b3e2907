package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadCursor: a checkpoint whose cursor (without a checksum file, as
// before checksums) holds any bytes is read, with every file it lists
// verified, or refused with an error naming the checkpoint; a file list
// never reaches outside the checkpoint, and nothing panics.
func FuzzReadCursor(f *testing.F) {
	dir := f.TempDir()
	saved, err := SaveCheckpoint(context.Background(), &foldModel{state: 7}, dir, Cursor{Stage: "sft", StageKind: "sft", Step: 2, Plugin: "transformer", Config: []byte(`{"layers":1}`)})
	if err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(saved, cursorFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"stage":"sft","step":3}`))
	f.Add([]byte(`{"files":{"../outside":{"bytes":1,"sha256":"00"}}}`))
	f.Add([]byte(`{"files":{"/etc/passwd":{"bytes":1,"sha256":"00"}}}`))
	f.Add([]byte(`{"files":{"w":null}}`))
	f.Add([]byte(`{"files":{"":{"bytes":0}}}`))
	f.Add([]byte(`{"config":{"x":`))
	f.Fuzz(func(t *testing.T, cursor []byte) {
		ck := filepath.Join(t.TempDir(), "step-000002")
		if err := os.MkdirAll(ck, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ck, "w"), []byte("7"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ck, cursorFile), cursor, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := ReadCursor(ck)
		if err != nil {
			var de *DamagedError
			if !errors.As(err, &de) || de.Checkpoint != ck || !strings.Contains(err.Error(), ck) {
				t.Fatalf("err = %v, want a DamagedError naming %s", err, ck)
			}
			if _, _, _, lerr := LatestCheckpoint(filepath.Dir(ck)); !errors.As(lerr, &de) {
				t.Fatalf("LatestCheckpoint over it: %v, want a DamagedError", lerr)
			}
			return
		}
		for name := range c.Files {
			if !filepath.IsLocal(filepath.FromSlash(name)) {
				t.Fatalf("accepted a file outside the checkpoint: %q", name)
			}
		}
		if p, _, ok, err := LatestCheckpoint(filepath.Dir(ck)); err != nil || !ok || p != ck {
			t.Fatalf("LatestCheckpoint = %s %v %v, want %s", p, ok, err, ck)
		}
	})
}
