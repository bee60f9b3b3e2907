package experiment

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// sortStages orders r.exp.Stages so that every stage comes after the stages
// it references (Kahn's algorithm, always taking the ready stage that comes
// first in the file), or reports a cycle.
func (r *resolver) sortStages() {
	stages := r.exp.Stages
	byLabel := map[string]*Stage{}
	for _, s := range stages {
		byLabel[s.Label] = s
	}
	indeg := map[string]int{}
	users := map[string][]*Stage{}
	for _, s := range stages {
		for _, dep := range s.DependsOn {
			if byLabel[dep] == nil {
				continue // its own block failed to decode and was reported
			}
			indeg[s.Label]++
			users[dep] = append(users[dep], s)
		}
	}
	var order []*Stage
	done := map[string]bool{}
	for len(order) < len(stages) {
		var next *Stage
		for _, s := range stages { // file order breaks ties
			if !done[s.Label] && indeg[s.Label] == 0 {
				next = s
				break
			}
		}
		if next == nil {
			r.reportCycle(stages, done, byLabel)
			return
		}
		done[next.Label] = true
		order = append(order, next)
		for _, u := range users[next.Label] {
			indeg[u.Label]--
		}
	}
	r.exp.Stages = order
}

// reportCycle finds one cycle among the stages not yet ordered and reports
// it at the reference that closes it.
func (r *resolver) reportCycle(stages []*Stage, done map[string]bool, byLabel map[string]*Stage) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var cycle []string
	var visit func(l string) bool
	visit = func(l string) bool {
		color[l] = grey
		path = append(path, l)
		for _, dep := range byLabel[l].DependsOn {
			if byLabel[dep] == nil || done[dep] {
				continue
			}
			switch color[dep] {
			case grey:
				i := len(path) - 1
				for path[i] != dep {
					i--
				}
				cycle = append(append([]string{}, path[i:]...), dep)
				return true
			case white:
				if visit(dep) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		color[l] = black
		return false
	}
	for _, s := range stages {
		if !done[s.Label] && color[s.Label] == white && visit(s.Label) {
			break
		}
	}
	if cycle == nil {
		return
	}
	// Name the cycle in dependency direction: each stage needs the next.
	names := make([]string, len(cycle))
	for i, l := range cycle {
		names[i] = byLabel[l].ID()
	}
	rng := r.edgeRange[[2]string{cycle[len(cycle)-2], cycle[len(cycle)-1]}]
	r.diags = append(r.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Reference cycle",
		Detail: fmt.Sprintf("These stages depend on each other, so none can run first: %s (each needs the next).",
			strings.Join(names, " -> ")),
		Subject: rng.Ptr(),
	})
}
