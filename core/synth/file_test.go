package synth

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestWriteReadFile: demonstrations written with WriteFile read back equal;
// a file that lost its last line still parses line by line, so only the
// checksum tells, and ReadFile names it.
func TestWriteReadFile(t *testing.T) {
	recs := []Record{
		{TaskID: "a", Program: "x = 1\n", Tests: "assert x == 1\n", Actions: []string{"EXIT"}, Corruptions: []string{}},
		{TaskID: "b", Program: "y = 2\n", Tests: "assert y == 2\n", Actions: []string{"DELL 1", "EXIT"}, Corruptions: []string{"typo"}},
	}
	path := filepath.Join(t.TempDir(), "demos.jsonl")
	if err := WriteFile(path, recs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Errorf("read %+v\nwant %+v", got, recs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if err := os.WriteFile(path, []byte(first+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path+" is damaged") {
		t.Errorf("ReadFile of a file missing its last line = %d records, %v", len(got), err)
	}
}
