// Package atomicfile replaces files so that a reader, or a crash at any
// moment, finds the old content or the new one, never part of either: the
// new content goes to a temporary file in the same directory, is flushed
// to disk, and is renamed over the old name, and the directory is synced so
// that the rename itself survives a power cut.
//
// Every file Lathe writes whole (checkpoints, run state, results,
// demonstrations, episodes) goes through this package; append-only logs
// such as metrics.jsonl do not, since a reader must see their lines as they
// come.
//
// Files that a later stage or a resumed run reads back are written with
// WriteChecked, which records their format, version, size and SHA-256 in a
// checksum file beside them; ReadChecked verifies it, so a file cut short
// or altered on disk is reported by name instead of being used.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with b.
func Write(path string, b []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// WriteFunc replaces path with what write writes to w (buffered). An error
// of write is returned as it is; nothing is left under path or beside it.
// The file is readable by all (0644), as files os.Create makes are.
func WriteFunc(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	buf := bufio.NewWriter(f)
	if err := write(buf); err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file private; the data is not.
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Some file systems refuse to sync
// a directory; the rename has happened either way, so that is not an error.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
