package mine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/core/tasks"
)

func needPython(t *testing.T) {
	t.Helper()
	if _, err := sandbox.Interpreter(context.Background(), ""); err != nil {
		t.Skipf("no Python interpreter: %v", err)
	}
}

// TestMineKeepsOnlySelfContainedFunctions writes a corpus with one
// function of each kind and checks which become tasks and what their tests
// say.
func TestMineKeepsOnlySelfContainedFunctions(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	src := `import os

LIMIT = 3


def clamp_words(text, n):
    """Keep the first n words."""
    words = text.split()
    kept = words[:n]
    return " ".join(kept)


def uses_global(x):
    y = x + LIMIT
    z = y * 2
    return z


def touches_files(path):
    data = open(path).read()
    out = data.strip()
    return out


def removes(path):
    import shutil
    shutil.rmtree(path)
    return path


def dunder(x):
    k = x.__class__
    m = k.__subclasses__()
    return m


def spins(n):
    i = 0
    while True:
        i += 1
    return i


def constant(x):
    a = 1
    b = 2
    return a + b


def _double(v):
    w = v * LIMIT
    return w - v


def with_helper(items):
    total = 0
    for v in items:
        total += _double(v)
    return total


def with_bad_helper(path):
    text = touches_files(path)
    words = text.split()
    return len(words)
`
	if err := os.MkdirAll(filepath.Join(dir, "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pkg", "words.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// A second file keeps the corpus root above pkg/.
	if err := os.WriteFile(filepath.Join(dir, "other.py"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, st, err := Tasks(context.Background(), "files:"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	byName := map[string]string{}
	for _, tk := range ts {
		ids = append(ids, tk.ID)
		byName[tk.ID] = tk.Program
	}
	want := []string{"mined/pkg/words.py:_double", "mined/pkg/words.py:clamp_words",
		"mined/pkg/words.py:uses_global", "mined/pkg/words.py:with_helper"}
	if st.Files != 2 || strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("mined %v from %d files, want %v from 2", ids, st.Files, want)
	}
	// A function brings the constants and helpers it uses.
	if p := byName["mined/pkg/words.py:uses_global"]; !strings.HasPrefix(p, "LIMIT = 3\n\ndef uses_global(x):") {
		t.Errorf("uses_global's program lacks its constant:\n%s", p)
	}
	if p := byName["mined/pkg/words.py:with_helper"]; !strings.Contains(p, "LIMIT = 3") || !strings.Contains(p, "def _double(v):") {
		t.Errorf("with_helper's program lacks its helper:\n%s", p)
	}
	tk := ts[1] // clamp_words
	if tk.ID != "mined/pkg/words.py:clamp_words" {
		t.Errorf("id = %q", tk.ID)
	}
	if strings.Contains(tk.Program, "Keep the first") || !strings.HasPrefix(tk.Program, "def clamp_words(text, n):\n") {
		t.Errorf("program keeps its docstring or lost its header:\n%s", tk.Program)
	}
	n := strings.Count(tk.Tests, "assert clamp_words(")
	if n < 3 || n > 5 {
		t.Errorf("%d recorded calls, want 3-5:\n%s", n, tk.Tests)
	}
	// The recorded tests pass on the function and fail on a changed one.
	pool, err := sandbox.NewPool(context.Background(), sandbox.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, c := range []struct {
		program string
		pass    bool
	}{
		{tk.Program, true},
		{strings.Replace(tk.Program, "words[:n]", "words[:n + 1]", 1), false},
	} {
		v, err := pool.Run(context.Background(), sandbox.Check{Program: c.program, Tests: tk.Tests})
		if err != nil {
			t.Fatal(err)
		}
		if (v.Status == sandbox.StatusPass) != c.pass {
			t.Errorf("program\n%s\ngot %s (%s), want pass=%v", c.program, v.Status, v.Feedback, c.pass)
		}
	}
}

// TestMinedSource: "mined:" is a task source like any other, split by hash.
func TestMinedSource(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	var src strings.Builder
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		src.WriteString("def add_" + name + "(x, y):\n    s = x + y\n    t = s * 2\n    return t - x\n\n\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "m.py"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	all, err := tasks.Load(context.Background(), "mined:files:"+dir, tasks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d tasks from six copies of one function, want 1 (duplicates once)", len(all))
	}
	if all[0].Split == "" {
		t.Error("mined task has no split")
	}
	if _, err := tasks.Load(context.Background(), "mined:files:"+filepath.Join(dir, "missing"), tasks.Options{}); err == nil {
		t.Error("a missing corpus directory loaded")
	}
}
