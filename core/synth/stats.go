package synth

import (
	"regexp"
	"sort"
)

// Summary describes a set of demonstrations.
type Summary struct {
	Tasks int
	Demos int
	// MeanCommands is the mean number of actions per trace, EXIT included.
	MeanCommands float64
	// MeanEditDistance is the mean Levenshtein distance, in bytes, between
	// the broken program and the reference (records without a reference
	// are left out of this mean; EditDistanceN counts those included).
	MeanEditDistance float64
	EditDistanceN    int
	// MeanCorruptions is the mean number of corruptions per program.
	MeanCorruptions float64
	// MeanTokens is the mean number of tokens of program plus actions,
	// counting words (\w+) and single punctuation characters: a
	// tokenizer-independent size, not any model's token count.
	MeanTokens float64
	// Operators counts each corruption operator over all demonstrations.
	Operators map[string]int
	// Splits counts demonstrations per split.
	Splits map[string]int
}

// OperatorNames returns the operators of s.Operators, most used first.
func (s Summary) OperatorNames() []string {
	names := make([]string, 0, len(s.Operators))
	for n := range s.Operators {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if s.Operators[names[i]] != s.Operators[names[j]] {
			return s.Operators[names[i]] > s.Operators[names[j]]
		}
		return names[i] < names[j]
	})
	return names
}

var wordRE = regexp.MustCompile(`\w+|[^\w\s]`)

// CountTokens counts words and punctuation characters in s.
func CountTokens(s string) int { return len(wordRE.FindAllStringIndex(s, -1)) }

// Stats summarises records.
func Stats(recs []Record) Summary {
	s := Summary{Operators: map[string]int{}, Splits: map[string]int{}}
	tasks := map[string]bool{}
	var cmds, dist, corr, toks int
	for _, r := range recs {
		tasks[r.TaskID] = true
		cmds += len(r.Actions)
		corr += len(r.Corruptions)
		n := CountTokens(r.Program)
		for _, a := range r.Actions {
			n += CountTokens(a)
		}
		toks += n
		for _, o := range r.Corruptions {
			s.Operators[o]++
		}
		s.Splits[r.Split]++
		if r.Reference != "" {
			dist += EditDistance(r.Program, r.Reference)
			s.EditDistanceN++
		}
	}
	s.Tasks, s.Demos = len(tasks), len(recs)
	if s.Demos > 0 {
		d := float64(s.Demos)
		s.MeanCommands, s.MeanCorruptions, s.MeanTokens = float64(cmds)/d, float64(corr)/d, float64(toks)/d
	}
	if s.EditDistanceN > 0 {
		s.MeanEditDistance = float64(dist) / float64(s.EditDistanceN)
	}
	return s
}

// EditDistance is the Levenshtein distance between a and b in bytes
// (insertions, deletions and substitutions cost 1). The common prefix and
// suffix are stripped first: corruptions are local, so the quadratic part
// runs on a small middle.
func EditDistance(a, b string) int {
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(b) == 0 {
		return len(a)
	}
	// row[j] is the distance between the current prefix of a and b[:j].
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			next := min(row[j]+1, row[j-1]+1, diag+cost)
			diag, row[j] = row[j], next
		}
	}
	return row[len(b)]
}
