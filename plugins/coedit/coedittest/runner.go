// Package coedittest provides a deterministic stand-in for the Python
// sandbox, so code that drives the repair tools (the tools' own tests,
// `lathe play`, rollouts) can be tested without starting Python, the way
// net/http/httptest stands in for a network.
//
// The Runner does not run code. It judges a program by text:
//   - with a Reference, the program passes when it equals the reference
//     (line endings and trailing newlines aside), one test per non-blank
//     test line, all or nothing;
//   - without one, every non-blank line of Tests is a test that passes when
//     the program contains that line's text (surrounding blanks trimmed).
//
// Feedback mimics the sandbox's: "All N tests passed." or the first failing
// test.
package coedittest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lathe-ml/lathe/core/sandbox"
)

// Runner is a fake sandbox.Runner. Its zero value is ready to use; it is
// safe for concurrent use.
type Runner struct {
	// Delay is slept in every Run, to observe concurrency.
	Delay time.Duration

	mu       sync.Mutex
	checks   []sandbox.Check
	running  int
	peak     int
	verdicts map[string]sandbox.Verdict
}

// Run judges c as the package doc says. Verdicts are cached by (program,
// tests, reference), like the real pool, and marked Cached.
func (r *Runner) Run(ctx context.Context, c sandbox.Check) (sandbox.Verdict, error) {
	r.mu.Lock()
	r.checks = append(r.checks, c)
	r.running++
	r.peak = max(r.peak, r.running)
	key := c.Program + "\x00" + c.Tests + "\x00" + c.Reference
	v, hit := r.verdicts[key]
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	if r.Delay > 0 {
		select {
		case <-time.After(r.Delay):
		case <-ctx.Done():
			return sandbox.Verdict{}, fmt.Errorf("coedittest: %w", ctx.Err())
		}
	}
	if hit {
		v.Cached = true
		return v, nil
	}
	v = judge(c)
	r.mu.Lock()
	if r.verdicts == nil {
		r.verdicts = map[string]sandbox.Verdict{}
	}
	r.verdicts[key] = v
	r.mu.Unlock()
	return v, nil
}

func judge(c sandbox.Check) sandbox.Verdict {
	var tests []string
	for _, l := range strings.Split(c.Tests, "\n") {
		if s := strings.TrimSpace(l); s != "" {
			tests = append(tests, s)
		}
	}
	v := sandbox.Verdict{Total: len(tests)}
	if c.Reference != "" {
		if norm(c.Program) == norm(c.Reference) {
			v.Passed = v.Total
		} else if len(tests) > 0 {
			v.Feedback = fmt.Sprintf("Test 1 failed: %s\nAssertionError", tests[0])
		}
	} else {
		for i, t := range tests {
			if strings.Contains(c.Program, t) {
				v.Passed++
			} else if v.Feedback == "" {
				v.Feedback = fmt.Sprintf("Test %d failed: %q not found\nAssertionError", i+1, t)
			}
		}
	}
	if v.Passed == v.Total {
		v.Status, v.Feedback = sandbox.StatusPass, fmt.Sprintf("All %d tests passed.", v.Total)
	} else {
		v.Status, v.ErrorClass = sandbox.StatusFail, "assertion"
	}
	return v
}

func norm(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

// Checks returns every check run so far, in call order.
func (r *Runner) Checks() []sandbox.Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sandbox.Check(nil), r.checks...)
}

// Peak is the largest number of checks that were running at once.
func (r *Runner) Peak() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak
}
