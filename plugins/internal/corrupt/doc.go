// Package corrupt breaks correct Python programs on purpose and writes the
// repair back as a tool trace, to make synthetic demonstrations for
// supervised training (docs/design.md §5).
//
// It tokenizes Python with a small tokenizer of its own that keeps every
// byte of the source, so a corruption changes one token or one line and the
// rest of the program keeps its exact formatting. Each corruption records
// the line edit that undoes it; those edits, replayed in reverse order,
// become Chain-of-Edits commands (ADDL, REPL, REPW, DELL, then EXIT).
//
// The operators (their names appear in sdk.Demonstration.Corruptions):
// delete_line, insert_line (a donor line from a generic pool or from the
// program itself), replace_line, typo (in an identifier), swap_operator
// (+/-, *,/,//, %, comparisons, ==/!=, and/or), off_by_one (an integer
// literal), wrong_variable (another variable of the program),
// swap_arguments (two neighbouring arguments of a call or def) and
// drop_return. A token change is undone with REPW when the changed span
// (widened until its first occurrence is the right one) allows it, else
// with REPL; consecutive edits of one line are merged (Simplify).
//
// Programs are handled in the coedit tool's line form (Canonical), so the
// line numbers in a trace are those the tool shows.
//
// It does not run Python: callers pass a FailingFunc that checks a program
// against the task's tests (usually through the sandbox).
package corrupt
