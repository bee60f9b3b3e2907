package repairtool

import "testing"

func TestRenderState(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		feedback string
		want     string
	}{
		{
			"design example",
			[]string{"def similar_elements(a, b):", "    res = tuple(set(a) | set(b))", "    retrun (res)"},
			"  File \"<program>\", line 3\n    retrun (res)\nSyntaxError: invalid syntax",
			"L 1 def similar_elements(a, b):\nL 2     res = tuple(set(a) | set(b))\nL 3     retrun (res)\n***\n  File \"<program>\", line 3\n    retrun (res)\nSyntaxError: invalid syntax\n",
		},
		{"empty line keeps its space", []string{"a", "", "b"}, "All 3 tests passed.\n", "L 1 a\nL 2 \nL 3 b\n***\nAll 3 tests passed.\n"},
		{"no program", nil, "x", "***\nx\n"},
		{"no feedback", []string{"a"}, "", "L 1 a\n***\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderState(tt.lines, tt.feedback); got != tt.want {
				t.Fatalf("renderState =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
