package results

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: any results.json loads or fails with an error naming it, and
// whatever loads prints in every format without a panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"experiment":"quickstart","rows":[{"eval":"coe","stage":"sft","tool":"coedit","tasks":30,"samples":4,"pass_at":{"1":0.03}}]}`))
	f.Add([]byte(`{"rows":[{"pass_at":{"x":1}}],"budgets":[{"max_turns":-1}]}`))
	f.Add([]byte(`nul`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Load(dir)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, format := range []string{"table", "markdown", "csv", "json"} {
			var buf bytes.Buffer
			_ = Write(&buf, format, []*Results{r})
		}
	})
}
