package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSuggestionsMatchInterpreter holds the harness's "Did you mean" to
// the interpreter's own: every one-letter typo (swap, drop, double,
// replace) of each name of a program is raised once inside the sandbox and
// once uncaught by the real python3, whose last traceback line must be the
// sandbox's last feedback line. CPython 3.10 and 3.11 compute exactly this
// suggestion; 3.12 adds hints of its own (forgotten imports, self.name), so
// the comparison runs only there.
func TestSuggestionsMatchInterpreter(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	ver, err := exec.Command(py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(string(ver)); v != "3.10" && v != "3.11" {
		t.Skipf("python3 is %s; the suggestions compared here are those of 3.10 and 3.11", v)
	}
	p := testPool(t)
	const program = "import math\n" +
		"def word_counts(sentence, Limit=3):\n" +
		"    counts = {}\n" +
		"    for word in sentence.split():\n" +
		"        counts[word] = counts.get(word, 0) + 1\n" +
		"    total = len(counts)\n" +
		"    return %s\n"
	// A name of each scope: a local, a parameter, a loop variable, a
	// global function, a module, a builtin, and a method of a dict.
	names := []string{"counts", "sentence", "Limit", "word", "total", "word_counts", "math", "len", "sorted", "counts.items"}
	type typo struct{ name, src string }
	var typos []typo
	for _, name := range names {
		for _, bad := range oneLetterTypos(name) {
			expr := bad
			if strings.HasPrefix(name, "counts.") {
				expr = bad + "()"
			}
			typos = append(typos, typo{bad, fmt.Sprintf(program, expr)})
		}
	}
	// The interpreter runs every program in one process and prints each
	// error as it prints an uncaught one (sys.__excepthook__).
	var script strings.Builder
	script.WriteString("import sys\nfor src in [\n")
	for _, ty := range typos {
		fmt.Fprintf(&script, "    %q,\n", ty.src+"word_counts('a b a')\n")
	}
	script.WriteString("]:\n    try:\n        exec(compile(src, '<program>', 'exec'), {'__name__': '__main__'})\n" +
		"        print('no error', file=sys.stderr)\n    except Exception as e:\n        sys.__excepthook__(type(e), e, e.__traceback__)\n" +
		"    print('@@', file=sys.stderr)\n")
	file := filepath.Join(t.TempDir(), "typos.py")
	if err := os.WriteFile(file, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, file).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	reports := strings.Split(strings.TrimSuffix(string(out), "@@\n"), "@@\n")
	if len(reports) != len(typos) {
		t.Fatalf("python3 printed %d reports for %d programs:\n%s", len(reports), len(typos), out)
	}
	checked, suggested := 0, 0
	for i, ty := range typos {
		want := lastLine(reports[i])
		if want == "no error" {
			continue // the typo is a name that exists (ord for word)
		}
		v, err := p.Run(context.Background(), Check{Program: ty.src, Tests: "assert word_counts('a b a') == 2\n"})
		if err != nil {
			t.Fatal(err)
		}
		if got := lastLine(v.Feedback); got != want {
			t.Errorf("typo %q:\nsandbox:     %s\ninterpreter: %s", ty.name, got, want)
		}
		checked++
		if strings.Contains(want, "Did you mean") {
			suggested++
		}
	}
	t.Logf("%d typos compared, %d with a suggestion", checked, suggested)
	if suggested == 0 || suggested == checked {
		t.Errorf("%d of %d typos have a suggestion: the comparison tests nothing", suggested, checked)
	}
}

// oneLetterTypos are the typos of the last dotted part of name that leave
// a valid, different identifier which the program does not define.
func oneLetterTypos(name string) []string {
	head, last := "", name
	if i := strings.LastIndex(name, "."); i >= 0 {
		head, last = name[:i+1], name[i+1:]
	}
	seen := map[string]bool{last: true}
	var out []string
	add := func(s string) {
		if s == "" || seen[s] || s[0] >= '0' && s[0] <= '9' || pythonKeywords[s] {
			return
		}
		seen[s] = true
		out = append(out, head+s)
	}
	for i := range len(last) {
		if i+1 < len(last) {
			b := []byte(last)
			b[i], b[i+1] = b[i+1], b[i]
			add(string(b))
		}
		add(last[:i] + last[i+1:])
		add(last[:i+1] + last[i:])
		add(last[:i] + "x" + last[i+1:])
	}
	return out
}

var pythonKeywords = map[string]bool{"in": true, "is": true, "or": true, "and": true, "not": true, "for": true, "def": true}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}
