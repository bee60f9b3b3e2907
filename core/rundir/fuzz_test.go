package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadMetrics: any metrics.jsonl reads or fails with an error naming
// the file and line, never a panic.
func FuzzReadMetrics(f *testing.F) {
	f.Add([]byte(`{"stage":"sft","step":50,"loss":1.5}` + "\n" + `{"stage":"sft","step":100,"loss":1.2}` + "\n"))
	f.Add([]byte(`{"stage":"sft","step":50}` + "\n" + `{"stage":"sf`))
	f.Add([]byte("[1,2]\nnull\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "metrics.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadMetrics(path); err != nil && !strings.Contains(err.Error(), path+":") {
			t.Fatalf("error does not name the file and line: %v", err)
		}
	})
}
