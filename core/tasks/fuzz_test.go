package tasks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoaders feeds arbitrary bytes to every file-based task loader: none
// may panic, and in strict mode every malformed record is an error that
// names the file (and, for a bad line, the line).
func FuzzLoaders(f *testing.F) {
	f.Add([]byte(`{"task_id": 11, "text": "Add two numbers.", "code": "def add(a, b):\r\n    return a + b", "test_list": ["assert add(1, 2) == 3"]}` + "\n"))
	f.Add([]byte(`{"task_id": "HumanEval/0", "prompt": "def f(x):\n", "canonical_solution": "    return x\n", "test": "def check(candidate):\n    assert candidate(1) == 1\n", "entry_point": "f"}` + "\n"))
	f.Add([]byte(`{"task_id": "t1", "program": "x = 1\n", "tests": "assert x == 1\n", "split": "train"}` + "\n" + `{"task_id": "t2"` + "\n"))
	f.Add([]byte("\xff\xfe not json\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "tasks.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"mbpp", "humaneval", "jsonl"} {
			_, err := Load(context.Background(), kind+":"+path, Options{Strict: true})
			if err == nil {
				continue
			}
			var re *RecordError
			if errors.As(err, &re) {
				if re.File != path {
					t.Fatalf("%s: record error names %q, not the file %q: %v", kind, re.File, path, err)
				}
			} else if !strings.Contains(err.Error(), path) {
				t.Fatalf("%s: error does not name the file: %v", kind, err)
			}
			// Lenient mode skips what strict mode refuses, without panicking.
			if _, err := Load(context.Background(), kind+":"+path, Options{Warn: func(error) {}}); err != nil && !strings.Contains(err.Error(), path) {
				t.Fatalf("%s (lenient): error does not name the file: %v", kind, err)
			}
		}
	})
}
