package episode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

// FuzzReadFile: an episodes file of any content (with no checksum file, as
// one from elsewhere) reads as episodes that are all finished, or fails
// with an error naming the file, never a panic; what reads back is what
// Write writes again.
func FuzzReadFile(f *testing.F) {
	var b strings.Builder
	for _, e := range sample {
		Write(&b, e)
	}
	f.Add([]byte(b.String()))
	f.Add([]byte(`{"task_id":"t","states":["a","b"],"actions":["EXIT"]}` + "\n"))
	f.Add([]byte(`{"task_id":"t","states":["a"],"actions":["EXIT"]}`))
	f.Add([]byte(`{"states":null,"actions":null}` + "\n\n"))
	f.Add([]byte("{\"states\":[\"\\ud800\"],\"actions\":[]}\r\n"))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "episodes.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		eps, err := ReadFile(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for i, e := range eps {
			if len(e.States) != len(e.Actions)+1 {
				t.Fatalf("episode %d: %d states for %d actions", i, len(e.States), len(e.Actions))
			}
		}
		// Written again through the checked writer, the episodes read back
		// the same.
		var again strings.Builder
		for _, e := range eps {
			if err := Write(&again, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := atomicfile.WriteCheckedBytes(path, FileFormat, []byte(again.String())); err != nil {
			t.Fatal(err)
		}
		back, err := ReadFile(path)
		if err != nil || len(back) != len(eps) {
			t.Fatalf("rewritten file: %d episodes, %v; want %d", len(back), err, len(eps))
		}
	})
}
