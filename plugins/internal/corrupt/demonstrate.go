package corrupt

import (
	"context"
	"errors"

	"github.com/lathe-ml/lathe/sdk"
)

// Style selects how a demonstration's actions repair the corrupted program.
type Style int

const (
	// Coedit reverses each corruption into Chain-of-Edits DSL commands
	// (ADDL, REPL, REPW, DELL) and ends with EXIT.
	Coedit Style = iota
	// Rewrite answers in one action: the whole reference program.
	Rewrite
)

// FailingFunc reports whether program fails the task's tests. Demonstrations
// keeps only corrupted programs for which it returns true, so every
// demonstration starts from a genuinely broken program.
type FailingFunc func(ctx context.Context, program string) (bool, error)

// Demonstrations corrupts task.Reference (or task.Program when no reference
// is given) with 1-5 token-level corruptions per attempt and returns up to n
// demonstrations whose corrupted program fails the tests according to
// failing. The result depends only on (task, seed, n, style): the same inputs
// give the same demonstrations in the same order.
func Demonstrations(ctx context.Context, task sdk.Task, seed int64, n int, style Style, failing FailingFunc) ([]sdk.Demonstration, error) {
	return nil, errors.New("corrupt: not implemented yet")
}
