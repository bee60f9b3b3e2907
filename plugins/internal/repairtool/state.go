package repairtool

import (
	"strconv"
	"strings"
)

// renderState writes the state the model sees, exactly as
// docs/design.md §4: one line "L n <line>" per program line (so an empty
// line renders as "L n " with the separating space), then "***", then the
// feedback, every line ended by "\n".
func renderState(lines []string, feedback string) string {
	var b strings.Builder
	for i, l := range lines {
		b.WriteString("L ")
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteByte(' ')
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("***\n")
	if feedback != "" {
		b.WriteString(feedback)
		if !strings.HasSuffix(feedback, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
