package episode

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

func writeEpisodes(t *testing.T, path string, eps ...Episode) {
	t.Helper()
	var b strings.Builder
	for _, e := range eps {
		if err := Write(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := atomicfile.WriteCheckedBytes(path, FileFormat, []byte(b.String())); err != nil {
		t.Fatal(err)
	}
}

var sample = []Episode{
	{TaskID: "basic/001", Prompt: "p", States: []string{"s0", "s1"}, Actions: []string{"EXIT"}, Solved: true},
	{TaskID: "basic/002", Prompt: "p", States: []string{"s0", "s1", "s2"}, Actions: []string{"DELL 1", "EXIT"}, Corruptions: []string{"typo"}},
}

// TestReadFile: an episodes file reads back as written, and every kind of
// damage or bad content is an error naming the file (and the line where
// there is one); nothing of a damaged file is returned.
func TestReadFile(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		want    []Episode
		wantErr string // with the path before it
		corrupt bool   // a *atomicfile.CorruptError
	}{
		{"as written", func(t *testing.T, p string) { writeEpisodes(t, p, sample...) }, sample, "", false},
		{"empty", func(t *testing.T, p string) { writeEpisodes(t, p) }, nil, "", false},
		{"no checksum file", func(t *testing.T, p string) {
			writeEpisodes(t, p, sample...)
			os.Remove(p + atomicfile.SumSuffix)
		}, sample, "", false},
		{"truncated", func(t *testing.T, p string) {
			writeEpisodes(t, p, sample...)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-30], 0o644)
		}, nil, " is damaged: ", true},
		// Truncated at a line end, the lost episode would go unnoticed
		// without the checksum: every remaining line parses.
		{"last line lost", func(t *testing.T, p string) {
			writeEpisodes(t, p, sample...)
			b, _ := os.ReadFile(p)
			first, _, _ := strings.Cut(string(b), "\n")
			os.WriteFile(p, []byte(first+"\n"), 0o644)
		}, nil, " is damaged: ", true},
		{"a byte flipped", func(t *testing.T, p string) {
			writeEpisodes(t, p, sample...)
			b, _ := os.ReadFile(p)
			b[20] ^= 1
			os.WriteFile(p, b, 0o644)
		}, nil, " is damaged: its SHA-256", true},
		{"newer format", func(t *testing.T, p string) {
			atomicfile.WriteCheckedBytes(p, atomicfile.Format{Name: FileFormat.Name, Version: FileFormat.Version + 1}, nil)
		}, nil, " is lathe-episodes version 2", false},
		{"bad JSON on line 2", func(t *testing.T, p string) {
			os.WriteFile(p, []byte(`{"states":["s"]}`+"\n"+`{"states":`+"\n"), 0o644)
		}, nil, ":2: ", false},
		{"unfinished episode on line 1", func(t *testing.T, p string) {
			os.WriteFile(p, []byte(`{"states":["s"],"actions":["EXIT"]}`+"\n"), 0o644)
		}, nil, ":1: 1 states for 1 actions", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "episodes.jsonl")
			tc.setup(t, path)
			got, err := ReadFile(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got, tc.want, func(a, b Episode) bool {
					return a.TaskID == b.TaskID && slices.Equal(a.States, b.States) && slices.Equal(a.Actions, b.Actions) &&
						a.Solved == b.Solved && slices.Equal(a.Corruptions, b.Corruptions)
				}) {
					t.Errorf("read %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path+tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, path+tc.wantErr)
			}
			if got != nil {
				t.Errorf("%d episodes returned with the error", len(got))
			}
			var ce *atomicfile.CorruptError
			if errors.As(err, &ce) != tc.corrupt {
				t.Errorf("err = %v: CorruptError %v, want %v", err, !tc.corrupt, tc.corrupt)
			}
		})
	}
}
