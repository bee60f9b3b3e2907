package sandbox

import (
	"context"
	"time"
)

// Check is one program and its tests to run in the sandbox.
type Check struct {
	// Setup runs first (imports, helpers), then Program, then Tests.
	Setup   string
	Program string
	// Tests is Python source, typically assert lines; each top-level
	// assert statement counts as one test.
	Tests string
	// Reference, when set, is a known-correct program: the values of the
	// test expressions under Program are compared on the host with their
	// values under Reference, so a program cannot forge a pass.
	Reference string
	// Timeout overrides the pool's wall-clock limit when positive.
	Timeout time.Duration
}

// Status is the outcome class of a check.
type Status string

// The statuses, as printed by `lathe exec`.
const (
	StatusPass    Status = "pass"    // every test passed
	StatusFail    Status = "fail"    // a test failed (assertion or wrong value)
	StatusError   Status = "error"   // the program or a test raised, or did not compile
	StatusTimeout Status = "timeout" // the wall-clock or CPU limit was hit
	StatusKilled  Status = "killed"  // killed by a limit (memory, output, signal)
)

// Verdict is the result of a check.
type Verdict struct {
	Status Status `json:"status"`
	Passed int    `json:"passed"`
	Total  int    `json:"total"`
	// Feedback is what the tool shows after "***": "All N tests passed." or
	// the first failing test with its error, output truncated.
	Feedback string `json:"feedback"`
	// ErrorClass is "", "syntax", "assertion", "exception", "timeout",
	// "memory", "output" or "killed".
	ErrorClass string `json:"error_class,omitempty"`
	// ErrorType names what the program raised, as Python does
	// ("NameError", "IndentationError", "AssertionError"), or "Timeout";
	// empty when the tests passed or the check was killed.
	ErrorType  string        `json:"error_type,omitempty"`
	Duration   time.Duration `json:"-"`
	DurationMS float64       `json:"duration_ms"`
	// Cached is true when the verdict came from the (program, tests) cache.
	Cached bool `json:"cached,omitempty"`
}

// Runner runs checks. *Pool implements it; tests of tools may fake it.
type Runner interface {
	Run(ctx context.Context, c Check) (Verdict, error)
}
