package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFunc(t *testing.T) {
	errWriter := errors.New("the writer failed")
	tests := []struct {
		name    string
		old     string // content before; "" means no file
		write   func(w io.Writer) error
		want    string // content after
		wantErr error
	}{
		{"new file", "", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, "new", nil},
		{"replaces", "old", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, "new", nil},
		{"large", "old", func(w io.Writer) error { _, err := io.WriteString(w, strings.Repeat("x", 1<<20)); return err }, strings.Repeat("x", 1<<20), nil},
		{"failed write keeps the old content", "old", func(w io.Writer) error {
			io.WriteString(w, "half")
			return errWriter
		}, "old", errWriter},
		{"failed write leaves no file", "", func(w io.Writer) error { return errWriter }, "", errWriter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteFunc(path, tc.write)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got, rerr := os.ReadFile(path)
			if tc.want == "" {
				if !os.IsNotExist(rerr) {
					t.Errorf("a file is at %s after a failed first write", path)
				}
			} else if string(got) != tc.want {
				t.Errorf("content %.20q..., want %.20q...", got, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "f.json" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644", fi.Mode().Perm())
			}
		})
	}
}

func TestWriteMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "f")
	err := Write(path, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), filepath.Dir(path)) {
		t.Errorf("err = %v, want one naming %s", err, filepath.Dir(path))
	}
}
