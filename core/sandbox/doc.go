// Package sandbox runs untrusted Python programs against their tests and
// returns a verdict the program cannot forge.
//
// A Pool keeps warm python3 workers (the real interpreter, resolved once,
// never a pyenv shim). Each worker is started once inside fresh PID, mount
// and network namespaces where the kernel allows and forks one child per
// check ahead of time. Before a child sees its check it drops to an
// unprivileged uid reserved for its worker, sets RLIMIT_CPU, AS, NPROC,
// FSIZE, NOFILE and CORE, and moves into an empty private /tmp. The worker
// enforces the wall-clock limit, kills the child's process group, and as
// the namespace's init (or a child subreaper) kills and reaps everything a
// check leaves behind. The host kills and replaces a worker that stops
// answering, and every wait honours the caller's context.
//
// The tests run after the program in the same child, judged by a harness
// built before any untrusted code existed: every top-level assert is one
// test, compared values are copied to exact builtin types first (so an
// object whose __eq__ is always true cannot pass), and only a complete
// record of every test, ending with this run's nonce and free of duplicates,
// counts as a pass. The worker removes literal operands beside == and !=
// (`assert f(3) == [1, 2]`) from the tests before the child sees them; the
// child reports the values it computed and the host compares them with the
// literals, so a program that reads or rewrites the harness in memory still
// has to compute the expected values. A test of a truth value (`assert
// is_prime(7)`, `assert not is_prime(8)`) is checked the same way, as the
// value's truth compared with a literal the child never sees, so the child
// cannot tell which way it goes. When a Check has a Reference, the
// reference runs in a separate child, every literal operand is removed from
// the program's copy of the tests, and the host compares each checked value
// with the reference's.
//
// What is not covered: the harness shares its process with the program, so
// a program that walks up to the harness's frame can write a complete record
// of its own, nonce included (TestHostile does). That wins only the tests
// whose expected outcome the child can see: a test whose expected value is
// computed rather than written (`assert f(x) == g(x)`, `assert f(x) < 3`)
// or a statement with asserts inside (`for ...: assert ...`), unless the
// Check has a Reference.
//
// Feedback (Verdict.Feedback) is model input: it is deterministic, with no
// temporary paths, process ids or timings in it.
//
// This package does not decide what a task is or how a tool renders its
// state; it only runs checks.
package sandbox
