package corrupt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// alphaKey is src with every identifier replaced by the order of its first
// appearance: two programs have the same key exactly when one is the other
// with names renamed consistently (and injectively).
func alphaKey(src string) string {
	ids := map[string]int{}
	var b strings.Builder
	for _, t := range Tokenize(src) {
		if t.Kind == Name && !keywords[t.Text] {
			if _, ok := ids[t.Text]; !ok {
				ids[t.Text] = len(ids)
			}
			fmt.Fprintf(&b, "#%d", ids[t.Text])
			continue
		}
		b.WriteString(t.Text)
	}
	return b.String()
}

func identifiers(src string) []string {
	var out []string
	for _, t := range Tokenize(src) {
		if t.Kind == Name && !keywords[t.Text] && !slices.Contains(out, t.Text) {
			out = append(out, t.Text)
		}
	}
	return out
}

func TestRename(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    string
		keep   []string // never renamed
		change []string // renamed under some seed
	}{
		{"locals, params, loop variables", "def count_vowels(text):\n    vowels = \"aeiou\"\n    total = 0\n    for ch in text:\n        if ch in vowels:\n            total += 1\n    return total\n",
			[]string{"count_vowels"}, []string{"text", "vowels", "total", "ch"}},
		{"attributes and called names", "def f(xs):\n    out = []\n    out.append(xs.count(1))\n    return len(out)\n",
			[]string{"f", "append", "count", "len"}, []string{"xs", "out"}},
		{"keyword argument names", "def f(key, xs):\n    return sorted(xs, key=key)\n",
			[]string{"f", "key", "sorted"}, []string{"xs"}},
		{"f-strings", "def f(n, m):\n    return f\"{n}!\" + str(m)\n",
			[]string{"n", "str"}, []string{"m"}},
		{"global declarations", "total = 0\ndef f(x):\n    global total\n    total += x\n    return total\n",
			[]string{"total", "f"}, []string{"x"}},
		{"lambdas", "def f(xs):\n    return sorted(xs, key=lambda v: -v)\n",
			[]string{"f", "key"}, []string{"xs", "v"}},
		{"tuple targets", "def f(d):\n    for k, v in d.items():\n        a, b = k, v\n    return a + b\n",
			[]string{"items"}, []string{"d", "k", "v", "a", "b"}},
		{"comprehensions", "def f(s):\n    chars = [c.lower() for c in s if c.isalnum()]\n    return chars\n",
			[]string{"lower", "isalnum"}, []string{"s", "chars", "c"}},
		{"nested functions keep their names", "def outer(xs):\n    def inner(y):\n        return y * 2\n    return [inner(x) for x in xs]\n",
			[]string{"outer", "inner"}, []string{"xs", "y", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := map[string]bool{}
			for seed := range uint64(40) {
				got, ok := Rename(rand.New(rand.NewPCG(seed, 9)), tc.src)
				if alphaKey(got) != alphaKey(tc.src) {
					t.Fatalf("seed %d: not a consistent renaming:\n%s\nof\n%s", seed, got, tc.src)
				}
				ids := identifiers(got)
				if ok == (got == tc.src) {
					t.Fatalf("seed %d: ok=%v but changed=%v", seed, ok, got != tc.src)
				}
				for _, k := range tc.keep {
					if !slices.Contains(ids, k) {
						t.Fatalf("seed %d: %q was renamed:\n%s", seed, k, got)
					}
				}
				for _, c := range tc.change {
					if !slices.Contains(ids, c) {
						changed[c] = true
					}
				}
			}
			for _, c := range tc.change {
				if !changed[c] {
					t.Errorf("%q never renamed in 40 seeds", c)
				}
			}
		})
	}
}

func TestRenameLeavesUnboundNamesAlone(t *testing.T) {
	// Nothing is bound here but the parameter list is empty: no renaming.
	src := "def f():\n    return VALUE + len(ITEMS)\n"
	if got, ok := Rename(rand.New(rand.NewPCG(1, 1)), src); ok || got != src {
		t.Fatalf("renamed %q to %q", src, got)
	}
}

func TestDemonstrationsRename(t *testing.T) {
	// The oracle: a program passes exactly when it is the sample up to a
	// consistent renaming.
	check := func(_ context.Context, p string) (Outcome, error) {
		return Outcome{Failing: alphaKey(p) != alphaKey(sample)}, nil
	}
	task := sdk.Task{ID: "t1", Reference: sample}
	for _, tc := range []struct {
		fraction    float64
		wantRenamed func(renamed, total int) bool
	}{
		{0, func(r, _ int) bool { return r == 0 }},
		{0.5, func(r, n int) bool { return r > n/5 && r < n*4/5 }},
		{1, func(r, n int) bool { return r == n }},
	} {
		t.Run(fmt.Sprint(tc.fraction), func(t *testing.T) {
			demos, err := Demonstrations(context.Background(), task, 3, 40, Recipe{Style: Coedit, Order: FollowFeedback, Rename: tc.fraction}, check)
			if err != nil {
				t.Fatal(err)
			}
			if len(demos) != 40 {
				t.Fatalf("got %d demos, want 40", len(demos))
			}
			renamed := 0
			for i, d := range demos {
				got, err := applyDSL(d.Program, d.Actions)
				if err != nil || alphaKey(got) != alphaKey(sample) {
					t.Fatalf("demo %d: %v\nactions %q\ngot\n%s", i, err, d.Actions, got)
				}
				if got != Canonical(sample) {
					renamed++
				}
			}
			if !tc.wantRenamed(renamed, len(demos)) {
				t.Fatalf("%d of %d demonstrations renamed at fraction %g", renamed, len(demos), tc.fraction)
			}
		})
	}
}
