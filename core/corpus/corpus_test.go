package corpus

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, a, "z.py", "z = 1\n")
	write(t, a, "pkg/m.py", "def m():\n    return 2\n")
	write(t, a, "pkg/copy.py", "z = 1\n")               // an exact duplicate of z.py
	write(t, a, "tests/test_m.py", "assert m() == 2\n") // a test suite: skipped
	write(t, a, "notes.txt", "not python\n")
	write(t, a, "empty.py", "\n\n")
	write(t, a, "bin.py", "x = '\xff'\n")
	write(t, b, "b.py", "b = 3\r\n")
	docs, st, err := Load(context.Background(), "files:"+a+string(os.PathListSeparator)+b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, strings.TrimPrefix(strings.TrimPrefix(d.Path, a), b)+"="+d.Text)
	}
	want := []string{"/pkg/copy.py=z = 1\n", "/pkg/m.py=def m():\n    return 2\n", "/b.py=b = 3\n"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("documents %q, want %q", got, want)
	}
	if st.Files != 3 || st.Duplicates != 1 || st.Empty != 1 || st.NotUTF8 != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestLoadErrors(t *testing.T) {
	empty := t.TempDir()
	tests := []struct{ source, err string }{
		{"files:", "names no directory"},
		{"files:" + filepath.Join(empty, "missing"), "no such file"},
		{"files:" + empty, "no Python files"},
		{"builtin:perl", "unknown built-in corpus"},
		{"github:x/y", "unknown source"},
	}
	for _, tt := range tests {
		if _, _, err := Load(context.Background(), tt.source); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Load(%q) error %v, want %q", tt.source, err, tt.err)
		}
	}
}

func TestStdlib(t *testing.T) {
	docs, st, err := Load(context.Background(), "builtin:python-stdlib")
	if err != nil {
		t.Skipf("no Python standard library here: %v", err)
	}
	if st.Files < 100 || st.Bytes < 1<<20 {
		t.Errorf("standard library of %d files, %d bytes; want hundreds of files", st.Files, st.Bytes)
	}
	for _, d := range docs {
		if strings.Contains(d.Path, "site-packages") || strings.Contains(d.Path, "/test/") {
			t.Fatalf("%s read: installed packages and test suites are left out", d.Path)
		}
	}
}

func TestChunks(t *testing.T) {
	docs := []Document{{Text: "a = 1\nb = 2\nc = 3\n"}, {Text: "x" + strings.Repeat("y", 9) + "\n"}}
	got := Chunks(docs, 8)
	want := []string{"a = 1\n", "b = 2\n", "c = 3\n", "xyyyyyyy", "yy\n"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Chunks = %q, want %q", got, want)
	}
}

// TestLeaks: an evaluated program copied into a corpus file, re-indented
// and with a comment added, is found; a short or merely similar program
// is not.
func TestLeaks(t *testing.T) {
	eval := "def count_vowels(text):\n    total = 0\n    for ch in text:\n        if ch in 'aeiou':\n            total += 1\n    return total\n"
	docs := []Document{
		{Path: "clean.py", Text: "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s)\n"},
		{Path: "copied.py", Text: "import os\n\nclass X:\n  def count_vowels(text):\n    # counts\n    total = 0\n    for ch in text:\n      if ch in 'aeiou':\n        total += 1\n    return total\n"},
	}
	programs := []Program{
		{Name: "basic/7 (eval.test)", Text: eval},
		{Name: "basic/8 (eval.test)", Text: "def f(x):\n    return x\n"}, // too short to tell
	}
	got := Leaks(docs, programs)
	want := []Leak{{Program: "basic/7 (eval.test)", Path: "copied.py", Line: 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Leaks = %v, want %v", got, want)
	}
	if got[0].String() != "copied.py:4 holds basic/7 (eval.test)" {
		t.Errorf("leak reads %q", got[0])
	}
}
