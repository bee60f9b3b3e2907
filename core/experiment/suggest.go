package experiment

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"sort"
	"strings"
)

// suggest returns the candidate closest to name by edit distance, or ""
// when none is close enough to be a plausible typo.
func suggest(name string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean returns ` Did you mean "x"?` or "".
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func sortStrings(s []string) { sort.Strings(s) }

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i := range s {
		q[i] = fmt.Sprintf("%q", s[i])
	}
	return strings.Join(q, ", ")
}

// improveVarDiags adds "Did you mean" to hcl's diagnostics for an unknown
// var.NAME, which name the missing attribute but suggest nothing.
func improveVarDiags(diags hcl.Diagnostics, vars map[string]cty.Value) hcl.Diagnostics {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, d := range diags {
		if d.Summary != "Unsupported attribute" || d.Expression == nil {
			continue
		}
		trav, td := hcl.AbsTraversalForExpr(d.Expression)
		if td.HasErrors() || trav.RootName() != "var" || len(trav) < 2 {
			continue
		}
		step, ok := trav[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		d.Summary = "Undeclared variable"
		d.Detail = fmt.Sprintf("No variable %q is declared; declare it with a variable %q block.%s",
			step.Name, step.Name, didYouMean(step.Name, names))
	}
	return diags
}
