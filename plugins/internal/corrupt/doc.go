// Package corrupt breaks correct Python programs on purpose and writes the
// repair back as a tool trace, to make synthetic demonstrations for
// supervised training (DESIGN.md §5).
//
// It tokenizes Python with a small tokenizer of its own that keeps every
// byte of the source, so a corruption changes one token or one line and the
// rest of the program keeps its exact formatting. Each corruption records
// the line edit that undoes it; those edits, replayed in reverse order,
// become Chain-of-Edits commands (ADDL, REPL, REPW, DELL, then EXIT).
//
// It does not run Python: callers pass a FailingFunc that checks a program
// against the task's tests (usually through the sandbox).
package corrupt
